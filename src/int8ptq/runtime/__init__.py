"""Runners: run a model on a backend. The only place that knows about backends."""

from int8ptq.runtime.base import Backend, Runner, make_runner

__all__ = ["Backend", "Runner", "make_runner"]

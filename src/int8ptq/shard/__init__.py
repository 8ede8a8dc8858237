"""Sharded evaluation: the same per-image results on one process, N processes or a Ray cluster."""

from int8ptq.shard.executors import Executor, run_shards
from int8ptq.shard.work import EvalJob, ShardResult

__all__ = ["EvalJob", "Executor", "ShardResult", "run_shards"]

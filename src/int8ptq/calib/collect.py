"""One calibration pass: run the FP32 model once over the data, feed every observer.

Observers declare per-batch reducers (reducers.py); they run inside the model, so the pass
costs little more than the forward pass itself. A tensor of unknown shape comes back
whole and is reduced in numpy; so is a batch whose in-graph statistic saw NaN or Inf.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import onnx

from int8ptq.calib.observers import Observer
from int8ptq.calib.reducers import Reducer, per_image_shape
from int8ptq.ir.graph import Graph
from int8ptq.ir.outputs import add_outputs, with_outputs
from int8ptq.runtime import Backend, Runner, make_runner
from int8ptq.util.progress import progress

Feeds = dict[str, np.ndarray]  # one batch, every graph input by name


@dataclass(frozen=True)
class _Tap:
    """Where one observer's statistic comes from: in-graph outputs, or the whole tensor."""

    tensor: str
    observer: Observer
    reducer: Reducer | None  # None: the observer reduces the whole tensor in numpy
    outputs: tuple[str, ...]


def _reducing_model(
    g: Graph, requests: Mapping[str, tuple[str, Observer]]
) -> tuple[onnx.ModelProto, list[_Tap]]:
    work = g.copy()
    inputs = {i.name for i in g.inputs}
    taps = []
    for _, (t, obs) in sorted(requests.items()):
        shape = per_image_shape(g, t)
        if shape is None or t in inputs:  # unknown shape, or the batch itself: numpy
            taps.append(_Tap(t, obs, None, (t,)))
            continue
        reducer = obs.reducer(shape)
        taps.append(_Tap(t, obs, reducer, tuple(reducer.add_nodes(work, t))))
    model = work.to_model()  # still sorted: each reducer's nodes follow the graph's, in order
    add_outputs(model, [o for tap in taps for o in tap.outputs])
    return model, taps


class _Exact:
    """Runs the plain model with whole tensors as outputs, built on first need."""

    def __init__(self, g: Graph, threads: int | None) -> None:
        self.g, self.threads = g, threads
        self.runners: dict[frozenset[str], Runner] = {}

    def run(self, x: Feeds, tensors: set[str]) -> dict[str, np.ndarray]:
        key = frozenset(tensors)
        if key not in self.runners:
            self.runners[key] = make_runner(with_outputs(self.g, sorted(key)), Backend.ORT, self.threads)
        runner = self.runners[key]
        outs = dict(zip(runner.output_names, runner.run_all(x), strict=True))
        outs.update(x)
        return outs


def collect(
    g: Graph,
    requests: Mapping[str, tuple[str, Observer]],
    batches: Iterable[Feeds],
    threads: int | None = None,
    total: int | None = None,
) -> None:
    """One pass over the data: each observer in `requests` (key -> (tensor, observer)) sees
    its tensor in every batch (`{input_name: array}`). Memory is that of the observers,
    whatever the sample count."""
    model, taps = _reducing_model(g, requests)
    runner = make_runner(model, Backend.ORT, threads)
    exact = _Exact(g, threads)

    def run(x: Feeds) -> tuple[Feeds, dict[str, np.ndarray]]:
        outs = dict(zip(runner.output_names, runner.run_all(x), strict=True))
        outs.update(x)
        return x, outs

    # onnxruntime computes the next batch (without the GIL) while observers fold this one
    with ThreadPoolExecutor(1) as pool:
        pending: Future[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] | None = None
        for x in progress(batches, "calibrating", total=total, unit="batch"):
            nxt = pool.submit(run, x)
            if pending is not None:
                _observe(taps, *pending.result(), exact)
            pending = nxt
        if pending is not None:
            _observe(taps, *pending.result(), exact)


def _observe(taps: list[_Tap], x: Feeds, outs: dict[str, np.ndarray], exact: _Exact) -> None:
    redo = []
    for tap in taps:
        if tap.reducer is None:
            tap.observer.update(outs[tap.tensor])
            continue
        stat = tap.reducer.from_outputs([outs[o] for o in tap.outputs])
        if stat is None:
            redo.append(tap)
        else:
            tap.observer.add(stat)
    if redo:
        full = exact.run(x, {tap.tensor for tap in redo})
        for tap in redo:
            assert tap.reducer is not None
            tap.observer.add(tap.reducer.from_array(full[tap.tensor]))

"""Weights that cannot saturate int16 pairs on CPUs without VNNI (see isa.py).

The limit is applied per output channel, only where needed: a channel keeps the full
int8 range unless two weights that the kernel pairs could add up to more than 128.
"""

from __future__ import annotations

import numpy as np

from int8ptq.quant.isa import Isa
from int8ptq.quant.qdq import WeightLimit

PAIR_LIMIT = 128  # 255 * 128 = 32640 <= 32767


def weight_limit_for(isa: Isa) -> WeightLimit | None:
    return None if not isa.saturates else pair_safe_qmax


def pair_safe_qmax(w: np.ndarray, axis: int) -> np.ndarray:
    """Per-channel qmax such that |q_a| + |q_b| <= 128 for any two weights of the channel.

    Conservative (pairs the two largest magnitudes), so it holds whatever order the kernel
    packs the reduction dimension in.
    """
    a = np.moveaxis(np.abs(w.astype(np.float64)), axis, 0).reshape(w.shape[axis], -1)
    if a.shape[1] < 2:
        return np.full(a.shape[0], 127.0)
    top2 = -np.sort(-a, axis=1)[:, :2]
    amax, second = top2[:, 0], top2[:, 1]
    # with scale s = amax / qmax: (amax + second) / s <= 128  <=>  qmax <= 128 * amax / (amax + second)
    qmax = np.where(amax > 0, PAIR_LIMIT * amax / np.maximum(amax + second, 1e-30), 127.0)
    return np.floor(np.minimum(qmax, 127.0))

"""Calibration: streaming observers (statistics) and range methods (statistics -> range)."""

from int8ptq.calib.observers import HistogramObserver, MinMaxObserver, Observer
from int8ptq.calib.ranges import RangeMethod, compute_range

__all__ = ["HistogramObserver", "MinMaxObserver", "Observer", "RangeMethod", "compute_range"]

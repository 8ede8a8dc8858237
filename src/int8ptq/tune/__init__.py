"""Accuracy-aware tuning: the search (search.py), its trials and result (result.py; the
options are config.TuneConfig), and its markdown report with plots (report.py)."""

from int8ptq.config import Metric, TuneConfig
from int8ptq.tune.result import Trial, TuneResult
from int8ptq.tune.search import tune

__all__ = ["Metric", "Trial", "TuneConfig", "TuneResult", "tune"]

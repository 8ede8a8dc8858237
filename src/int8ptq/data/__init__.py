"""Datasets (list files, class folders, .npy/.npz), preprocessing presets, batching."""

from int8ptq.data.dataset import Batch, Dataset, open_dataset
from int8ptq.data.presets import PRESETS, Preset

__all__ = ["PRESETS", "Batch", "Dataset", "Preset", "open_dataset"]

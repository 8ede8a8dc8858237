"""int8ptq: post-training INT8 quantization of ONNX image models for CPU inference."""

from int8ptq.errors import UserError
from int8ptq.version import __version__

__all__ = ["UserError", "__version__", "benchmark", "compare", "evaluate", "load", "quantize"]


def __getattr__(name: str):  # lazy: `import int8ptq` stays cheap for the CLI's --help
    if name in ("quantize", "evaluate", "load", "benchmark", "compare"):
        from int8ptq import api

        return getattr(api, name)
    raise AttributeError(name)

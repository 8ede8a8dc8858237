"""Loading weight files safely: tensors only, never arbitrary unpickling."""

from __future__ import annotations

import os
from typing import Any

from int8ptq.errors import UserError


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, Any]:
    import torch

    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a corrupt or unsafe file
        raise UserError(f"cannot load weights {path}: {type(e).__name__}") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise UserError(f"weights file {path} does not hold a state_dict")
    return dict(sd)


def load_safetensors(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A safetensors file: a JSON header and raw tensors, nothing executable."""
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise UserError("safetensors weights need: pip install 'int8ptq[zoo]'") from None
    try:
        return dict(load_file(str(path)))
    except Exception as e:  # noqa: BLE001 - a corrupt file
        raise UserError(f"cannot load weights {path}: {type(e).__name__}") from None

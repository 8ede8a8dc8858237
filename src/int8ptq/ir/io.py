"""Load and save ONNX models: validation on the way in, atomic writes on the way out."""

from __future__ import annotations

import os
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from int8ptq.errors import UserError
from int8ptq.util.atomic import BeforeRename, atomic_path

MIN_OPSET = 13  # per-axis QuantizeLinear/DequantizeLinear: older models must be upgraded
TARGET_OPSET = 14  # older models are upgraded to this when they can be (14 has HardSwish)
UPGRADED_KEY = "int8ptq.opset_upgraded"  # model metadata: "11->14" when the model was upgraded
_TWO_GB = 2**31 - 1


def _check_external_data(model: onnx.ModelProto, base: Path) -> None:
    root = base.resolve()
    tensors = list(model.graph.initializer)
    for t in tensors:
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        loc = next((e.value for e in t.external_data if e.key == "location"), "")
        target = (root / loc).resolve()
        if os.path.isabs(loc) or root not in target.parents:
            raise UserError(f"external data path {loc!r} of tensor {t.name!r} escapes the model's folder")
        if not target.is_file():
            raise UserError(f"external data file {loc!r} of tensor {t.name!r} is missing")


def load_model(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """Read and validate an ONNX model file; raise UserError naming the problem."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"model file not found: {p}")
    if not p.is_file():
        raise UserError(f"model path is not a file: {p}")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError) as e:
        raise UserError(f"{p} is not a valid ONNX model ({type(e).__name__})") from None
    if not model.graph.node and not model.graph.output:
        raise UserError(f"{p} is not a valid ONNX model (empty graph)")
    _check_external_data(model, p.parent)
    _check_graph(model, p)
    try:
        # the checker reads the file itself, so models over 2 GB (external data) work too
        onnx.checker.check_model(str(p), full_check=False)
    except (onnx.checker.ValidationError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "invalid graph"
        raise UserError(f"{p} is not a valid ONNX model: {first}") from None
    try:
        from onnx.external_data_helper import load_external_data_for_model

        load_external_data_for_model(model, str(p.parent))
    except Exception as e:  # noqa: BLE001 - any failure here is a broken file
        raise UserError(f"cannot read external data of {p}: {e}") from None
    return upgrade_opset(model, p.name)


def default_opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def upgrade_opset(model: onnx.ModelProto, name: str = "model") -> onnx.ModelProto:
    """A model below TARGET_OPSET converted in memory with onnx.version_converter (noted in
    its metadata under UPGRADED_KEY): to TARGET_OPSET, else to MIN_OPSET; a model already at
    MIN_OPSET stays as it is when the step to TARGET_OPSET fails. Newer models as they are.
    A model that cannot reach MIN_OPSET is refused with the op that fails."""
    old = default_opset(model)
    if old >= TARGET_OPSET or not model.graph.node:
        return model
    from onnx import version_converter

    error = ""
    for target in (TARGET_OPSET, MIN_OPSET):
        if target <= old:
            return model  # already at MIN_OPSET: usable as it is
        try:
            out = version_converter.convert_version(model, target)
            break
        except Exception as e:  # noqa: BLE001 - the converter raises bare RuntimeErrors
            error = (str(e).strip().splitlines() or ["unknown op"])[0][:200]
    else:
        raise UserError(f"{name}: cannot upgrade opset {old} to {MIN_OPSET}: {_failing_op(model) or error}")
    keep = [m for m in out.metadata_props if m.key != UPGRADED_KEY]
    del out.metadata_props[:]
    out.metadata_props.extend(keep)
    out.metadata_props.add(key=UPGRADED_KEY, value=f"{old}->{target}")
    return out


def _failing_op(model: onnx.ModelProto) -> str | None:
    """The first op type the converter cannot take alone, as `op Type (node name)`."""
    from onnx import helper, version_converter

    seen: set[str] = set()
    infos = {v.name: v for v in [*model.graph.input, *model.graph.value_info]}
    for n in model.graph.node:
        if n.op_type in seen or n.domain not in ("", "ai.onnx"):
            continue
        seen.add(n.op_type)
        ins = [infos.get(i) or helper.make_tensor_value_info(i, onnx.TensorProto.FLOAT, None)
               for i in n.input if i]
        outs = [helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None) for o in n.output if o]
        g = helper.make_graph([n], "one", ins, outs)
        one = helper.make_model(g, opset_imports=list(model.opset_import), ir_version=model.ir_version)
        try:
            version_converter.convert_version(one, MIN_OPSET)
        except Exception:  # noqa: BLE001
            return f"op {n.op_type} (node {n.name or '?'!r})"
    return None


def _check_graph(model: onnx.ModelProto, p: Path) -> None:
    """Every node input defined before it is used: no cycles, no dangling inputs."""
    known = {i.name for i in model.graph.input} | {t.name for t in model.graph.initializer} | {""}
    produced = {o for n in model.graph.node for o in n.output}
    for n in model.graph.node:
        for i in n.input:
            if i in known:
                continue
            what = "a cycle (or nodes out of order)" if i in produced else "a dangling input"
            raise UserError(
                f"{p} is not a valid ONNX model: {what}: node {n.name or n.op_type!r} reads {i!r}"
            )
        known.update(n.output)
    missing = [o.name for o in model.graph.output if o.name not in known]
    if missing:
        raise UserError(f"{p} is not a valid ONNX model: graph output {missing[0]!r} is never computed")


def save_model(
    model: onnx.ModelProto, path: str | os.PathLike[str], before_rename: BeforeRename | None = None
) -> Path:
    """Write atomically; models over 2 GB go to one external-data file next to the model.
    `before_rename` (tests) runs when the model file is complete, just before its rename."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if proto_size(model) > _TWO_GB - (1 << 20):
        copy = onnx.ModelProto()
        copy.CopyFrom(model)  # onnx moves tensor data out of the proto it saves: keep the caller's intact
        model = copy
        # a fresh data file name each time: the old model keeps its old data until the new
        # model (written last) replaces it, so a kill leaves one consistent pair
        data_name = f"{p.name}.{os.urandom(4).hex()}.data"
        with atomic_path(p, before_rename) as tmp:
            with atomic_path(p.parent / data_name) as tmp_data:
                # onnx writes external data relative to the model file's folder
                onnx.save_model(
                    model,
                    str(tmp),
                    save_as_external_data=True,
                    all_tensors_to_one_file=True,
                    location=tmp_data.name,
                    size_threshold=1024,
                )
            _rename_location(tmp, tmp_data.name, data_name)
        for old in p.parent.glob(f"{p.name}.*.data"):
            if old.name != data_name:
                old.unlink(missing_ok=True)
    else:
        with atomic_path(p, before_rename) as tmp:
            tmp.write_bytes(model.SerializeToString(deterministic=True))
    return p


def proto_size(model: onnx.ModelProto) -> int:
    """Serialized size, counted per initializer (ByteSize of the whole overflows past 2 GB)."""
    inits = sum(t.ByteSize() for t in model.graph.initializer)
    return inits + sum(n.ByteSize() for n in model.graph.node) + 4096


def _rename_location(model_path: Path, old: str, new: str) -> None:
    m = onnx.load(str(model_path), load_external_data=False)
    for t in m.graph.initializer:
        for e in t.external_data:
            if e.key == "location" and e.value == old:
                e.value = new
    model_path.write_bytes(m.SerializeToString(deterministic=True))

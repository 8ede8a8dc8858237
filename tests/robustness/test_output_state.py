"""A kill at a deterministic point of a write (between the complete temp file and its rename,
through the injected `before_rename` hook) leaves the old output or the complete new one;
no pickle anywhere."""

import re
import subprocess
import sys
from pathlib import Path

import onnx

from tests.conftest import tiny_convnet

SRC = Path(__file__).resolve().parents[2] / "src"

CHILD = """
import os, signal, sys
import onnx
from int8ptq.ir.io import save_model
src, out, when = sys.argv[1:]
def kill(tmp):
    os.kill(os.getpid(), signal.SIGKILL)
model = onnx.load(src)
save_model(model, out, kill if when == "before_rename" else None)
if when == "after_rename":
    kill(None)
"""


def _write(src: Path, out: Path, when: str) -> int:
    return subprocess.run([sys.executable, "-c", CHILD, str(src), str(out), when], check=False).returncode


def test_sigkill_between_write_and_rename_leaves_the_old_model_or_the_new(tmp_path):
    old, new = tmp_path / "old.onnx", tmp_path / "new.onnx"
    onnx.save(tiny_convnet(seed=1), old)
    onnx.save(tiny_convnet(seed=2), new)
    out = tmp_path / "out" / "int8.onnx"

    assert _write(new, out, "before_rename") == -9  # killed: no model yet, none appears
    assert not out.exists()
    assert _write(old, out, "none") == 0
    reference_old = out.read_bytes()
    assert _write(new, out, "before_rename") == -9  # killed: the old model stays, intact
    assert out.read_bytes() == reference_old
    assert _write(new, out, "after_rename") == -9  # killed just after: the complete new one
    assert out.read_bytes() != reference_old
    onnx.checker.check_model(onnx.load(str(out)))
    assert onnx.load(str(out)).graph.initializer[0] == onnx.load(str(new)).graph.initializer[0]

    leftovers = [f for f in out.parent.iterdir() if f.name.startswith(".int8.onnx.")]
    assert len(leftovers) == 2  # exactly the two writers killed before their rename
    for f in leftovers:  # each is the complete model it was about to become
        onnx.checker.check_model(onnx.load(str(f)))


def test_no_pickle_in_what_we_read_or_write():
    text = "\n".join(p.read_text() for p in SRC.rglob("*.py"))
    assert "import pickle" not in text and "allow_pickle=True" not in text
    loads = re.findall(r"torch\.load\(([^)]*)\)", text)
    assert loads and all("weights_only=True" in call for call in loads)
    assert "np.load(" in text and all(
        "allow_pickle=False" in c or "mmap_mode" in c for c in re.findall(r"np\.load\(([^)]*)\)", text)
    )

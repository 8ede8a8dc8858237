"""Every output follows the user's umask (0o666 & ~umask), like any file the user creates."""

import os
import stat
import subprocess
import sys

import pytest

from int8ptq.util.atomic import current_umask


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_outputs_follow_the_umask(convnet_path, calib_npy, tmp_path, umask):
    out, js = tmp_path / "int8.onnx", tmp_path / "q.json"
    args = [sys.executable, "-m", "int8ptq.cli", "quantize", str(convnet_path), "-o", str(out)]
    args += ["--calib", str(calib_npy), "--json", str(js)]
    subprocess.run(args, check=True, preexec_fn=lambda: os.umask(umask), capture_output=True)
    plot = tmp_path / "plot.png"
    code = (
        "from pathlib import Path; from int8ptq.tune.report import _figure, _save;"
        f"fig, ax = _figure((4, 3)); ax.plot([0, 1]); _save(fig, Path({str(plot)!r}))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, preexec_fn=lambda: os.umask(umask))
    for p in (out, js, plot):
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask, p


def test_umask_is_read_without_changing_it():
    before = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        assert current_umask() == 0o027
    finally:
        os.umask(before)

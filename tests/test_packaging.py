"""The package as pip installs it: a real wheel built from this tree, and `python -m int8ptq`."""

import email
import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_python_m_int8ptq_help():
    r = subprocess.run([sys.executable, "-m", "int8ptq", "--help"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "quantize" in r.stdout and "usage: int8ptq" in r.stdout


def test_wheel_ships_types_license_and_one_version(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            tmp_path,
            ROOT,
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    (wheel,) = tmp_path.glob("int8ptq-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(z.read(meta_name))
        license_file = next(n for n in names if n.endswith("licenses/LICENSE"))
        license_text = z.read(license_file).decode()
    assert "int8ptq/py.typed" in names and "int8ptq/__main__.py" in names
    text = (ROOT / "src/int8ptq/version.py").read_text()
    version = re.search(r'__version__ = "([^"]+)"', text).group(1)
    assert meta["Version"] == version  # written once, in version.py
    assert meta["License-Expression"] == "Apache-2.0"
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
    assert "Typing :: Typed" in meta.get_all("Classifier")
    torch_reqs = [r for r in meta.get_all("Requires-Dist") if r.startswith("torch")]
    assert torch_reqs and all(
        "==" not in r.split(";")[0] for r in torch_reqs
    )  # a range: no CUDA surprise pin

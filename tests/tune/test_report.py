"""The tuning report draws its plots on its own Agg canvas: pyplot is never imported, so
the process's matplotlib backend is never switched."""

import subprocess
import sys

CODE = """
import sys
from pathlib import Path
from int8ptq.config import TuneConfig
from int8ptq.eval.sensitivity import Sensitivity
from int8ptq.tune.report import write_report
from int8ptq.tune.result import Trial, TuneResult

t = Trial(1, "defaults", "mse", [], 0.002, 100.0, 1.0, True)
res = TuneResult("m.onnx", True, t, [t], [Sensitivity("a", "conv", 0.1, 20.0, ("conv",))])
path = write_report(res, TuneConfig(), Path(sys.argv[1]))
print("pyplot" if "matplotlib.pyplot" in sys.modules else "no pyplot")
print(path.read_text())
"""


def test_report_plots_without_pyplot(tmp_path) -> None:
    args = [sys.executable, "-c", CODE, str(tmp_path)]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    assert out.stdout.splitlines()[0] == "no pyplot"
    assert (tmp_path / "trials.png").stat().st_size > 1000
    assert (tmp_path / "sensitivity.png").stat().st_size > 1000
    assert "trials.png" in out.stdout and "conv" in out.stdout

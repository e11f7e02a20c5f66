"""`python -m experiments.pseudo_gt_loop.pseudo_gt_loop --tiny`: the miniature of the paper's
experiment runs every step (R0 on A, EFT / SMPLify pseudo ground truth on B, six arms from R0,
scoring on C) and writes its table and plot. The default-size run is the one whose numbers are reported."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast_compiles

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # trains R0 and six arms, fits B with EFT and SMPLify: minutes on two cores
def test_tiny_loop_writes_its_table_and_plot(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.pseudo_gt_loop.pseudo_gt_loop",
            "--tiny",
            "--workdir",
            str(tmp_path / "work"),
            "--results",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with open(tmp_path / "pseudo_gt_loop.csv") as handle:
        rows = list(csv.DictReader(handle))
    regressors = [r["regressor"] for r in rows if r["regressor"]]
    assert regressors == [
        "R0 (A only)",
        "R0 + A (control)",
        "R0 + A + B(EFT paper)",
        "R0 + A + B(EFT tuned)",
        "R0 + A + B(SMPLify)",
        "R0 + A + B(2D only)",
        "R0 + A + B(true)",
    ]
    for row in rows:
        assert float(row["mpjpe_mm"]) >= 0 and float(row["pa_mpjpe_mm"]) >= 0
    quality = {r["pseudo ground truth"]: r for r in rows if r["pseudo ground truth"]}
    assert float(quality["true"]["mpjpe_mm"]) < 1e-3  # B's truth scored against itself
    assert float(quality["eft_paper"]["mpjpe_mm"]) > 1.0  # fits from R0 are not the truth
    assert (tmp_path / "pseudo_gt_loop.png").stat().st_size > 0
    assert "| R0 + A + B(EFT tuned) |" in (tmp_path / "pseudo_gt_loop.md").read_text()

"""experiments/device_check/device_check.sh --smoke: the accelerator check runs end to end at CI
size on the CPU and writes its table (the full-size run needs an accelerator)."""

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # four EFT engines compiled and timed, and PyTorch's loop: minutes on two cores
def test_device_check_smoke_writes_its_table(tmp_path):
    done = subprocess.run(
        [
            str(REPO / "experiments" / "device_check" / "device_check.sh"),
            "--smoke",
            "--budget-s",
            "3000",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = (tmp_path / "device_check.md").read_text()
    assert "PyTorch EFT loop" in table
    rows = [line for line in table.splitlines() if line.startswith("| vmap")]
    assert len(rows) == 4, table  # 2 lowerings x 2 dtypes at B = 2
    for lowering in ("vmap", "vmap+im2col"):
        for dtype in ("float32", "bfloat16"):
            cells = [
                c.strip()
                for c in next(r for r in rows if r.startswith(f"| {lowering} | {dtype} |")).split(
                    "|"
                )
            ]
            assert float(cells[5]) > 0, table  # exemplars/s measured, not skipped
            assert float(cells[7]) > 0 and float(cells[8].split()[0]) > 0, (
                table
            )  # XLA counted the flops

"""Parity with a PyTorch network laid out as SPIN's HMR: its checkpoint, converted without torch,
gives the same rotation matrices, betas and camera in eft-jax.

The fixtures were written by tests/make_regressor_goldens.py (torch 2.13.0, CPU): random weights,
non-trivial BatchNorm statistics, saved as SPIN saves checkpoints, plus outputs (eval mode) for 3
fixed 64x64 inputs:
- regressor_spin_r50_w8: SPIN's ResNet-50 topology and names, widths / 8, zip serialisation;
- regressor_spin_r18_w16: ResNet-18 basic blocks, widths / 16, legacy serialisation.

Tolerance: max |jax - torch| / max |torch| <= 1e-4 per output, as the issue requires. The
fixtures also hold torch's float64 outputs; torch's own float32 result is 1e-6..1e-5 from them,
and so is ours, so the bound leaves >= 10x room for float32 rounding in another operation order
while a wrong mapping (transposed kernel, swapped mean/var, a missed stride) moves outputs by 1e-2
or more.

Set EFT_JAX_FULL_PARITY_DIR to a folder written by `make_regressor_goldens.py --full DIR` to run
the same check at full ResNet-50 width and 224x224 input.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eft_jax.nets import convert_spin_checkpoint, restore_regressor

pytestmark = pytest.mark.fast_compiles

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RTOL = 1e-4
COMPARED = ("rotmats", "betas", "camera", "pose6d", "features")


def relative_error(value, reference) -> float:
    return float(
        np.max(np.abs(np.asarray(value, np.float64) - reference)) / np.max(np.abs(reference))
    )


def converted_outputs(pt_path: Path, golden_path: Path, out_dir: Path):
    report = convert_spin_checkpoint(pt_path, out_dir)
    restored = restore_regressor(out_dir)
    with np.load(golden_path) as g:
        golden = {k: g[k] for k in g.files}
    out = jax.jit(restored.regressor.apply)(restored.variables, jnp.asarray(golden["images"]))
    return report, out, golden


@pytest.mark.parametrize(
    "name, depth, stem_width",
    [("regressor_spin_r50_w8", 50, 8), ("regressor_spin_r18_w16", 18, 4)],
)
def test_converted_spin_checkpoint_matches_torch(tmp_path, name, depth, stem_width):
    report, out, golden = converted_outputs(
        FIXTURES / f"{name}.pt", FIXTURES / f"{name}.npz", tmp_path / "ckpt"
    )
    assert report.arch.backbone.depth == depth
    assert report.arch.backbone.stem_width == stem_width
    assert report.unknown_keys == []
    assert report.training_state["total_step_count"] == 12345
    for key in COMPARED:
        assert getattr(out, key).shape == golden[key].shape, key
        error = relative_error(getattr(out, key), golden[key])
        assert error <= RTOL, f"{key}: relative error {error:.2e}"
    # The outputs differ between the images, so matching them exercises the backbone.
    assert np.std(golden["rotmats"], axis=0).mean() > 0.05


@pytest.mark.skipif(
    "EFT_JAX_FULL_PARITY_DIR" not in os.environ, reason="full-width golden not generated"
)
def test_full_width_resnet50_matches_torch(tmp_path):
    folder = Path(os.environ["EFT_JAX_FULL_PARITY_DIR"])
    name = "regressor_spin_r50_full"
    report, out, golden = converted_outputs(
        folder / f"{name}.pt", folder / f"{name}.npz", tmp_path / "ckpt"
    )
    assert report.arch.backbone.stage_widths == (64, 128, 256, 512)
    for key in COMPARED:
        error = relative_error(getattr(out, key), golden[key])
        print(
            f"{key}: relative error {error:.2e} (vs float64 torch: "
            f"{relative_error(getattr(out, key), golden[key + '_float64']):.2e})"
        )
        assert error <= RTOL, f"{key}: relative error {error:.2e}"

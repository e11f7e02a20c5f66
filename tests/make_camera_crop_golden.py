"""Write tests/fixtures/camera_crop_golden.npz: EFT's and SMPLify's fits of a few tiny exemplars
with the crop camera, as the code before the full-frame camera made them.

The crop camera must stay what it was (EFT's fits, SMPLify's); tests/test_cameras.py fits the
same exemplars with `camera=crop` and compares every array, bit for bit on the processor that
wrote the file and to float32 rounding on another (XLA's CPU code differs between processors).
Both run with XLA's optimisations off (`jax_disable_most_optimizations`, the test's
`fast_compiles`) and the tests' XLA flags (tests/xla_flags.py), which keep the test's compilation
short. The first version was written from the commit before the full-frame camera (run there with
this file and tests/tiny_eft.py copied in; the code after it wrote the same bytes); it was
rewritten when the tests' XLA flags changed its float32 rounding (the same iteration counts, the
fitted arrays within 6e-7 of the first version). Rerun it only when a change of the crop camera's
fits is intended, or of the tests' XLA flags:

    PYTHONPATH=$PWD:$PWD/tests python tests/make_camera_crop_golden.py
"""

from __future__ import annotations

from pathlib import Path

from xla_flags import use_test_flags

use_test_flags()  # before jax is imported

import jax  # noqa: E402
import numpy as np  # noqa: E402
import tiny_eft  # noqa: E402

from eft_jax import fitting  # noqa: E402
from eft_jax.config import default_config_path, load_config  # noqa: E402
from eft_jax.fitting.smplify import Smplify, smplify_stream  # noqa: E402

OUT_PATH = Path(__file__).parent / "fixtures" / "camera_crop_golden.npz"
EFT_OVERRIDES = ["max_iters=4", "stop_threshold=2e-3", "batch_size=4"]
SMPLIFY_OVERRIDES = ["camera_iters=5", "body_iters=5", "batch_size=4", "init=mean"]
FIELDS = ("rotmats", "betas", "camera", "keypoints_2d", "keypoint_loss_after")


def golden_exemplars():
    regressor, variables, model = tiny_eft.tiny_regressor()
    return (regressor, variables, model), tiny_eft.tiny_exemplars(regressor, variables, model, 5)


def eft_fits(regressor, variables, model, exemplars, overrides=()):
    config = tiny_eft.eft_config([*EFT_OVERRIDES, *overrides])
    engine = fitting.EftEngine(regressor, variables, model, config, crop_size=tiny_eft.IMAGE_SIZE)
    return sorted(fitting.fit_stream(exemplars, engine), key=lambda r: r.id)


def smplify_fits(model, exemplars, overrides=()):
    config = load_config(default_config_path("smplify"), [*SMPLIFY_OVERRIDES, *overrides])
    return sorted(smplify_stream(exemplars, Smplify(model, config)), key=lambda r: r.id)


def main() -> None:
    jax.config.update("jax_disable_most_optimizations", True)
    (regressor, variables, model), exemplars = golden_exemplars()
    arrays = {}
    for method, results in (
        ("eft", eft_fits(regressor, variables, model, exemplars)),
        ("smplify", smplify_fits(model, exemplars)),
    ):
        for field in FIELDS:
            arrays[f"{method}_{field}"] = np.stack([getattr(r, field) for r in results])
        arrays[f"{method}_iterations"] = np.asarray([r.iterations for r in results])
    np.savez_compressed(OUT_PATH, **arrays)
    print(f"wrote {OUT_PATH} ({OUT_PATH.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()

"""Write tests/fixtures/synthetic_basic.npz: a few samples of the "basic" synthetic style.

The bundled regressor was trained on the basic style and the held-out sets (seeds 10,000,000..,
20,000,000.., 30,000,000..) are drawn from it, so the style must stay bit for bit what it was;
tests/test_data_synthetic.py compares against this file. Rerun it only when a change of the basic
style is intended (and retrain or re-score what depends on it). It compiles with the tests' XLA
flags (tests/xla_flags.py), whose rounding the comparison needs (rewritten when they came in: one
pixel of one image moved by one level, every other array the same):

    PYTHONPATH=$PWD python tests/make_synthetic_fixture.py
"""

from __future__ import annotations

from pathlib import Path

from xla_flags import use_test_flags

use_test_flags()  # before jax is imported

import numpy as np  # noqa: E402

from eft_jax.datasets.synthetic import make_sample  # noqa: E402

OUT_PATH = Path(__file__).parent / "fixtures" / "synthetic_basic.npz"
CASES = ((0, 64), (1, 64), (10_000_000, 64), (30_000_000, 64), (7, 128))  # (seed, image size)
FIELDS = ("image", "keypoints", "pose", "betas", "camera", "joints3d_spin49")


def main() -> None:
    arrays = {}
    for seed, size in CASES:
        sample = make_sample(seed, crop_size=size, style="basic")
        for field in FIELDS:
            arrays[f"{seed}_{size}_{field}"] = sample[field]
    arrays["cases"] = np.asarray(CASES, np.int64)
    np.savez_compressed(OUT_PATH, **arrays)
    print(f"wrote {OUT_PATH} ({OUT_PATH.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()

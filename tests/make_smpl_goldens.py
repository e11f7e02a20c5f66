"""Write tests/fixtures/smpl_parity.npz: smplx's SMPL outputs on a random SMPL-format model.

Run by hand, with the reference installed (CI never runs this; the tests read the .npz):

    pip install torch==2.13.0
    pip install smplx            # add --no-deps if pip wants another torch
    python tests/make_smpl_goldens.py

The model is regenerated from a frozen seed by tests/random_smpl_model.py, so the fixture
holds only inputs and outputs (and a fingerprint of the model, so a test can tell a changed
model from a changed forward pass). smplx gets the arrays through its ``data_struct``
argument, the same path its pickle loader takes, so chumpy is never needed.
"""

from __future__ import annotations

import os

import numpy as np
from random_smpl_model import make_random_smpl, model_fingerprint

SEED = 0
NUM_BETAS = 10
OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "smpl_parity.npz")


def _random_axes(rng: np.random.RandomState, n: int) -> np.ndarray:
    axes = rng.randn(n, 3)
    return axes / np.linalg.norm(axes, axis=-1, keepdims=True)


def make_inputs(rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Poses (N, 24, 3) axis-angle, root first, and betas (N, 10), with a label for each."""
    poses, betas, labels = [], [], []

    poses.append(np.zeros((24, 3)))
    betas.append(np.zeros(NUM_BETAS))
    labels.append("zero pose, zero betas")

    poses.append(0.3 * rng.randn(24, 3))
    betas.append(rng.randn(NUM_BETAS))
    labels.append("moderate pose (0.3 rad per component), unit betas")

    poses.append(_random_axes(rng, 24) * rng.uniform(1.5, 3.0, (24, 1)))
    betas.append(2.5 * rng.randn(NUM_BETAS))
    labels.append("large angles 1.5-3.0 rad, betas x2.5")

    near_pi = np.pi + rng.choice([-1e-3, -1e-5, 0.0, 1e-4], size=(24, 1))
    poses.append(_random_axes(rng, 24) * near_pi)
    betas.append(rng.randn(NUM_BETAS))
    labels.append("angles within 1e-3 of pi (some exactly pi, some just over)")

    tiny = 1e-6 * rng.randn(24, 3)
    tiny[0] = _random_axes(rng, 1)[0] * 2.0
    poses.append(tiny)
    betas.append(-rng.rand(NUM_BETAS))
    labels.append("root rotated 2 rad, other joints ~1e-6 rad")

    return np.stack(poses), np.stack(betas), labels


def run_smplx(
    arrays: dict, poses: np.ndarray, betas: np.ndarray, dtype
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import smplx
    import torch
    from smplx.utils import Struct

    n = poses.shape[0]
    model = smplx.SMPL(
        model_path="", data_struct=Struct(**arrays), num_betas=NUM_BETAS, batch_size=n, dtype=dtype
    )
    with torch.no_grad():
        out = model(
            betas=torch.tensor(betas, dtype=dtype),
            global_orient=torch.tensor(poses[:, 0], dtype=dtype),
            body_pose=torch.tensor(poses[:, 1:].reshape(n, -1), dtype=dtype),
            transl=torch.zeros(n, 3, dtype=dtype),
        )
    extra_ids = model.vertex_joint_selector.extra_joints_idxs.numpy()
    return out.vertices.numpy(), out.joints.numpy(), extra_ids


def main() -> None:
    from importlib.metadata import version

    import smplx  # noqa: F401  (fail early, with the install hint from the docstring)
    import torch

    arrays = make_random_smpl(SEED, num_betas=NUM_BETAS)
    rng = np.random.RandomState(1234)
    poses, betas, labels = make_inputs(rng)

    vertices, joints, extra_ids = run_smplx(arrays, poses, betas, torch.float32)
    vertices64, joints64, _ = run_smplx(arrays, poses, betas, torch.float64)
    num_joints = 24
    assert joints.shape[1] == num_joints + extra_ids.size, joints.shape
    np.testing.assert_array_equal(joints[:, num_joints:], vertices[:, extra_ids])

    # How far smplx's own float32 result is from its float64 one: the scale of float32 rounding.
    f32_vs_f64 = max(np.abs(vertices - vertices64).max(), np.abs(joints - joints64).max())

    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    np.savez_compressed(
        OUT_PATH,
        model_seed=np.int64(SEED),
        num_betas=np.int64(NUM_BETAS),
        model_fingerprint=model_fingerprint(arrays),
        pose_axis_angle=poses.astype(np.float32),
        betas=betas.astype(np.float32),
        labels=np.array(labels),
        vertices=vertices.astype(np.float32),
        joints=joints[:, :num_joints].astype(np.float32),
        vertex_joint_ids=extra_ids.astype(np.int64),
        smplx_float32_vs_float64_max_abs=np.float64(f32_vs_f64),
        smplx_version=np.array(version("smplx")),
        torch_version=np.array(torch.__version__),
        numpy_version=np.array(np.__version__),
    )
    size = os.path.getsize(OUT_PATH)
    print(
        f"wrote {OUT_PATH} ({size / 1e6:.2f} MB): {poses.shape[0]} poses, smplx {version('smplx')}, "
        f"torch {torch.__version__}; smplx float32 vs float64 max abs {f32_vs_f64:.2e}"
    )


if __name__ == "__main__":
    main()

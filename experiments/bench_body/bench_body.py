"""Body model throughput: eft-jax forward and forward+gradient vs smplx, same machine, same run.

    python -m experiments.bench_body.bench_body [--batches 1 64 1024] [--seconds 3] [--out experiments/bench_body]

Three rows per batch size:
- eft-jax on a SMPL-format model (6890 vertices, 207 pose correctives; random contents, the same
  generator the parity tests use, so no SMPL file is needed);
- smplx (PyTorch) on that same model file, when torch and smplx are installed;
- eft-jax on the bundled open model (13,718 vertices, no pose correctives).

"forward" maps (pose, betas) to vertices and joints; "forward+grad" also differentiates a scalar
of the vertices and joints with respect to pose and betas (what fitting needs).
Rows "SPIN-49 only" time what a keypoint loss needs (SPIN-49 joints, and the gradient of a
scalar of them) through the full forward pass and through the joints-only path
(`body.joints_model` + `body.forward_joints`, which poses only the vertices the joints read).
Times are the median of repeated calls after warm-up (and compilation, for JAX). The ratio column is
eft-jax / smplx throughput measured in this run.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax import body
from experiments.timing import time_call
from tests.random_smpl_model import make_random_smpl, write_npz

STUDY = Path(__file__).resolve().parent


def random_inputs(batch: int, num_betas: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    pose = rng.normal(scale=0.3, size=(batch, 24, 3)).astype(np.float32)
    betas = rng.normal(size=(batch, num_betas)).astype(np.float32)
    return pose, betas


def jax_timers(model, batch: int, seconds: float):
    pose, betas = (jnp.asarray(a) for a in random_inputs(batch, model.num_betas))

    @jax.jit
    def run_forward(pose, betas):
        out = body.forward(model, pose, betas)
        return out.vertices, out.joints

    def objective(pose, betas):
        out = body.forward(model, pose, betas)
        return jnp.sum(out.vertices**2) + jnp.sum(out.joints**2)

    run_grad = jax.jit(jax.grad(objective, argnums=(0, 1)))
    fwd = time_call(lambda: jax.block_until_ready(run_forward(pose, betas)), seconds)
    grad = time_call(lambda: jax.block_until_ready(run_grad(pose, betas)), seconds)
    return fwd, grad


def joint_loss_timers(model, batch: int, seconds: float, joints_only: bool):
    """What a keypoint loss needs: SPIN-49 joints (forward) and the gradient of a scalar of them,
    through the full forward pass or the joints-only path (body.joints_model/forward_joints)."""
    pose, betas = (jnp.asarray(a) for a in random_inputs(batch, model.num_betas))
    source = body.joints_model(model) if joints_only else model
    pose_fn = body.forward_joints if joints_only else body.forward

    def spin49(source, pose, betas):
        return pose_fn(source, pose, betas).spin49

    run_forward = jax.jit(spin49)
    run_grad = jax.jit(jax.grad(lambda s, p, b: jnp.sum(spin49(s, p, b) ** 2), argnums=(1, 2)))
    fwd = time_call(lambda: jax.block_until_ready(run_forward(source, pose, betas)), seconds)
    grad = time_call(lambda: jax.block_until_ready(run_grad(source, pose, betas)), seconds)
    return fwd, grad


def smplx_timers(model_path: Path, batch: int, seconds: float):
    import smplx
    import torch

    # smplx.SMPL reads model files with pickle only; hand it the .npz arrays directly.
    with np.load(model_path) as arrays:
        data = smplx.utils.Struct(**{k: arrays[k] for k in arrays.files})
    smpl = smplx.SMPL(model_path=str(model_path), data_struct=data, batch_size=batch)
    pose_np, betas_np = random_inputs(batch, 10)
    pose = torch.from_numpy(pose_np.reshape(batch, 72))
    betas = torch.from_numpy(betas_np)

    def forward():
        with torch.no_grad():
            smpl(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=betas)

    def forward_grad():
        p = pose.clone().requires_grad_(True)
        b = betas.clone().requires_grad_(True)
        out = smpl(global_orient=p[:, :3], body_pose=p[:, 3:], betas=b)
        loss = (out.vertices**2).sum() + (out.joints[:, :24] ** 2).sum()
        torch.autograd.grad(loss, (p, b))

    return time_call(forward, seconds), time_call(forward_grad, seconds)


def smplx_available() -> bool:
    try:
        import smplx  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--seconds", type=float, default=3.0, help="timing budget per cell")
    parser.add_argument("--out", type=Path, default=STUDY)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench_body_"))
    smpl_path = workdir / "SMPL_NEUTRAL.npz"
    write_npz(make_random_smpl(seed=0), smpl_path)
    smpl_model = body.load(smpl_path)
    open_model = body.load()
    with_smplx = smplx_available()

    rows = []
    for batch in args.batches:
        fwd, grad = jax_timers(smpl_model, batch, args.seconds)
        rows.append(
            {
                "impl": "eft-jax",
                "model": "SMPL layout",
                "batch": batch,
                "forward_s": fwd,
                "grad_s": grad,
            }
        )
        if with_smplx:
            fwd, grad = smplx_timers(smpl_path, batch, args.seconds)
            rows.append(
                {
                    "impl": "smplx",
                    "model": "SMPL layout",
                    "batch": batch,
                    "forward_s": fwd,
                    "grad_s": grad,
                }
            )
        fwd, grad = jax_timers(open_model, batch, args.seconds)
        rows.append(
            {
                "impl": "eft-jax",
                "model": "open (13,718 v)",
                "batch": batch,
                "forward_s": fwd,
                "grad_s": grad,
            }
        )
        for name, model in (("SMPL layout", smpl_model), ("open (13,718 v)", open_model)):
            for joints_only in (False, True):
                fwd, grad = joint_loss_timers(model, batch, args.seconds, joints_only)
                impl = "eft-jax SPIN-49 only, " + (
                    "joints-only path" if joints_only else "full forward"
                )
                rows.append(
                    {"impl": impl, "model": name, "batch": batch, "forward_s": fwd, "grad_s": grad}
                )

    reference = {r["batch"]: r for r in rows if r["impl"] == "smplx"}
    lines = [
        "| impl | model | batch | forward bodies/s | forward+grad bodies/s | vs smplx (fwd / fwd+grad) |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        ratio = ""
        ref = reference.get(r["batch"])
        if ref is not None and r["impl"] == "eft-jax" and r["model"] == "SMPL layout":
            r["ratio_forward"] = ref["forward_s"] / r["forward_s"]
            r["ratio_grad"] = ref["grad_s"] / r["grad_s"]
            ratio = f"{r['ratio_forward']:.2f}x / {r['ratio_grad']:.2f}x"
        lines.append(
            f"| {r['impl']} | {r['model']} | {r['batch']} | {r['batch'] / r['forward_s']:,.0f} | "
            f"{r['batch'] / r['grad_s']:,.0f} | {ratio} |"
        )
    table = "\n".join(lines)
    environment = {
        "machine": platform.processor() or platform.machine(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "smplx": with_smplx,
    }
    print(table)
    print(environment)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_body.md").write_text(table + "\n\n" + json.dumps(environment) + "\n")
    (args.out / "bench_body.json").write_text(
        json.dumps({"rows": rows, "environment": environment}, indent=1)
    )
    print(f"written to {args.out / 'bench_body.md'} and bench_body.json")


if __name__ == "__main__":
    main()

"""SMPLify throughput: eft-jax's batched SMPLify against a PyTorch SMPLify written after SPIN's port,
same body model, same inputs, same iteration counts, side by side in one run on this machine.

    python -m experiments.bench_smplify.bench_smplify [--batches 1 8 64] [--camera-iters 100] [--body-iters 100]
        [--repeats 3] [--out experiments/bench_smplify]

Inputs: B synthetic exemplars on the bundled open body (13,718 vertices): poses of the training
mocap clips (upright, root pi about x), random betas, a camera 45-55 m away, SPIN-49 keypoints
projected with SPIN's camera (focal 5000 px at 224 px) plus 2 px of noise, confidence 1. Both
implementations start from the same point: the mean pose, zero betas and SMPLify's
torso-based translation guess (computed once by eft-jax).

- torch (SPIN's port): `smplify/smplify.py` + `smplify/losses.py` re-written here in PyTorch over
  a batch, as SPIN runs it: the full mesh is posed every iteration (SPIN's SMPL forward), batch
  losses summed, `torch.optim.Adam(lr=1e-2)`, a new optimiser per stage, the MaxMixturePrior of
  SMPLify-X with the same GMM arrays. torch is imported only here.
- eft-jax: `eft_jax.fitting.smplify.Smplify` (jit + vmap, both stages in one compiled loop), on the
  joints-only model (default) and on the full mesh (`joints_only=False`, as SPIN poses it).

Times: medians over `--repeats` rounds in which the three implementations run in turn (JAX after
a warm-up run, so compilation is excluded); wall-clock and process CPU time (all threads), since
on a shared machine the wall-clock ratio drifts with the load of other processes.
Sanity check (asserted): both implementations give the same stage-1 and stage-2 loss at the
first iterate (relative difference < 1e-4), and their final 2D errors are printed side by side.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax import body
from eft_jax.body import joint_sets
from eft_jax.body.upright import UPRIGHT_AXIS_ANGLE
from eft_jax.config import load_config
from eft_jax.datasets.mocap_poses import load_mocap_poses
from eft_jax.fitting import smplify as jsmplify

REPO = Path(__file__).resolve().parents[2]
STUDY = Path(__file__).resolve().parent


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--camera-iters", type=int, default=100)
    parser.add_argument("--body-iters", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--torch-threads", type=int, default=None, help="torch.set_num_threads (default: torch's)"
    )
    parser.add_argument("--out", default=str(STUDY))
    return parser.parse_args()


def make_inputs(model, count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    poses, _ = load_mocap_poses(["walk", "run", "jump", "kick", "punch", "dance_a"])
    poses = poses[rng.integers(0, len(poses), count)].copy()
    poses[:, 0] = UPRIGHT_AXIS_ANGLE
    betas = rng.normal(scale=0.5, size=(count, 10)).astype(np.float32)
    translation = np.stack(
        [rng.uniform(-0.1, 0.1, count), rng.uniform(0.1, 0.3, count), rng.uniform(45, 55, count)], 1
    )
    joints = np.asarray(body.forward(model, poses, betas).spin49)
    camera_points = joints + translation[:, None]
    pixels = (
        5000.0 * camera_points[..., :2] / camera_points[..., 2:]
        + 112.0
        + rng.normal(scale=2.0, size=joints.shape[:2] + (2,))
    )
    return np.concatenate([pixels / 112.0 - 1.0, np.ones(joints.shape[:2] + (1,))], -1).astype(
        np.float32
    )


# -- PyTorch SMPLify after SPIN's port ---------------------------------------------------------


class TorchSmplify:
    """SPIN's SMPLify (smplify/smplify.py, smplify/losses.py) on the given body model arrays."""

    def __init__(self, model, prior, settings, slot_mask, available):
        import torch

        self.torch = torch
        t = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
        self.v_template, self.shapedirs = t(model.v_template), t(model.shapedirs)
        self.posedirs = None if model.posedirs is None else t(model.posedirs).reshape(-1, 207)
        self.J_regressor, self.weights = t(model.J_regressor), t(model.weights)
        self.extra = t(model.J_regressor_extra)
        self.keypoint_ids = torch.tensor(np.asarray(model.vertex_keypoint_ids), dtype=torch.long)
        self.source = torch.as_tensor(joint_sets.SPIN49_SOURCE, dtype=torch.long)
        self.parents = list(model.parents)
        self.means, self.precisions = t(prior.means), t(prior.precisions)
        self.constants = t(prior.component_constants)
        self.s = settings
        self.slot_mask, self.available = t(slot_mask), t(available)
        names = list(body.SPIN49_NAMES)
        self.op_torso = [
            names.index(n) for n in ("OP RHip", "OP LHip", "OP RShoulder", "OP LShoulder")
        ]
        self.gt_torso = [
            names.index(n) for n in ("Right Hip", "Left Hip", "Right Shoulder", "Left Shoulder")
        ]

    def rodrigues(self, theta):  # SPIN utils/geometry.py batch_rodrigues (via a quaternion)
        torch = self.torch
        angle = torch.norm(theta + 1e-8, p=2, dim=1, keepdim=True)
        half = 0.5 * angle
        quat = torch.cat([torch.cos(half), torch.sin(half) * theta / angle], dim=1)
        w, x, y, z = quat.unbind(1)
        return torch.stack(
            [
                w * w + x * x - y * y - z * z,
                2 * x * y - 2 * w * z,
                2 * w * y + 2 * x * z,
                2 * w * z + 2 * x * y,
                w * w - x * x + y * y - z * z,
                2 * y * z - 2 * w * x,
                2 * x * z - 2 * w * y,
                2 * w * x + 2 * y * z,
                w * w - x * x - y * y + z * z,
            ],
            dim=1,
        ).view(-1, 3, 3)

    def joints(self, global_orient, body_pose, betas):
        """SPIN-49 joints of the posed full mesh (SMPL's LBS, as SPIN's models/smpl.py runs it)."""
        torch = self.torch
        count = betas.shape[0]
        v_shaped = self.v_template + torch.einsum("vcs,bs->bvc", self.shapedirs, betas)
        rest = torch.einsum("jv,bvc->bjc", self.J_regressor, v_shaped)
        rot = self.rodrigues(torch.cat([global_orient, body_pose], 1).view(-1, 3)).view(
            count, 24, 3, 3
        )
        v_posed = v_shaped
        if self.posedirs is not None:
            feature = (rot[:, 1:] - torch.eye(3)).view(count, -1)
            v_posed = v_shaped + (feature @ self.posedirs.T).view(count, -1, 3)
        world_rot, world_pos = [rot[:, 0]], [rest[:, 0]]
        for k in range(1, 24):
            p = self.parents[k]
            world_rot.append(world_rot[p] @ rot[:, k])
            world_pos.append(
                world_pos[p] + (world_rot[p] @ (rest[:, k] - rest[:, p]).unsqueeze(-1)).squeeze(-1)
            )
        world_rot, world_pos = torch.stack(world_rot, 1), torch.stack(world_pos, 1)
        trans = world_pos - (world_rot @ rest.unsqueeze(-1)).squeeze(-1)
        blended_rot = torch.einsum("vk,bkij->bvij", self.weights, world_rot)
        blended_trans = torch.einsum("vk,bki->bvi", self.weights, trans)
        vertices = (blended_rot @ v_posed.unsqueeze(-1)).squeeze(-1) + blended_trans
        extra = torch.einsum("jv,bvc->bjc", self.extra, vertices)
        source = torch.cat([world_pos, vertices[:, self.keypoint_ids], extra], 1)
        return source[:, self.source]

    def project(self, joints, translation):
        points = joints + translation.unsqueeze(1)
        return self.s.focal_length * points[..., :2] / points[..., 2:] + 0.5 * self.s.crop_size

    def camera_loss(self, joints, translation, init_translation, keypoints_px, confidence):
        projected = self.project(joints, translation)
        op, gt = self.op_torso, self.gt_torso
        error_op = ((keypoints_px[:, op] - projected[:, op]) ** 2).sum(-1) * self.available[op]
        error_gt = (
            ((keypoints_px[:, gt] - projected[:, gt]) ** 2).sum(-1)
            * self.available[gt]
            * (confidence[:, gt] > 0).float()
        )
        valid = ((confidence[:, op] * self.available[op]).min(dim=-1)[0] > 0).float()
        depth = self.s.depth_weight**2 * (translation[:, 2] - init_translation[:, 2]) ** 2
        return valid * error_op.sum(-1) + (1 - valid) * error_gt.sum(-1) + depth  # per exemplar

    def body_loss(self, joints, translation, body_pose, betas, keypoints_px, weights):
        torch, s = self.torch, self.s
        residual = self.project(joints, translation) - keypoints_px
        gmof = s.sigma**2 * residual**2 / (s.sigma**2 + residual**2)
        reprojection = ((weights**2) * gmof.sum(-1)).sum(-1)
        diff = body_pose.unsqueeze(1) - self.means
        quadratic = (torch.einsum("mij,bmj->bmi", self.precisions, diff) * diff).sum(-1)
        pose = s.pose_prior_weight**2 * (0.5 * quadratic + self.constants).min(dim=1)[0]
        angle = s.angle_prior_weight**2 * (
            torch.exp(body_pose[:, [52, 55, 9, 12]] * torch.tensor([1.0, -1.0, -1.0, -1.0])) ** 2
        ).sum(-1)
        shape = s.shape_prior_weight**2 * (betas**2).sum(-1)
        return reprojection + pose + angle + shape  # per exemplar

    def first_losses(self, init, keypoints):
        """(stage-1 loss, stage-2 loss) per exemplar at the initial parameters."""
        torch = self.torch
        with torch.no_grad():
            p = {k: torch.as_tensor(np.asarray(v)) for k, v in init.items()}
            kp = torch.as_tensor(keypoints)
            keypoints_px, confidence = (kp[..., :2] + 1) * 0.5 * self.s.crop_size, kp[..., 2]
            joints = self.joints(p["global_orient"], p["body_pose"], p["betas"])
            camera = self.camera_loss(
                joints, p["translation"], p["translation"], keypoints_px, confidence
            )
            body_ = self.body_loss(
                joints,
                p["translation"],
                p["body_pose"],
                p["betas"],
                keypoints_px,
                confidence * self.slot_mask,
            )
        return camera.numpy(), body_.numpy()

    def __call__(self, init, keypoints):
        """Both stages, as smplify.py:57-136; returns the final 2D error in px per exemplar."""
        torch, s = self.torch, self.s
        kp = torch.as_tensor(keypoints)
        keypoints_px, confidence = (kp[..., :2] + 1) * 0.5 * s.crop_size, kp[..., 2]
        init_translation = torch.as_tensor(np.asarray(init["translation"]))
        translation = init_translation.clone().requires_grad_(True)
        global_orient = (
            torch.as_tensor(np.asarray(init["global_orient"])).clone().requires_grad_(True)
        )
        body_pose = torch.as_tensor(np.asarray(init["body_pose"])).clone()
        betas = torch.as_tensor(np.asarray(init["betas"])).clone()
        optimizer = torch.optim.Adam(
            [global_orient, translation], lr=s.learning_rate, betas=(s.b1, s.b2)
        )
        for _ in range(s.camera_iters):
            joints = self.joints(global_orient, body_pose, betas)
            loss = self.camera_loss(
                joints, translation, init_translation, keypoints_px, confidence
            ).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        translation.requires_grad_(False)
        body_pose.requires_grad_(True)
        betas.requires_grad_(True)
        weights = confidence * self.slot_mask
        optimizer = torch.optim.Adam(
            [body_pose, betas, global_orient], lr=s.learning_rate, betas=(s.b1, s.b2)
        )
        for _ in range(s.body_iters):
            joints = self.joints(global_orient, body_pose, betas)
            loss = self.body_loss(
                joints, translation, body_pose, betas, keypoints_px, weights
            ).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            projected = self.project(self.joints(global_orient, body_pose, betas), translation)
            distance = (projected - keypoints_px).norm(dim=-1)
            return ((weights * distance).sum(-1) / weights.sum(-1)).numpy()


def interleaved_times(runs: dict, repeats: int) -> dict:
    """{name: (median wall seconds, median process CPU seconds)} of `repeats` rounds in which every
    run goes once, in turn, so load changes on a shared machine hit all of them alike. JAX runs are
    warmed up (compiled) first."""
    for name, fn in runs.items():
        if name.startswith("eft-jax"):
            fn()
    wall = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in runs}


def main():
    args = parse_args()
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    model = body.load()
    config = load_config(
        REPO / "configs" / "smplify.py",
        [f"camera_iters={args.camera_iters}", f"body_iters={args.body_iters}"],
    )
    rows, checks = [], []
    for batch in args.batches:
        config.batch_size = batch
        joints_only = jsmplify.Smplify(model, config)
        full_mesh = jsmplify.Smplify(model, config, prior=joints_only.prior, joints_only=False)
        keypoints = make_inputs(model, batch)
        init = joints_only.init_from_mean(keypoints)
        reference = TorchSmplify(
            model,
            joints_only.prior,
            joints_only.settings,
            joints_only.slot_mask,
            np.asarray(model.spin49_available, np.float32),
        )

        # Sanity: the loss at the first iterate, stage 1 and stage 2, in both implementations.
        torch_camera, torch_body = reference.first_losses(init, keypoints)
        jax_camera, jax_body = first_losses_jax(joints_only, init, keypoints)
        camera_gap = float(np.max(np.abs(torch_camera - jax_camera) / np.abs(torch_camera)))
        body_gap = float(np.max(np.abs(torch_body - jax_body) / np.abs(torch_body)))
        assert camera_gap < 1e-4 and body_gap < 1e-4, (camera_gap, body_gap)

        outcome = {}

        def run_jax(smplify, name, outcome=outcome, init=init, keypoints=keypoints):
            def run():
                outcome[name] = jax.block_until_ready(smplify.fit(init, keypoints))

            return run

        torch_error = {}

        def run_torch(torch_error=torch_error, reference=reference, init=init, keypoints=keypoints):
            torch_error["px"] = reference(init, keypoints)

        times = interleaved_times(
            {
                "eft-jax (joints-only model)": run_jax(joints_only, "keypoint"),
                "eft-jax (full mesh)": run_jax(full_mesh, "full"),
                "torch, SPIN's port (full mesh)": run_torch,
            },
            args.repeats,
        )
        errors = {
            "eft-jax (joints-only model)": float(
                np.mean(outcome["keypoint"].keypoint_error_px_after)
            ),
            "eft-jax (full mesh)": float(np.mean(outcome["full"].keypoint_error_px_after)),
            "torch, SPIN's port (full mesh)": float(np.mean(torch_error["px"])),
        }
        torch_wall, torch_cpu = times["torch, SPIN's port (full mesh)"]
        for impl, (seconds, cpu_seconds) in times.items():
            rows.append(
                dict(
                    impl=impl,
                    batch=batch,
                    seconds=seconds,
                    cpu_seconds=cpu_seconds,
                    exemplars_per_s=batch / seconds,
                    s_per_exemplar=seconds / batch,
                    vs_torch=torch_wall / seconds,
                    cpu_vs_torch=torch_cpu / cpu_seconds,
                    final_error_px=errors[impl],
                )
            )
            print(
                f"B={batch} {impl}: {seconds:.3f} s ({cpu_seconds:.3f} CPU s), {batch / seconds:.2f} exemplars/s, "
                f"final 2D error {errors[impl]:.2f} px",
                flush=True,
            )
        checks.append(
            dict(
                batch=batch,
                camera_loss_rel_gap=camera_gap,
                body_loss_rel_gap=body_gap,
                error_px_before=float(np.mean(outcome["keypoint"].keypoint_error_px_before)),
            )
        )
    write(args, rows, checks, torch.__version__)


def first_losses_jax(smplify, init, keypoints):
    shared, settings = smplify.shared, smplify.settings

    def one(params, kp):
        keypoints_px = (kp[:, :2] + 1.0) * (0.5 * settings.crop_size)
        joints = jsmplify._joints(params, shared)
        camera = jsmplify.camera_loss(
            params, params["translation"], joints, keypoints_px, kp[:, 2], shared, settings
        )
        terms = jsmplify.body_loss(
            params, joints, keypoints_px, kp[:, 2] * shared.slot_mask, shared, settings
        )
        return camera, terms.total

    camera, total = jax.jit(jax.vmap(one))(init, jnp.asarray(keypoints))
    return np.asarray(camera), np.asarray(total)


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def write(args, rows, checks, torch_version):
    header = (
        f"SMPLify on {jax.default_backend()} ({platform.processor() or platform.machine()}), jax {jax.__version__}, "
        f"torch {torch_version}; bundled open body (13,718 vertices), {args.camera_iters} + {args.body_iters} "
        f"iterations, median of {args.repeats} interleaved rounds; torch threads {torch_threads()}"
    )
    lines = [
        header,
        "",
        "| implementation | B | exemplars/s | s / exemplar | vs torch (wall) | vs torch (CPU time) | final 2D error (px) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['impl']} | {row['batch']} | {row['exemplars_per_s']:.2f} | {row['s_per_exemplar']:.4f} | "
            f"{row['vs_torch']:.2f}x | {row['cpu_vs_torch']:.2f}x | {row['final_error_px']:.2f} |"
        )
    lines.append("")
    lines.append(
        "Same loss at the first iterate (largest relative difference, torch vs eft-jax): "
        + "; ".join(
            f"B={c['batch']}: stage 1 {c['camera_loss_rel_gap']:.1e}, stage 2 {c['body_loss_rel_gap']:.1e}"
            for c in checks
        )
        + f". Mean 2D error at the start: {checks[-1]['error_px_before']:.2f} px (B={checks[-1]['batch']})."
    )
    table = "\n".join(lines) + "\n"
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_smplify.md").write_text(table)
    (out / "bench_smplify.json").write_text(
        json.dumps({"args": vars(args), "rows": rows, "checks": checks}, indent=2)
    )


if __name__ == "__main__":
    main()

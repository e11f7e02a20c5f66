"""`eft-jax demo`: the main job on the bundled default, runnable on a fresh install.

At this stage it poses the body model (the bundled open model unless a SMPL file is given) in a
few named postures and shapes, and writes one OBJ mesh per (posture, shape) and a JSON file with
every joint set, so the model can be inspected in any mesh viewer.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from eft_jax import body
from eft_jax.body.named_poses import named_pose
from eft_jax.data.obj_file import write_obj


def _shapes(num_betas: int, scale: float) -> dict[str, np.ndarray]:
    first = np.zeros(num_betas, np.float32)
    first[0] = scale
    return {"mean": np.zeros(num_betas, np.float32), "beta0_minus": -first, "beta0_plus": first}


def run_demo(config: ml_collections.ConfigDict) -> Path:
    start = time.perf_counter()
    model = body.load(config.body_model)
    out_dir = Path(config.output_dir)
    mesh_dir = out_dir / "meshes"
    shapes = _shapes(model.num_betas, config.betas_scale)

    names = [(pose, shape) for pose in config.poses for shape in shapes]
    poses = jnp.asarray(np.stack([named_pose(p) for p, _ in names]))
    betas = jnp.asarray(np.stack([shapes[s] for _, s in names]))
    posed = jax.jit(body.forward)(model, poses, betas)

    faces = np.asarray(model.faces)
    records = []
    for i, (pose_name, shape_name) in enumerate(names):
        mesh_path = write_obj(
            mesh_dir / f"{pose_name}_{shape_name}.obj",
            posed.vertices[i],
            faces,
            comment=f"eft-jax demo: {model.kind} body model, pose {pose_name}, shape {shape_name}",
        )
        records.append(
            {
                "pose": pose_name,
                "shape": shape_name,
                "mesh": str(mesh_path.relative_to(out_dir)),
                "pose_axis_angle": np.asarray(poses[i]).round(6).tolist(),
                "betas": np.asarray(betas[i]).round(6).tolist(),
                "joints_smpl24": _named(body.SMPL_JOINT_NAMES, posed.joints[i]),
                "joints_coco17": _named(body.COCO17_NAMES, posed.coco17[i]),
                "joints_spin49": _named(
                    body.SPIN49_NAMES, posed.spin49[i], available=model.spin49_available
                ),
            }
        )

    joints_path = out_dir / "joints.json"
    joints_path.write_text(
        json.dumps(
            {
                "body_model": {"kind": model.kind, "source": model.source, "gender": model.gender},
                "frame": "metres; y up, facing +z, body's left on +x (SMPL's)",
                "meshes": records,
            },
            indent=1,
        )
    )
    elapsed = time.perf_counter() - start
    print(f"eft-jax demo: {model.kind} body model, {model.num_vertices} vertices")
    print(f"  {len(records)} meshes ({len(config.poses)} poses x {len(shapes)} shapes) in {mesh_dir}/")
    print(f"  joints (SMPL-24, COCO-17, SPIN-49) in {joints_path}")
    print(f"  done in {elapsed:.1f} s")
    return out_dir


def _named(names, points, available=None):
    points = np.asarray(points).round(6).tolist()
    if available is None:
        return dict(zip(names, points))
    return {n: (p if ok else None) for n, p, ok in zip(names, points, available)}

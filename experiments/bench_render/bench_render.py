"""Renderer throughput: the bundled body (13,718 vertices, 27,420 triangles) at 224 x 224 on CPU.

    python -m experiments.bench_render.bench_render [--batches 1 8 32] [--size 224] [--seconds 3] [--out experiments/bench_render]

Rows per batch size:
- rasterize: projected vertices -> triangle id, barycentrics, depth, batched with `lax.map`
  (`rasterize_batch`, the default) and with `vmap` (slower on CPU: batched scatters);
- render+overlay: weak-perspective projection, rasterise, vertex normals, Lambert shading with
  per-part colours, composite over a uint8 image (jit + lax.map, as `overlay_batch` does) —
  what drawing fits costs; and the same with back faces culled (half the candidates).

Inputs: random body poses (root rotated by pi about x, as fits are, so the body is upright),
scale 0.9 (--scale) so the body's height fills most of the crop. The rasteriser's candidate capacity is sized to
the batch with `required_capacity` (a power of two), as `overlay` / `overlay_batch` do; the table
also shows the default capacity (used under `jit` when no capacity is given). Times are medians
of repeated calls after compilation. Prints a markdown table, writes bench_render.{md,json}.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax import body
from eft_jax import render as R
from eft_jax.body.upright import UPRIGHT_AXIS_ANGLE
from experiments.timing import machine_description, time_call, write_results

STUDY = Path(__file__).resolve().parent


def body_batch(model, batch: int, scale: float = 0.9, seed: int = 0):
    rng = np.random.default_rng(seed)
    pose = rng.normal(scale=0.25, size=(batch, 24, 3)).astype(np.float32)
    pose[:, 0] = UPRIGHT_AXIS_ANGLE
    betas = rng.normal(scale=0.5, size=(batch, 10)).astype(np.float32)
    vertices = body.forward(model, jnp.asarray(pose), jnp.asarray(betas)).vertices
    cameras = np.tile(np.array([[scale, 0.0, 0.05]], np.float32), (batch, 1))
    return jax.block_until_ready(vertices), jnp.asarray(cameras)


def bench_batch(model, colors, batch: int, size: int, scale: float, seconds: float) -> list:
    """Time the stages for one batch size; returns table rows."""
    faces = model.faces
    rows = []
    vertices, cameras = body_batch(model, batch, scale)
    xy, depth = R.weak_perspective_to_pixels(vertices, cameras, size, size)
    capacity = R.required_capacity(xy, depth, faces, size, size)
    need = int(
        jnp.max(jax.vmap(lambda a, b: R.count_candidates(a, b, faces, size, size))(xy, depth))
    )
    images = jnp.full((batch, size, size, 3), 128, jnp.uint8)

    raster_vmap = jax.jit(
        jax.vmap(lambda a, b: R.rasterize(a, b, faces, size, size, capacity=capacity))
    )
    raster = jax.jit(lambda a, b: R.rasterize_batch(a, b, faces, size, size, capacity=capacity))

    def overlay_fn(img, v, cam):
        rgb, alpha = R.render(v, faces, cam, size, size, vertex_colors=colors, capacity=capacity)
        return R.composite(img, rgb, alpha)

    full = jax.jit(lambda i, v, c: jax.lax.map(lambda a: overlay_fn(*a), (i, v, c)))
    cap_cull = R.required_capacity(xy, depth, faces, size, size, cull_backfaces=True)
    need_cull = int(
        jnp.max(
            jax.vmap(lambda a, b: R.count_candidates(a, b, faces, size, size, cull_backfaces=True))(
                xy, depth
            )
        )
    )

    def overlay_cull(img, v, cam):
        rgb, alpha = R.render(
            v, faces, cam, size, size, vertex_colors=colors, capacity=cap_cull, cull_backfaces=True
        )
        return R.composite(img, rgb, alpha)

    full_cull = jax.jit(lambda i, v, c: jax.lax.map(lambda a: overlay_cull(*a), (i, v, c)))
    frags = raster(xy, depth)
    assert int(jnp.max(frags.num_candidates)) <= capacity
    coverage = float(jnp.mean(frags.triangle_id >= 0))
    t_raster = time_call(lambda: jax.block_until_ready(raster(xy, depth)), seconds)
    t_vmap = time_call(lambda: jax.block_until_ready(raster_vmap(xy, depth)), seconds)
    t_full = time_call(lambda: jax.block_until_ready(full(images, vertices, cameras)), seconds)
    t_cull = time_call(lambda: jax.block_until_ready(full_cull(images, vertices, cameras)), seconds)
    timings = [
        ("rasterize (lax.map)", t_raster),
        ("rasterize (vmap)", t_vmap),
        ("render+overlay (lax.map)", t_full),
        ("render+overlay, back faces culled", t_cull),
    ]
    for name, per_call in timings:
        culled = "culled" in name
        rows.append(
            {
                "stage": name,
                "batch": batch,
                "size": size,
                "capacity": cap_cull if culled else capacity,
                "candidates_max": need_cull if culled else need,
                "coverage": round(coverage, 3),
                "ms_per_call": round(per_call * 1e3, 2),
                "renders_per_s": round(batch / per_call, 1),
            }
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--scale", type=float, default=0.9, help="weak-perspective s")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=STUDY)
    args = parser.parse_args()

    model = body.load()
    faces = model.faces
    size = args.size
    colors = R.part_colors(model.weights)
    rows = []
    for batch in args.batches:
        rows += bench_batch(model, colors, batch, size, args.scale, args.seconds)

    header = (
        "| stage | batch | image | capacity (needed) | coverage | ms / call | renders / s |\n"
        "|---|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = [
        f"| {r['stage']} | {r['batch']} | {r['size']}x{r['size']} | {r['capacity']} "
        f"({r['candidates_max']}) | {r['coverage']:.1%} | {r['ms_per_call']} | "
        f"{r['renders_per_s']} |"
        for r in rows
    ]
    machine = machine_description()
    table = (
        f"Renderer throughput, bundled body ({model.v_template.shape[0]} vertices, "
        f"{faces.shape[0]} triangles), camera scale {args.scale}; {machine}. "
        "Default capacity at this size: "
        f"{R.default_capacity(faces.shape[0], size, size)}.\n\n" + header + "\n".join(lines) + "\n"
    )
    write_results(args.out, "bench_render", table, {"machine": machine, "rows": rows})


if __name__ == "__main__":
    main()

"""The paper's Figure-1 strips of EFT fits (the demo): for each exemplar, its crop with its
keypoints, the body after a few EFT updates as the fit itself recorded them
(`fitting.fit_stream(record=...)`), the final fit and its side view.

    paths = draw_strips(exemplars, recorded, fits, model, picture_size=224, out_dir="demo/")
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax import body, render
from eft_jax.formats.images import save_png
from eft_jax.geometry.crops import crop_image, denormalize_image


def _crop_resampled(crop, size: int) -> np.ndarray:
    """A square crop resampled to size x size by `crop_image` (antialiased, as crops are cut), for
    pictures; crop coordinates, hence cameras, are unchanged."""
    side = crop.shape[0]
    resized = crop_image(crop, ((side - 1) / 2, (side - 1) / 2), side / 200.0, size)
    return np.clip(np.round(resized), 0, 255).astype(np.uint8)


def draw_strips(
    exemplars, recorded, fits, model, *, picture_size: int, out_dir: Path
) -> list[Path]:
    """`strips/<id>.png` in `out_dir` for each fitted exemplar of `exemplars`, from the points the
    fit recorded (`recorded`: id -> TrajectoryPoints) and the final fits (`fits`: EFT JSON
    entries), panels `picture_size` square; the paths written."""
    if not exemplars:
        return []
    pose = jax.jit(body.forward)
    faces = np.asarray(model.faces)

    def vertices(rotmats, betas):
        return np.asarray(
            pose(model, jnp.asarray(rotmats, jnp.float32), jnp.asarray(betas, jnp.float32)).vertices
        )

    by_id = {f["exemplar_id"]: f for f in fits}
    paths = []
    for exemplar in exemplars:
        fit = by_id.get(str(exemplar.id))
        if fit is None:  # skipped
            continue
        panels = [
            (
                f"iter {p.updates}",
                vertices(p.prediction.rotmats, p.prediction.betas),
                p.prediction.camera,
            )
            for p in recorded[exemplar.id]
        ]
        final_vertices = vertices(fit["parm_pose"], fit["parm_shape"])
        panels.append(
            (
                f"final ({fit['iterations']} it)",
                final_vertices,
                np.asarray(fit["parm_cam"], np.float32),
            )
        )
        strip = render.figure_strip(
            _crop_resampled(denormalize_image(exemplar.image), picture_size),
            exemplar.keypoints,
            faces,
            panels,
            side_vertices=final_vertices,
        )
        paths.append(save_png(out_dir / "strips" / f"{exemplar.id}.png", strip))
    return paths

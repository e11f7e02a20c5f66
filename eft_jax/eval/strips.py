"""The paper's Figure-1 strips of EFT fits (the demo): for each exemplar, its crop with its
keypoints, the body after a few EFT updates as the fit itself recorded them
(`fitting.fit_stream(record=...)`), the final fit and its side view. A full-frame fit
(camera=full_frame: `cam_t` and `cam_int` in its entry) is drawn as it was fitted, through the
pinhole camera of its image seen in the crop's box; a crop fit through its crop camera.

    paths = draw_strips(exemplars, recorded, fits, model, picture_size=224, out_dir="demo/")
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax import body, render
from eft_jax.formats.images import save_png
from eft_jax.geometry.cameras import FullFrame, crop_to_full_translation
from eft_jax.geometry.crops import SCALE_UNIT, crop_image, denormalize_image


def _crop_resampled(crop, size: int) -> np.ndarray:
    """A square crop resampled to size x size by `crop_image` (antialiased, as crops are cut), for
    pictures; crop coordinates, hence cameras, are unchanged."""
    side = crop.shape[0]
    resized = crop_image(crop, ((side - 1) / 2, (side - 1) / 2), side / 200.0, size)
    return np.clip(np.round(resized), 0, 255).astype(np.uint8)


def _full_frame(exemplar, fit: dict) -> FullFrame | None:
    """The exemplar's box in its image and the intrinsics its full-frame fit used; None for a crop
    fit."""
    if "cam_int" not in fit:
        return None
    center, scale = exemplar.box()
    camera_matrix = np.asarray(fit["cam_int"], np.float32)
    return FullFrame(
        box_center=np.asarray(center, np.float32),
        box_size=np.float32(SCALE_UNIT * scale),
        focal=camera_matrix[[0, 1], [0, 1]],
        principal_point=camera_matrix[:2, 2],
    )


def _drawing_camera(crop_camera, frame: FullFrame | None, size: int, translation=None):
    """What draws a fit in its size x size crop: its crop camera, or for a full-frame fit the
    pinhole camera at its translation (`translation`, else its crop camera's through the box)."""
    if frame is None:
        return np.asarray(crop_camera, np.float32)
    if translation is None:
        translation = crop_to_full_translation(jnp.asarray(crop_camera), frame)
    return render.box_view_camera(translation, frame, size)


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
        frame = _full_frame(exemplar, fit)
        panels = [
            (
                f"iter {p.updates}",
                vertices(p.prediction.rotmats, p.prediction.betas),
                _drawing_camera(p.prediction.camera, frame, picture_size),
            )
            for p in recorded[exemplar.id]
        ]
        final_vertices = vertices(fit["parm_pose"], fit["parm_shape"])
        panels.append(
            (
                f"final ({fit['iterations']} it)",
                final_vertices,
                _drawing_camera(fit["parm_cam"], frame, picture_size, fit.get("cam_t")),
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

"""Pictures and meshes of the fits in an EFT JSON file (`eft-jax render`, the demo).

    drawn = draw_fits("fits.json", "images/", "pictures/", crop_size=224)

For every fit (a `data` entry of the EFT JSON) it writes, in `out_dir`:

- `<image stem>_<annotId or exemplar_id>.png`: three panels side by side, each crop_size square:
  [the person's crop | the fitted body drawn over the crop | the body seen from its side, on a
  plain background]; for a full-frame fit (`cam_t` and `cam_int`, docs/camera.md) the whole
  image instead of the crop (letterboxed into the square), the body drawn through the camera
  that took it, and the side view seen from that camera;
- `<same name>.obj` and `<same name>.glb` (glTF binary, with smooth normals and
  each body part in its own colour): the fitted mesh in metres, y up, as mesh viewers expect: the vertices of
  `body.forward(model, parm_pose, parm_shape)` turned by pi about x, which undoes the turn that
  (as in SPIN / EFT) the fit's root rotation includes to stand the body upright in the image,
  whose y axis points down.

The crop is SPIN's (`bbox_center`, `bbox_scale`, `eft_jax.geometry.crops.crop_image`) and the camera
is the fit's weak-perspective crop camera `parm_cam` = [s, tx, ty] in EFT's convention
(`eft_jax.geometry.cameras`), so the drawn body lies exactly where the fit's keypoints project.

A fit is drawn with the body model that made it: entries whose `smpltype` does not match the
model (bundled open model unless `body_model_path` names a SMPL file) raise `RenderInputError`
before anything is written. Entries whose image is missing or unreadable are skipped with the
reason (a warning on stderr, and listed in the result's `skipped`); the JSON's own `skipped` list is ignored.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import jax
import numpy as np

from eft_jax import body, render
from eft_jax.body.upright import turn_points
from eft_jax.errors import InputError
from eft_jax.formats.eft_json import SMPLTYPES, read_eft_json
from eft_jax.formats.glb_file import write_glb
from eft_jax.formats.images import ImageReadError, load_rgb, save_png
from eft_jax.formats.obj_file import write_obj
from eft_jax.geometry.cameras import FullFrame
from eft_jax.geometry.crops import SCALE_UNIT, crop_image


class RenderInputError(InputError, ValueError):
    """Fits that cannot be drawn as asked (e.g. made with another body model than the one given)."""


class RenderResult(list):
    """The PNG paths written (a list of Path, in JSON order), with `meshes` (the .obj paths, same
    order), `skipped` ([{'index', 'imageName', 'annotId', 'exemplar_id', 'reason'}, ...]) and
    `summary_line`."""

    def __init__(self, pngs=(), meshes=(), skipped=()):
        super().__init__(pngs)
        self.meshes = list(meshes)
        self.skipped = list(skipped)
        self.summary_line = ""  # the run's one summary line, for `eft-jax render` to print


def whole_image_view(image, translation, camera_matrix, size: int):
    """(the whole image letterboxed into a size x size square (float, as `crop_image` gives it),
    the `render.PerspectiveCamera` that draws a full-frame fit (`cam_t`, `cam_int`) there).

    The square is the crop of the box that holds the whole image (centre at the image's centre,
    side its longer side), drawn as any box is (`render.box_view_camera`)."""
    height, width = np.shape(image)[:2]
    center = (np.array([width, height], np.float64) - 1.0) / 2.0
    side = float(max(width, height))
    view = crop_image(image, center, side / SCALE_UNIT, size)
    K = np.asarray(camera_matrix, np.float64)
    whole_image = FullFrame(
        box_center=center, box_size=side, focal=K[[0, 1], [0, 1]], principal_point=K[:2, 2]
    )
    return view, render.box_view_camera(translation, whole_image, size)


def _smpltype_of(entry: dict) -> str:
    # EFT's released files all come from SMPL; older ones may lack the field.
    return str(entry.get("smpltype", "smpl"))


def check_body_model(data: list[dict], model: body.BodyModel, fits_json) -> None:
    """Raise RenderInputError unless every entry's smpltype matches the model's kind."""
    expected = SMPLTYPES[model.kind]
    known = set(SMPLTYPES.values())
    for index, entry in enumerate(data):
        smpltype = _smpltype_of(entry)
        if smpltype not in known:
            raise RenderInputError(
                f"{fits_json}: data[{index}] has smpltype {smpltype!r}; known: {sorted(known)}"
            )
        if smpltype != expected:
            if smpltype == "smpl":
                hint = "these fits were made with the SMPL model: pass its file (--body PATH)"
            else:
                hint = (
                    "these fits were made with eft-jax's bundled open body model: "
                    "leave out the SMPL file (--body)"
                )
            raise RenderInputError(
                f"{fits_json}: data[{index}] has smpltype {smpltype!r} but the body model is "
                f"{model.source} (smpltype {expected!r}); {hint}. A fit must be drawn with the "
                "model that made it."
            )
        betas = np.asarray(entry["parm_shape"])
        if betas.shape != (model.num_betas,):
            raise RenderInputError(
                f"{fits_json}: data[{index}] has {betas.size} betas; the body model uses "
                f"{model.num_betas}"
            )


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def output_stem(entry: dict, index: int) -> str:
    """`<imageName stem>_<annotId or exemplar_id>` (the entry index when neither is set), or the
    stem alone when the id is the stem (synthetic humans' `synthetic_<seed>.png`)."""
    image = _safe(Path(str(entry.get("imageName", ""))).stem) or "image"
    try:
        annot_id = int(entry.get("annotId", 0) or 0)
    except (TypeError, ValueError):
        annot_id = 0
    tag = str(annot_id) if annot_id else _safe(str(entry.get("exemplar_id", "")))
    return image if tag == image else f"{image}_{tag or index}"


def draw_fits(
    fits_json,
    images_dir,
    out_dir,
    *,
    body_model_path=None,
    limit: int | None = None,
    crop_size: int = 224,
) -> RenderResult:
    """Draw every fit of an EFT JSON file; returns the PNG paths (a `RenderResult`)."""
    start = time.perf_counter()
    fits_json, images_dir, out_dir = Path(fits_json), Path(images_dir), Path(out_dir)
    if crop_size < 1:
        raise RenderInputError(f"crop_size must be positive; got {crop_size}")
    if limit is not None and limit < 0:
        raise RenderInputError(f"limit must be >= 0; got {limit}")
    document = read_eft_json(fits_json)
    data = document["data"][:limit] if limit is not None else document["data"]
    model = body.load(body_model_path)
    check_body_model(data, model, fits_json)

    out_dir.mkdir(parents=True, exist_ok=True)
    forward = jax.jit(body.forward)
    faces = np.asarray(model.faces)
    part_rgb = np.asarray(render.part_colors(model.weights))
    result = RenderResult()
    used: set[str] = set()
    for index, entry in enumerate(data):
        image_name = str(entry.get("imageName", ""))
        record = {
            "index": index,
            "imageName": image_name,
            "annotId": entry.get("annotId", 0),
            "exemplar_id": entry.get("exemplar_id", ""),
        }
        if not image_name:
            reason = "entry has no imageName"
        else:
            try:
                image = load_rgb(images_dir / image_name)
                reason = None
            except ImageReadError as error:
                reason = str(error)
        if reason is not None:
            print(
                f"eft-jax render: skipped data[{index}] ({image_name or '?'}): {reason}",
                file=sys.stderr,
            )
            result.skipped.append({**record, "reason": reason})
            continue

        if "cam_t" in entry and "cam_int" in entry:
            crop, camera = whole_image_view(image, entry["cam_t"], entry["cam_int"], crop_size)
        else:
            crop = crop_image(image, entry["bbox_center"], float(entry["bbox_scale"]), crop_size)
            camera = entry["parm_cam"]
        crop = np.clip(np.round(crop), 0, 255).astype(np.uint8)
        rotmats = np.asarray(entry["parm_pose"], np.float32)
        betas = np.asarray(entry["parm_shape"], np.float32)
        vertices = np.asarray(forward(model, rotmats, betas).vertices)
        panels = render.fit_panels(crop, vertices, faces, camera)

        stem = output_stem(entry, index)
        if stem in used:  # two entries with the same image and id: keep both
            stem = f"{stem}_{index}"
        used.add(stem)
        result.append(save_png(out_dir / f"{stem}.png", panels))
        upright = turn_points(vertices)
        write_glb(out_dir / f"{stem}.glb", upright, faces, vertex_colors=part_rgb)
        result.meshes.append(
            write_obj(
                out_dir / f"{stem}.obj",
                upright,
                faces,
                comment=(
                    f"eft-jax render: fit data[{index}] of {fits_json.name}, image {image_name}, "
                    f"annotId {record['annotId']}, {model.kind} body model ({model.source})\n"
                    "metres, y up: the body model's output turned by pi about x (undoing the "
                    "image-upright turn in the fit's root rotation)"
                ),
            )
        )

    elapsed = time.perf_counter() - start
    result.summary_line = (
        f"eft-jax render: {len(result)} fits drawn, {len(result.skipped)} skipped "
        f"({model.kind} body model) in {elapsed:.1f} s -> {out_dir}/"
    )
    return result

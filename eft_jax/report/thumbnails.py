"""The report's pictures of fits: [crop | body over the crop | side view] thumbnails, drawn by
the JAX rasteriser in batches and cached by content.

    crops = CropSource.from_images("images/")   # or .from_crops_npz("exemplars.npz"), or .none()
    names = draw_thumbnails(run.entries, crops, model, out_dir / "thumbs", size=96)

A thumbnail's file name is a hash of what it shows (the fit's parameters and box, where its crop
comes from, the size), so rerunning the report on a grown run draws only the new fits, and a
changed fit gets a new picture. Small pictures do not need every triangle: the body is drawn with
a coarse copy of its faces (`coarse_faces`), about a quarter of them, which makes a thumbnail
about four times cheaper; the fit page's 3D view shows the full mesh.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import jax
import numpy as np

from eft_jax import body, render
from eft_jax.errors import InputError
from eft_jax.formats.exemplar_npz import read_exemplars_npz
from eft_jax.formats.images import ImageReadError, load_rgb
from eft_jax.geometry.crops import crop_image, denormalize_image

# Vertices of the rest-pose body closer than this (a grid cell, metres) merge in the thumbnails'
# coarse mesh: 27,420 triangles of the open body become about 7,700.
COARSE_CELL_M = 0.02
# Fits drawn per batch (one XLA program per batch shape).
BATCH = 32
BACKGROUND = 255
MISSING_CROP = 200  # grey where a fit has no crop to show


def coarse_faces(rest_vertices, faces, cell: float = COARSE_CELL_M) -> np.ndarray:
    """Faces of a coarse copy of a mesh, on the mesh's own vertices: vertices of the rest pose
    that fall into one grid cell of side `cell` are merged into the first of them, and triangles
    left with fewer than three corners are dropped. The winding is kept, so back faces still
    cull, and the coarse mesh poses with the full one's skinning."""
    rest_vertices, faces = np.asarray(rest_vertices), np.asarray(faces)
    cells = np.floor(rest_vertices / cell).astype(np.int64)
    _, cluster = np.unique(cells, axis=0, return_inverse=True)
    cluster = cluster.ravel()
    first = np.full(cluster.max() + 1, len(cluster))
    np.minimum.at(first, cluster, np.arange(len(cluster)))
    merged = first[cluster][faces]
    keep = (
        (merged[:, 0] != merged[:, 1])
        & (merged[:, 1] != merged[:, 2])
        & (merged[:, 0] != merged[:, 2])
    )
    return merged[keep].astype(np.int32)


class CropSource:
    """Where a fit's crop comes from: the images its `imageName` names (cut with its
    `bbox_center` / `bbox_scale`), an exemplar `.npz` of crops (matched by `exemplar_id`), or
    nowhere (a grey panel)."""

    def __init__(self, kind: str, location: Path | None, crops=None, rows: dict | None = None):
        self.kind, self.location = kind, location
        self._crops, self._rows = crops, rows  # crop arrays, exemplar id -> row
        self._image_name, self._image = None, None

    @classmethod
    def choose(cls, images_dir=None, crops_npz=None) -> CropSource:
        """The crops of a report job: an images folder, an exemplar `.npz`, or none."""
        if images_dir is not None and crops_npz is not None:
            raise InputError("--images and --crops are alternatives: give one")
        if images_dir is not None:
            return cls.from_images(images_dir)
        if crops_npz is not None:
            return cls.from_crops_npz(crops_npz)
        return cls.none()

    @classmethod
    def from_images(cls, images_dir) -> CropSource:
        return cls("images", Path(images_dir))

    @classmethod
    def from_crops_npz(cls, path) -> CropSource:
        arrays = read_exemplars_npz(path)
        n = len(arrays["images"])
        ids = arrays["ids"] if "ids" in arrays else [f"{i:06d}" for i in range(n)]
        return cls("crops", Path(path), arrays["images"], {str(i): k for k, i in enumerate(ids)})

    @classmethod
    def none(cls) -> CropSource:
        return cls("none", None)

    def describe(self) -> str:
        return f"{self.kind}:{self.location.resolve()}" if self.location else "none"

    def crop(self, entry: dict, size: int) -> tuple[np.ndarray, str | None]:
        """(size, size, 3) uint8 crop of a fit and None, or a grey panel and why."""
        blank = np.full((size, size, 3), MISSING_CROP, np.uint8)
        if self.kind == "none":
            return blank, None
        if self.kind == "crops":
            row = self._rows.get(str(entry.get("exemplar_id", "")))
            if row is None:
                return blank, f"no crop with id {entry.get('exemplar_id')!r} in {self.location}"
            image = np.asarray(self._crops[row])
            if image.dtype != np.uint8:  # crops stored normalised
                image = denormalize_image(image)
            side = image.shape[0]
            center, scale = ((side - 1) / 2, (side - 1) / 2), side / 200.0
        else:
            name = str(entry.get("imageName", ""))
            if name != self._image_name:
                try:
                    self._image_name, self._image = name, load_rgb(self.location / name)
                except ImageReadError as error:
                    self._image_name, self._image = name, str(error)
            if isinstance(self._image, str):
                return blank, self._image
            image, center, scale = self._image, entry["bbox_center"], float(entry["bbox_scale"])
        cut = crop_image(image, center, scale, size)
        return np.clip(np.round(cut), 0, 255).astype(np.uint8), None


def thumbnail_name(entry: dict, crops: CropSource, size: int) -> str:
    """The cache name of a fit's thumbnail: a hash of everything the picture shows."""
    shown = {
        key: entry.get(key)
        for key in ("parm_pose", "parm_shape", "parm_cam", "bbox_center", "bbox_scale")
    }
    shown |= {"image": entry.get("imageName"), "id": entry.get("exemplar_id")}
    shown |= {"crops": crops.describe(), "size": size, "cell": COARSE_CELL_M}
    digest = hashlib.sha1(json.dumps(shown, sort_keys=True).encode()).hexdigest()[:20]
    return f"{digest}.jpg"


@jax.jit
def _vertices(model, rotmats, betas):
    return body.forward(model, rotmats, betas).vertices


def _save_jpeg(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(image).save(path, quality=88)


def draw_thumbnails(
    entries: list[dict], crops: CropSource, model: body.BodyModel, out_dir, *, size: int
) -> tuple[list[str], int]:
    """A thumbnail per fit entry in `out_dir` (drawn only when not there yet); returns the file
    names (in entry order) and how many were drawn now. Fits whose crop is missing are drawn on
    grey, counted in one warning on stderr."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [thumbnail_name(entry, crops, size) for entry in entries]
    todo = [i for i, name in enumerate(names) if not (out_dir / name).is_file()]
    if not todo:
        return names, 0
    faces = coarse_faces(model.v_template, model.faces)
    problems = []  # why fits were drawn without their crop
    for start in range(0, len(todo), BATCH):
        batch = todo[start : start + BATCH]
        pad = BATCH - len(batch)  # one program shape for every batch
        picked = [entries[i] for i in batch] + [entries[batch[0]]] * pad
        rotmats = np.asarray([e["parm_pose"] for e in picked], np.float32)
        betas = np.asarray([e["parm_shape"] for e in picked], np.float32)
        cameras = np.asarray([e["parm_cam"] for e in picked], np.float32)
        vertices = np.asarray(_vertices(model, rotmats, betas))
        cut = []
        for i in batch:
            crop, problem = crops.crop(entries[i], size)
            if problem:
                problems.append(problem)
            cut.append(crop)
        cut += [cut[0]] * pad
        over = render.overlay_batch(np.stack(cut), vertices, faces, cameras, cull_backfaces=True)
        blank = np.full((BATCH, size, size, 3), BACKGROUND, np.uint8)
        side = render.overlay_batch(
            blank, np.asarray(render.side_view(vertices)), faces, cameras, cull_backfaces=True
        )
        for k, i in enumerate(batch):
            strip = np.concatenate([cut[k], over[k], side[k]], axis=1)
            _save_jpeg(out_dir / names[i], strip)
    if problems:
        print(
            f"eft-jax report: {len(problems)} fits drawn without their crop, e.g.: {problems[0]}",
            file=sys.stderr,
        )
    return names, len(todo)

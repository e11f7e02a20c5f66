"""The paper's Figure-1 strip: one exemplar's crop with its keypoints, then the body drawn over
the crop at chosen moments of its fit, then (optionally) the final body from its side, each
panel labelled underneath.

    trajectory = eft.trajectory(exemplar)                           # fitting.SequentialEft
    panels = [(f"iter {p.updates}", forward(model, p.prediction.rotmats, p.prediction.betas).vertices,
               p.prediction.camera) for p in trajectory.points]
    strip = render.figure_strip(crop_uint8, exemplar.keypoints, model.faces, panels,
                                side_vertices=panels[-1][1])

Keypoints are drawn with numpy (a pixel is part of a dot or a bone when its centre lies within
the radius), not with an anti-aliasing library, so what is drawn where is exact and testable:
a keypoint at crop coordinates (x, y) always covers the pixel that contains
`crop_to_pixels((x, y))`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eft_jax.body.joint_sets import SPIN49_NAMES
from eft_jax.render.cameras import PerspectiveCamera, crop_to_pixels
from eft_jax.render.compose import overlay, side_panel

# LSP-14's limbs (legs, arms, hips, shoulders, torso sides, neck to head top), between SPIN-49's
# ground-truth keypoints, which every dataset reader fills when it has the joint.
_LSP_LIMBS = (
    ("Right Ankle", "Right Knee"),
    ("Right Knee", "Right Hip"),
    ("Left Ankle", "Left Knee"),
    ("Left Knee", "Left Hip"),
    ("Right Wrist", "Right Elbow"),
    ("Right Elbow", "Right Shoulder"),
    ("Left Wrist", "Left Elbow"),
    ("Left Elbow", "Left Shoulder"),
    ("Right Hip", "Left Hip"),
    ("Right Hip", "Right Shoulder"),
    ("Left Hip", "Left Shoulder"),
    ("Right Shoulder", "Neck (LSP)"),
    ("Left Shoulder", "Neck (LSP)"),
    ("Neck (LSP)", "Top of Head (LSP)"),
)
SKELETON = tuple((SPIN49_NAMES.index(a), SPIN49_NAMES.index(b)) for a, b in _LSP_LIMBS)

BACKGROUND = 255  # label area and side view: plain white
TEXT_COLOR = (0, 0, 0)


def figure_strip(
    crop,
    keypoints,
    faces,
    panels: Sequence[tuple[str, np.ndarray, np.ndarray]],
    *,
    side_vertices=None,
    keypoint_radius: float = 2.5,
    keypoint_color=(255, 40, 40),
    skeleton_width: float = 1.5,
    skeleton_color=(40, 200, 255),
    label_height: int = 16,
    input_label: str = "input",
    side_label: str = "side view",
    **overlay_options,
) -> np.ndarray:
    """[input | panel ... | side view] above their labels -> (S + label_height, S n, 3) uint8.

    crop: (S, S, 3) uint8 (any H x W works the same way). keypoints: (49, 3) SPIN-49, x, y in
    [-1, 1] of the crop, confidence; only keypoints with confidence > 0 are drawn (dots, and bones
    of the LSP-14 skeleton whose two ends are both drawn). panels: (label, vertices (V, 3),
    camera [s, tx, ty], or a `PerspectiveCamera` in the crop's pixels for a full-frame fit) each drawn over
    the crop with `overlay`. side_vertices: a body (normally
    the last panel's) shown from its side with the last panel's camera (`side_panel`). Extra
    keyword arguments (vertex_colors, opacity, ...) go to `overlay`.
    """
    crop = np.asarray(crop)
    if crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3:
        raise ValueError(
            f"figure_strip needs an (S, S, 3) uint8 crop; got {crop.shape} {crop.dtype}"
        )
    keypoints = np.asarray(keypoints, np.float32)
    if keypoints.shape != (len(SPIN49_NAMES), 3):
        raise ValueError(f"keypoints must be (49, 3) SPIN-49 keypoints; got {keypoints.shape}")
    if side_vertices is not None and not panels:
        raise ValueError("a side view shows the last panel's body: give at least one panel")
    height, width = crop.shape[:2]

    pictures = [
        draw_keypoints(
            crop,
            keypoints,
            radius=keypoint_radius,
            color=keypoint_color,
            bone_width=skeleton_width,
            bone_color=skeleton_color,
        )
    ]
    labels = [input_label]
    for label, vertices, camera in panels:
        pictures.append(overlay(crop, vertices, faces, _camera(camera), **overlay_options))
        labels.append(label)
    if side_vertices is not None:
        camera = _camera(panels[-1][2])
        pictures.append(
            side_panel(
                side_vertices,
                faces,
                camera,
                height,
                width,
                background=BACKGROUND,
                **overlay_options,
            )
        )
        labels.append(side_label)
    columns = [
        np.concatenate([picture, label_image(text, width, label_height)], axis=0)
        for picture, text in zip(pictures, labels)
    ]
    return np.concatenate(columns, axis=1)


def _camera(camera):
    return camera if isinstance(camera, PerspectiveCamera) else np.asarray(camera, np.float32)


def draw_keypoints(
    image,
    keypoints,
    *,
    radius: float = 2.5,
    color=(255, 40, 40),
    bone_width: float = 1.5,
    bone_color=(40, 200, 255),
) -> np.ndarray:
    """A copy of the (H, W, 3) uint8 image with the (49, 3) SPIN-49 keypoints of confidence > 0
    drawn as dots of `radius` pixels over LSP-14 bones `bone_width` pixels wide."""
    image = np.array(image, np.uint8)
    height, width = image.shape[:2]
    xy = np.asarray(crop_to_pixels(np.asarray(keypoints)[:, :2], height, width), np.float64)
    shown = (np.asarray(keypoints)[:, 2] > 0) & np.isfinite(xy).all(axis=1)
    for a, b in SKELETON:
        if shown[a] and shown[b]:
            image[_capsule(height, width, xy[a], xy[b], bone_width / 2)] = bone_color
    for point in xy[shown]:
        image[_capsule(height, width, point, point, radius)] = color
    return image


def label_image(text: str, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8: `text` centred on white in Pillow's built-in font (no system
    fonts needed); text wider than the panel is cut at its edges."""
    from PIL import Image, ImageDraw, ImageFont  # Pillow is a dependency; imported when drawing

    picture = Image.new("RGB", (width, height), (BACKGROUND,) * 3)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default()
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(
        ((width - (right - left)) / 2 - left, (height - (bottom - top)) / 2 - top),
        text,
        fill=TEXT_COLOR,
        font=font,
    )
    return np.asarray(picture, np.uint8)


def _capsule(height: int, width: int, a, b, radius: float) -> np.ndarray:
    """(H, W) bool: pixels whose centres lie within `radius` of the segment a-b (pixel coords)."""
    centres = np.stack(np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5), axis=-1)
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    direction = b - a
    length2 = float(direction @ direction)
    t = 0.0 if length2 == 0 else np.clip((centres - a) @ direction / length2, 0.0, 1.0)
    nearest = a + np.asarray(t)[..., None] * direction
    return np.sum((centres - nearest) ** 2, axis=-1) <= radius**2

"""Pure-JAX mesh rendering: z-buffered rasterisation, cameras, Lambert shading, overlays.

from eft_jax import render
out = render.overlay(crop_uint8, vertices, model.faces, camera)     # camera = [s, tx, ty]
"""

from eft_jax.render.cameras import (
    PerspectiveCamera,
    box_view_camera,
    crop_to_pixels,
    perspective_to_pixels,
    side_view,
    spin_perspective_camera,
    weak_perspective_to_pixels,
    weak_to_perspective_translation,
)
from eft_jax.render.compose import (
    composite,
    fit_panels,
    overlay,
    overlay_batch,
    project,
    render,
    side_panel,
)
from eft_jax.render.rasterizer import (
    Fragments,
    count_candidates,
    default_capacity,
    interpolate,
    rasterize,
    rasterize_batch,
    required_capacity,
)
from eft_jax.render.shading import (
    DEFAULT_COLOR,
    PART_PALETTE,
    blinn_phong,
    face_normals,
    lambert,
    part_colors,
    part_labels,
    shade,
    vertex_normals,
)
from eft_jax.render.strip import figure_strip

__all__ = [
    "DEFAULT_COLOR",
    "PART_PALETTE",
    "Fragments",
    "PerspectiveCamera",
    "blinn_phong",
    "box_view_camera",
    "composite",
    "count_candidates",
    "crop_to_pixels",
    "default_capacity",
    "face_normals",
    "fit_panels",
    "figure_strip",
    "interpolate",
    "lambert",
    "overlay",
    "overlay_batch",
    "part_colors",
    "part_labels",
    "perspective_to_pixels",
    "project",
    "rasterize",
    "rasterize_batch",
    "render",
    "required_capacity",
    "shade",
    "side_panel",
    "side_view",
    "spin_perspective_camera",
    "vertex_normals",
    "weak_perspective_to_pixels",
    "weak_to_perspective_translation",
]

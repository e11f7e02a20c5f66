"""Cluttered procedural backgrounds and the shapes they (and occluders) are made of, numpy only.

    image = cluttered_background(rng, 128)          # (128, 128, 3) float32 in [0, 255]
    mask = shape_mask(shape, 128); fill = shape_fill(rng, 128)

A scene is one of: a room (a wall with a pattern, a floor of tiles or planks seen in perspective
below a random horizon), a street-like outdoor view (a sky gradient, block shapes for buildings,
a ground texture) or an abstract gradient; then 3-10 clutter shapes (rectangles, rotated
rectangles, ellipses, triangles, poles), each with a gradient, stripes or a plain fill in muted
colours, smooth colour noise, and a depth-of-field blur of up to 1.5 px at 128 px.
"""

from __future__ import annotations

import colorsys
from functools import lru_cache

import numpy as np

SHAPES = ("rect", "rotated_rect", "ellipse", "triangle", "pole")
MAX_BACKGROUND_BLUR = 1.5  # Gaussian sigma in pixels at 128 px, scaled with the image


@lru_cache(maxsize=4)
def _grid(size: int):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    xx.flags.writeable = yy.flags.writeable = False
    return xx, yy


def random_colour(rng, low: float = 0.1, high: float = 0.95) -> np.ndarray:
    """A muted colour (0-255) as scenes have: mostly low saturation, value in [low, high]."""
    value = rng.uniform(low, high)
    saturation = rng.uniform(0.0, 1.0) ** 2 * 0.8
    rgb = colorsys.hsv_to_rgb(rng.uniform(), saturation, value)
    return np.asarray(rgb, np.float32) * 255.0


def smooth_noise(rng, size: int, cells: int, amplitude: float, channels: int = 3) -> np.ndarray:
    """(size, size, channels) noise, bilinear between `cells` x `cells` random values."""
    coarse = rng.normal(0.0, amplitude, (cells + 1, cells + 1, channels)).astype(np.float32)
    pos = np.linspace(0.0, cells, size, dtype=np.float32)
    i0 = np.minimum(pos.astype(int), cells - 1)
    f = (pos - i0)[:, None]
    rows = coarse[i0] * (1 - f[..., None]) + coarse[i0 + 1] * f[..., None]
    return rows[:, i0] * (1 - f[None]) + rows[:, i0 + 1] * f[None]


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of an (H, W, C) or (H, W) float image, edges extended."""
    if sigma <= 0.05:
        return image
    radius = max(1, int(np.ceil(2.5 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    out = image
    for axis in (0, 1):
        pad = [(0, 0)] * image.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="edge")
        length = out.shape[axis]
        out = sum(
            w * np.take(padded, np.arange(k, k + length), axis=axis) for k, w in enumerate(taps)
        )
    return out.astype(np.float32)


def random_shape(rng, size: int, box=None) -> dict:
    """A shape in pixels: its kind and geometry, inside `box` (x0, y0, x1, y1) when given."""
    x0, y0, x1, y1 = (0.0, 0.0, float(size), float(size)) if box is None else box
    kind = SHAPES[rng.integers(len(SHAPES))]
    cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
    w = rng.uniform(0.1, 0.6) * (x1 - x0)
    h = rng.uniform(0.1, 0.6) * (y1 - y0)
    if kind == "pole":
        w, h = rng.uniform(0.02, 0.08) * size, rng.uniform(0.5, 1.5) * (y1 - y0)
    shape = {
        "kind": kind,
        "centre": (cx, cy),
        "half_size": (w / 2, h / 2),
        "angle": rng.uniform(0, np.pi) if kind in ("rotated_rect", "pole") else 0.0,
    }
    if kind == "triangle":
        shape["corners"] = np.stack([rng.uniform(x0, x1, 3), rng.uniform(y0, y1, 3)], axis=1)
    return shape


def shape_mask(shape: dict, size: int) -> np.ndarray:
    """(size, size) bool pixels inside the shape (pixel centres)."""
    xx, yy = _grid(size)
    cx, cy = shape["centre"]
    hw, hh = max(shape["half_size"][0], 0.5), max(shape["half_size"][1], 0.5)
    c, s = np.cos(shape["angle"]), np.sin(shape["angle"])
    u = (xx - cx) * c + (yy - cy) * s
    v = -(xx - cx) * s + (yy - cy) * c
    kind = shape["kind"]
    if kind == "ellipse":
        return (u / hw) ** 2 + (v / hh) ** 2 <= 1.0
    if kind == "triangle":
        p = shape["corners"]
        signs = [
            (p[(k + 1) % 3, 0] - p[k, 0]) * (yy - p[k, 1])
            - (p[(k + 1) % 3, 1] - p[k, 1]) * (xx - p[k, 0])
            for k in range(3)
        ]
        return np.all([sg >= 0 for sg in signs], axis=0) | np.all([sg <= 0 for sg in signs], axis=0)
    return (np.abs(u) <= hw) & (np.abs(v) <= hh)


def shape_fill(rng, size: int) -> np.ndarray:
    """(size, size, 3) fill: plain, a linear gradient or stripes, in random colours."""
    xx, yy = _grid(size)
    a, b = random_colour(rng), random_colour(rng)
    angle = rng.uniform(0, 2 * np.pi)
    along = (xx * np.cos(angle) + yy * np.sin(angle)) / size
    kind = rng.choice(3, p=[0.5, 0.35, 0.15])
    if kind == 0:
        return np.broadcast_to(a, (size, size, 3))
    if kind == 1:
        t = np.clip(along - along.min(), 0, 1)[..., None]
        return a * (1 - t) + b * t
    period = rng.uniform(0.03, 0.2)
    return np.where(((along / period) % 1.0 < 0.5)[..., None], a, b)


def _floor(rng, size: int, horizon: float) -> np.ndarray:
    """A tiled or planked floor below `horizon` (pixels) in perspective."""
    xx, yy = _grid(size)
    depth = size / np.maximum(yy - horizon, 0.5)  # ~ distance along the floor
    u = (xx - rng.uniform(0, size)) / size * depth
    v = depth + rng.uniform(0, 10)
    a = random_colour(rng, 0.2, 0.9)
    b = random_colour(rng, 0.2, 0.9) if rng.random() < 0.3 else a * rng.uniform(0.6, 0.95)
    tile = rng.uniform(0.3, 1.2)
    if rng.random() < 0.5:  # tiles
        odd = (np.floor(u / tile) + np.floor(v / tile)) % 2 == 1
    else:  # planks: long along v, offset per row
        row = np.floor(u / (tile * 0.3))
        odd = (np.floor(v / (tile * 2) + 0.37 * row) % 2 == 1) ^ (row % 2 == 1)
    floor = np.where(odd[..., None], a, b * rng.uniform(0.8, 1.0))
    fog = np.clip(depth / 15.0, 0, 1)[..., None]  # far away fades to the horizon's colour
    return floor * (1 - fog) + a * 0.5 * fog + b * 0.5 * fog


def cluttered_background(rng, size: int) -> np.ndarray:
    """(size, size, 3) float32 in [0, 255] (see the module docstring)."""
    xx, yy = _grid(size)
    scene = rng.choice(3, p=[0.5, 0.3, 0.2])
    top, bottom = random_colour(rng), random_colour(rng)
    t = (yy / size)[..., None]
    image = top * (1 - t) + bottom * t
    if scene == 0:  # room: wall and floor
        horizon = rng.uniform(0.25, 0.8) * size
        wall = shape_fill(rng, size) * rng.uniform(0.5, 1.0) + image * 0.3
        image = np.where((yy < horizon)[..., None], wall, _floor(rng, size, horizon))
    elif scene == 1:  # outdoors: sky, buildings, ground
        horizon = rng.uniform(0.3, 0.7) * size
        sky = np.asarray([rng.uniform(90, 200), rng.uniform(140, 220), rng.uniform(200, 255)])
        image = np.where((yy < horizon)[..., None], sky * (0.75 + 0.25 * t), image)
        for _ in range(int(rng.integers(2, 7))):
            w, h = rng.uniform(0.1, 0.4) * size, rng.uniform(0.1, 0.6) * size
            x = rng.uniform(-w / 2, size)
            block = (xx >= x) & (xx < x + w) & (yy >= horizon - h) & (yy < horizon + 2)
            image = np.where(block[..., None], shape_fill(rng, size), image)
        ground = random_colour(rng, 0.15, 0.7) + smooth_noise(rng, size, 16, 15, 1)
        image = np.where((yy >= horizon)[..., None], ground, image)
    for _ in range(int(rng.integers(3, 11))):
        mask = shape_mask(random_shape(rng, size), size)
        image = np.where(mask[..., None], shape_fill(rng, size), image)
    cells, amplitude = int(rng.integers(3, 12)), rng.uniform(3, 18)
    image = (
        image
        + smooth_noise(rng, size, cells, amplitude, 1)
        + smooth_noise(rng, size, cells, 0.3 * amplitude)
    )  # mostly brightness, a little colour
    sigma = rng.uniform(0.0, MAX_BACKGROUND_BLUR) * size / 128
    return np.clip(gaussian_blur(image.astype(np.float32), sigma), 0, 255)

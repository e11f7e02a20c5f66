"""Skin, hair and clothes for synthetic humans: regions of the body's surface, each with a
procedural pattern, drawn per sample and evaluated per pixel.

    outfit = random_outfit(rng, rest_vertices, rest_joints, part_labels)
    outfit.vertex_region          # (V,) index into REGIONS
    outfit.params                 # (len(REGIONS), NUM_PARAMS) pattern parameters per region
    albedo = texture(rest_points, region, outfit.params)      # per pixel, jit-able

Regions are cut on the rest (T-pose) body, so they follow it into every pose: a top (neckline,
hem and sleeve length drawn per sample; sometimes a dress reaching the thighs or knees), a bottom
(trousers, shorts or knee-length, from the waist), shoes (low to boot height; sometimes bare
feet), hair (none, short, long down the neck and upper back, or a hat) and skin everywhere else.

Patterns are functions of the rest-pose point under each pixel (metres), so they stay on the
body as it moves: solid, stripes (any direction, mostly horizontal), 3D checks, dots and a
smooth multi-sine print; two colours each, a period of 2.5 to 12 cm. Skin tones are drawn between
adjacent swatches of the Monk Skin Tone scale (Monk, 2019; the ten sRGB swatches Google
published with it in 2022), covering very light to very dark skin evenly; hair colours from
black through browns, auburn and blond to grey, with a few dyed.
"""

from __future__ import annotations

import colorsys
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from eft_jax.body.joint_sets import SMPL_JOINT_NAMES

REGIONS = ("skin", "hair", "top", "bottom", "shoes")
PATTERNS = ("solid", "stripes", "checks", "dots", "print")
# params: pattern, colour A (3), colour B (3), frequency (cycles / m), direction (3), phase,
# duty (fraction of a period in colour B), specular strength
NUM_PARAMS = 14

MONK_SKIN_TONES = (
    np.asarray(
        [
            [0xF6, 0xED, 0xE4],
            [0xF3, 0xE7, 0xDB],
            [0xF7, 0xEA, 0xD0],
            [0xEA, 0xDA, 0xBA],
            [0xD7, 0xBD, 0x96],
            [0xA0, 0x7E, 0x56],
            [0x82, 0x5C, 0x43],
            [0x60, 0x41, 0x34],
            [0x3A, 0x31, 0x2A],
            [0x29, 0x24, 0x20],
        ],
        np.float32,
    )
    / 255.0
)
HAIR_COLOURS = np.asarray(
    [
        [0.08, 0.06, 0.05],
        [0.20, 0.13, 0.08],
        [0.38, 0.26, 0.16],
        [0.50, 0.25, 0.13],
        [0.78, 0.62, 0.38],
        [0.62, 0.60, 0.58],
    ],
    np.float32,
)
NEUTRAL_CLOTH = np.asarray(
    [
        [0.08, 0.08, 0.09],
        [0.92, 0.92, 0.90],
        [0.45, 0.45, 0.47],
        [0.12, 0.16, 0.32],
        [0.78, 0.70, 0.55],
        [0.22, 0.32, 0.50],
        [0.35, 0.28, 0.20],
        [0.25, 0.30, 0.20],
    ],
    np.float32,
)
SPECULAR = {"skin": 0.12, "hair": 0.15, "top": 0.04, "bottom": 0.04, "shoes": 0.35}

_J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}
_PARTS = {
    "torso": ("pelvis", "spine1", "spine2", "spine3", "neck", "left_collar", "right_collar"),
    "arms": (
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_hand",
        "right_hand",
    ),
    "legs": (
        "pelvis",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
        "left_foot",
        "right_foot",
    ),
    "feet": ("left_ankle", "right_ankle", "left_foot", "right_foot"),
    "head": ("head", "neck"),
}


class Outfit(NamedTuple):
    vertex_region: np.ndarray  # (V,) int32 index into REGIONS
    params: np.ndarray  # (len(REGIONS), NUM_PARAMS) float32


def skin_tone(rng) -> np.ndarray:
    """A colour between two adjacent Monk swatches, with a slight random tint."""
    position = rng.uniform(0.0, len(MONK_SKIN_TONES) - 1)
    i = min(int(position), len(MONK_SKIN_TONES) - 2)
    t = position - i
    tone = MONK_SKIN_TONES[i] * (1 - t) + MONK_SKIN_TONES[i + 1] * t
    return np.clip(tone * rng.uniform(0.94, 1.06, 3), 0.0, 1.0)


def cloth_colour(rng) -> np.ndarray:
    """Half the time a neutral (black, white, grey, navy, beige, denim, ...), else any hue."""
    if rng.random() < 0.5:
        base = NEUTRAL_CLOTH[rng.integers(len(NEUTRAL_CLOTH))]
        return np.clip(base * rng.uniform(0.85, 1.15, 3), 0.0, 1.0)
    hue, sat, val = rng.uniform(), rng.uniform(0.3, 0.95), rng.uniform(0.25, 0.95)
    return np.asarray(colorsys.hsv_to_rgb(hue, sat, val))


def _pattern_params(
    rng, colour_a, colour_b, pattern: str, specular: float, frequency=(8.0, 40.0)
) -> np.ndarray:
    direction = np.asarray([0.0, 1.0, 0.0]) + rng.normal(0.0, 0.25, 3)
    if rng.random() < 0.3:  # some stripes run along the body, some diagonally
        direction = rng.normal(0.0, 1.0, 3)
    direction /= np.linalg.norm(direction)
    return np.concatenate(
        [
            [PATTERNS.index(pattern)],
            colour_a,
            colour_b,
            [rng.uniform(*frequency)],
            direction,
            [rng.uniform(0.0, 1.0), rng.uniform(0.2, 0.6), specular],
        ]
    ).astype(np.float32)


def _garment(rng, region: str) -> np.ndarray:
    pattern = PATTERNS[rng.choice(len(PATTERNS), p=[0.4, 0.25, 0.12, 0.1, 0.13])]
    colour_a = cloth_colour(rng)
    colour_b = cloth_colour(rng) if rng.random() < 0.7 else colour_a * rng.uniform(0.4, 0.8)
    return _pattern_params(rng, colour_a, colour_b, pattern, SPECULAR[region])


def _in_parts(labels, group: str) -> np.ndarray:
    return np.isin(labels, [_J[name] for name in _PARTS[group]])


def random_outfit(rng, rest_vertices, rest_joints, labels) -> Outfit:
    """Regions and patterns of one person (see the module docstring)."""
    v = np.asarray(rest_vertices)
    x, y, z = np.abs(v[:, 0]), v[:, 1], v[:, 2]
    j = np.asarray(rest_joints)
    joint_y = {
        name: j[_J[name], 1] for name in ("pelvis", "left_knee", "left_ankle", "neck", "head")
    }
    shoulder_x, elbow_x, wrist_x = (j[_J[f"left_{n}"], 0] for n in ("shoulder", "elbow", "wrist"))
    region = np.zeros(len(v), np.int32)  # skin
    params = np.zeros((len(REGIONS), NUM_PARAMS), np.float32)

    tone = skin_tone(rng)
    params[REGIONS.index("skin")] = _pattern_params(rng, tone, tone, "solid", SPECULAR["skin"])

    # bottom: from above the waist down to a hem
    leg_kind = rng.choice(3, p=[0.6, 0.25, 0.15])  # trousers, shorts, knee length
    knee, ankle = joint_y["left_knee"], joint_y["left_ankle"]
    hem = (
        ankle + rng.uniform(0.0, 0.06),
        knee + rng.uniform(0.05, 0.2),
        knee + rng.uniform(-0.12, 0.04),
    )[leg_kind]
    waist = joint_y["pelvis"] + rng.uniform(0.04, 0.12)
    region[_in_parts(labels, "legs") & (y <= waist) & (y >= hem)] = REGIONS.index("bottom")
    params[REGIONS.index("bottom")] = _garment(rng, "bottom")

    # top: neckline, hem, sleeves; a dress now and then
    dress = rng.random() < 0.12
    sleeve_end = (
        shoulder_x + rng.uniform(0.0, 0.04),
        shoulder_x + rng.uniform(0.3, 0.7) * (elbow_x - shoulder_x),
        elbow_x + rng.uniform(0.0, 0.5) * (wrist_x - elbow_x),
        wrist_x - rng.uniform(0.0, 0.03),
    )[rng.choice(4, p=[0.15, 0.4, 0.1, 0.35])]
    neckline = joint_y["neck"] - rng.uniform(0.0, 0.05) - (z > 0.0) * rng.uniform(0.0, 0.08)
    top_hem = (
        (knee + rng.uniform(-0.05, 0.25)) if dress else joint_y["pelvis"] + rng.uniform(-0.12, 0.06)
    )
    covered = _in_parts(labels, "torso") | (_in_parts(labels, "arms") & (x <= sleeve_end))
    if dress:
        covered |= _in_parts(labels, "legs")
    region[covered & (y <= neckline) & (y >= top_hem)] = REGIONS.index("top")
    params[REGIONS.index("top")] = _garment(rng, "top")

    # shoes
    if rng.random() < 0.95:
        shoe_top = ankle + rng.uniform(-0.02, 0.12)
        region[_in_parts(labels, "feet") & (y <= shoe_top)] = REGIONS.index("shoes")
        shoe = NEUTRAL_CLOTH[rng.integers(4)] if rng.random() < 0.7 else cloth_colour(rng)
        params[REGIONS.index("shoes")] = _pattern_params(
            rng, shoe, shoe * 0.6, "solid", SPECULAR["shoes"]
        )

    # hair: none, short, long, or a hat
    hair_kind = rng.choice(4, p=[0.08, 0.47, 0.33, 0.12])
    head_y, head_z = joint_y["head"], j[_J["head"], 2]
    face = z > head_z + 0.03
    hairline = head_y + np.where(face, rng.uniform(0.07, 0.11), rng.uniform(-0.06, 0.0))
    hair = _in_parts(labels, "head") & (y >= hairline)
    if hair_kind == 2:  # long: down the back of the neck and the upper back
        length = rng.uniform(0.05, 0.25)
        hair |= (
            (z < head_z - 0.01)
            & (y >= joint_y["neck"] - length)
            & (x < 0.12)
            & (_in_parts(labels, "head") | _in_parts(labels, "torso"))
        )
    if hair_kind == 3:  # a hat: the crown, above the ears all round
        hair = _in_parts(labels, "head") & (y >= head_y + rng.uniform(0.06, 0.1))
    if hair_kind:
        region[hair] = REGIONS.index("hair")
        if hair_kind == 3:
            params[REGIONS.index("hair")] = _garment(rng, "hair")
        else:
            colour = (
                HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))]
                if rng.random() < 0.95
                else cloth_colour(rng)
            )
            colour = np.clip(colour * rng.uniform(0.85, 1.15), 0.0, 1.0)
            params[REGIONS.index("hair")] = _pattern_params(  # locks: a soft, low-contrast print
                rng, colour, colour * 0.8, "print", SPECULAR["hair"], frequency=(30.0, 60.0)
            )
    return Outfit(region, params)


def texture(points, region, params):
    """Albedo (..., 3) of rest-pose points (..., 3) in `region` (...,) under `params`."""
    p = params[region]  # (..., NUM_PARAMS)
    kind = p[..., 0]
    colour_a, colour_b = p[..., 1:4], p[..., 4:7]
    frequency, direction = p[..., 7:8], p[..., 8:11]
    phase, duty = p[..., 11], p[..., 12]
    scaled = points * frequency
    along = jnp.sum(scaled * direction, axis=-1) + phase
    stripes = (along - jnp.floor(along)) < duty
    checks = jnp.sum(jnp.floor(scaled + phase[..., None]), axis=-1) % 2 == 1
    dots = jnp.linalg.norm(scaled - jnp.round(scaled), axis=-1) < 0.5 * duty
    print_ = (
        jnp.sin(along * 6.283)
        + jnp.sin(1.7 * jnp.sum(scaled * direction[..., ::-1], -1))
        + jnp.sin(2.3 * jnp.sum(scaled * direction[..., (1, 2, 0)], -1) + 3.0 * phase)
    ) > 0.4
    use_b = jnp.select(
        [kind == 1, kind == 2, kind == 3, kind == 4], [stripes, checks, dots, print_], False
    )
    return jnp.where(use_b[..., None], colour_b, colour_a)

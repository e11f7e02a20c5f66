"""Candidate quality signals measured and not kept (the study's README, "what was tried"): each
family beside the bundled signals, on validation fits alone, side by side with the 2D error.

    python -m experiments.quality.candidates        # writes experiments/quality/candidates.md

Reads the validation fits of fits.py (every style and keypoint setting cached) and no held-out
human. Each family's signals join the bundled ones in the same logistic regression, which is
scored by 5-fold cross-validation and by leave-clips-out inside the validation set (calibrated on
the humans of one half of the training clips, scored on the other half's, as study.py does with
the held-out humans); the figure is the score's AUROC less the 2D error's on the same fits.
The families:

- occlusion: a synthetic keypoint is left out where the body hides it (more than
  `DEPTH_TOLERANCE` behind its own surface), as annotators and detectors leave out many occluded
  joints, so the input says which joints are in front. Whether the fit's own body agrees, for the
  12 limb keypoints: hidden when the nearest of the fit's vertices within `RADIUS` of it in the
  image lies more than `DEPTH_TOLERANCE` in front (a point z-buffer); then the fraction of the
  given keypoints that the fit hides (`given_hidden`), the fraction of the left-out ones that it
  shows (`missing_shown`), and both counts.
- other method: the other method's fit of the same person (EFT's for SMPLify, SMPLify's for EFT)
  as a second hypothesis: how far apart their joints end after alignment (`other_pa`, metres),
  how far apart they face (`other_facing_deg`), and how many limb segments point the other way
  in depth (`other_depth_flips`).
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax import body
from eft_jax.body.joint_sets import OPENPOSE_INDICES_WITH_GT
from eft_jax.datasets.synthetic_body import DEPTH_TOLERANCE
from eft_jax.eval.keypoint_noise import KEYPOINT_NOISES
from eft_jax.eval.quality_calibration import auroc, fit_logistic
from eft_jax.fitting.quality import LIMB_KEYPOINTS, LIMB_SEGMENTS, QualitySignals, features
from eft_jax.geometry import similarity_align
from experiments.quality.study import (
    METHODS,
    STUDY,
    TITLES,
    clip_half,
    read_cache,
    setting_name,
    setting_of,
)

RADIUS = 0.03  # metres: a vertex this near a keypoint in the image covers it
FOLDS = 5
# The OpenPose slot of each of the 12 limb keypoints (`LIMB_KEYPOINTS`, the ground-truth set's):
# an input may give either.
_OPENPOSE_OF = {gt: op for op, gt in OPENPOSE_INDICES_WITH_GT}
LIMB_KEYPOINTS_OP = np.array([_OPENPOSE_OF[gt] for gt in LIMB_KEYPOINTS])
SEGMENTS = np.array(LIMB_SEGMENTS)  # thighs, shins, upper arms, forearms, in LSP-14's order
CHUNK = 100
_forward = jax.jit(body.forward)


def posed(model, fits: dict) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (N, V, 3), the 12 limb keypoints' joints (N, 12, 3)) of `fits`, in chunks."""
    vertices, joints = [], []
    for i in range(0, len(fits["betas"]), CHUNK):
        out = _forward(model, fits["rotmats"][i : i + CHUNK], fits["betas"][i : i + CHUNK])
        vertices.append(np.asarray(out.vertices))
        joints.append(np.asarray(out.spin49[:, LIMB_KEYPOINTS]))
    return np.concatenate(vertices), np.concatenate(joints)


def _depth_behind_surface(vertices, joints) -> np.ndarray:
    """(N, 12) how far each joint lies behind the nearest covering vertex (z away from the
    camera; -inf where no vertex covers it)."""
    out = []
    for v, p in zip(vertices, joints):
        near = np.sum((p[:, None, :2] - v[None, :, :2]) ** 2, -1) < RADIUS**2
        front = np.min(np.where(near, v[None, :, 2], np.inf), -1)
        out.append(p[:, 2] - front)
    return np.stack(out)


def occlusion(vertices, joints, keypoints: np.ndarray) -> dict[str, np.ndarray]:
    """The occlusion family's columns (transformed) for fits posed as `posed` gives them."""
    hidden = _depth_behind_surface(vertices, joints) > DEPTH_TOLERANCE
    given = np.maximum(keypoints[:, LIMB_KEYPOINTS, 2], keypoints[:, LIMB_KEYPOINTS_OP, 2]) > 0
    missing = ~given
    with np.errstate(invalid="ignore"):
        missing_shown = (missing & ~hidden).sum(-1) / missing.sum(-1)  # NaN when none missing
    return {
        "given_hidden": (given & hidden).sum(-1) / np.maximum(given.sum(-1), 1),
        "missing_shown": missing_shown,
        "given_hidden_count": np.log1p((given & hidden).sum(-1)),
        "missing_hidden_count": np.log1p((missing & hidden).sum(-1)),
    }


def other_method(joints, others, per: dict, other: dict) -> dict[str, np.ndarray]:
    """The other-method family's columns (transformed): `per`'s fits (their limb joints
    `joints`) against `other`'s (`others`)."""
    aligned = np.asarray(similarity_align(jnp.asarray(others), jnp.asarray(joints)))
    forward, other_forward = per["rotmats"][:, 0, :, 2], other["rotmats"][:, 0, :, 2]
    cosine = np.sum(forward * other_forward, -1) / (
        np.linalg.norm(forward, axis=-1) * np.linalg.norm(other_forward, axis=-1)
    )

    def depth_direction(j):
        segment = j[:, SEGMENTS[:, 1]] - j[:, SEGMENTS[:, 0]]
        return segment[..., 2] / np.linalg.norm(segment, axis=-1)

    a, b = depth_direction(joints), depth_direction(others)
    flips = (np.sign(a) != np.sign(b)) & (np.abs(a) > 0.3) & (np.abs(b) > 0.3)
    return {
        "other_pa": np.log(np.linalg.norm(aligned - joints, axis=-1).mean(-1) + 1e-3),
        "other_facing_deg": np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))),
        "other_depth_flips": np.log1p(flips.sum(-1)),
    }


FAMILIES = ("occlusion", "other method")


def validation_fits(model, signals_of) -> list[dict]:
    """Per cached validation setting: its name, clips, and per method the bad fits, 2D errors,
    the bundled signals' features and each family's columns."""
    settings = []
    for style in ("basic", "lifelike"):
        for noise in KEYPOINT_NOISES:
            stem = f"validation_{style}_{noise}"
            data = read_cache(stem)
            if data is None:
                continue
            setting = setting_of(data, signals_of)
            fits = setting["methods"]
            bodies = {m: posed(model, fits[m]) for m in METHODS}
            methods = {}
            for m in METHODS:
                other = METHODS[1 - METHODS.index(m)]
                methods[m] = {
                    "bad": fits[m]["bad"],
                    "error_2d_px": fits[m]["error_2d_px"],
                    "bundled": features(fits[m]["signals"]),
                    "occlusion": occlusion(*bodies[m], data["keypoints"]),
                    "other method": other_method(
                        bodies[m][1], bodies[other][1], fits[m], fits[other]
                    ),
                }
            name = setting_name(style, noise)
            settings.append({"name": name, "clip": setting["clip"], "methods": methods})
    return settings


def held_out_scores(x: np.ndarray, bad: np.ndarray, splits) -> np.ndarray:
    """Each fit's score from the calibration fitted without it: `splits` lists (train, test)
    masks; fits in no test mask stay NaN."""
    score = np.full(len(bad), np.nan)
    names = tuple(f"f{i}" for i in range(x.shape[1]))
    for train, test in splits:
        score[test] = fit_logistic(x[train], bad[train], names).score_features(x[test])
    return score


def gains(settings: list[dict], method: str, family: str | None) -> dict[str, dict[str, float]]:
    """{protocol: {setting or "all": the score's AUROC less the 2D error's}}."""
    per = [s["methods"][method] for s in settings]
    columns = [p["bundled"] for p in per]
    if family is not None:
        columns = [np.column_stack([c, *p[family].values()]) for c, p in zip(columns, per)]
    x = np.concatenate(columns)
    bad = np.concatenate([p["bad"] for p in per])
    by_2d = -np.concatenate([p["error_2d_px"] for p in per])
    setting = np.concatenate([[s["name"]] * len(s["clip"]) for s in settings])
    halves = np.array([clip_half(c) for s in settings for c in s["clip"]], dtype=object)
    folds = np.random.default_rng(0).permutation(len(bad)) % FOLDS
    protocols = {
        f"{FOLDS}-fold": [(folds != k, folds == k) for k in range(FOLDS)],
        "leave-clips-out": [(halves == 1 - h, halves == h) for h in (0, 1)],
    }
    out = {}
    for protocol, splits in protocols.items():
        score = held_out_scores(x, bad, splits)
        scored = np.isfinite(score)
        out[protocol] = {}
        for name in ("all", *dict.fromkeys(setting)):
            keep = scored if name == "all" else scored & (setting == name)
            out[protocol][name] = auroc(score[keep], bad[keep]) - auroc(by_2d[keep], bad[keep])
    return out


def main() -> int:
    model = body.load()
    settings = validation_fits(model, QualitySignals(model))
    names = [s["name"] for s in settings]
    lines = [
        "# Candidate signals on validation fits",
        "",
        f"The score's AUROC less the 2D error's, on the validation fits ({'; '.join(names)}: "
        f"{sum(len(s['clip']) for s in settings)} humans), calibrated without the fits it "
        "scores: the bundled signals alone and with each candidate family "
        "(`experiments/quality/candidates.py`'s docstring).",
        "",
        f"| method | signals | protocol | all | {' | '.join(names)} |",
        f"|---|---|---|---:|{'---:|' * len(names)}",
    ]
    for m in METHODS:
        for family in (None, *FAMILIES):
            for protocol, by_setting in gains(settings, m, family).items():
                label = "bundled" if family is None else f"bundled + {family}"
                values = " | ".join(f"{v:+.3f}" for v in by_setting.values())
                lines.append(f"| {TITLES[m]} | {label} | {protocol} | {values} |")
    lines += ["", "Command: `python -m experiments.quality.candidates`", ""]
    text = "\n".join(lines)
    (STUDY / "candidates.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

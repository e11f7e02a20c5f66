"""A regressor run once over a benchmark's crops and scored by an evaluator (`eft-jax evaluate`),
and pictures of the exemplars it got most wrong.

    run = run_regressor(source, loaded.regressor, loaded.variables, evaluator, batch_size=32)
    run.per["pa_mpjpe_mm"], run.order, run.groups     # scores of the scored exemplars, in order
    draw_worst(source, model, run, run.per["pa_mpjpe_mm"], "out/", count=8)

Every crop is SPIN's at the regressor's input size, with no augmentation (`eval.benchmark_sources`).
An exemplar is skipped with its reason when its reader skips it, its truth cannot be scored
(`evaluator.truth_problem`) or the regressor's prediction is not finite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
import numpy as np

from eft_jax import body, render
from eft_jax.datasets.people import DatasetError
from eft_jax.eval.benchmark_sources import Source
from eft_jax.formats.exemplar import Exemplar, Skip
from eft_jax.formats.images import save_png
from eft_jax.geometry.crops import denormalize_image
from eft_jax.nets import predictor
from eft_jax.progress import Progress


@dataclasses.dataclass
class BenchmarkRun:
    """The scored exemplars' ids (`order`) and groups, their scores (`per`: score -> (N,) array)
    and the regressor's predictions (`rotmats`, `betas`, `cameras`), in that order; the skipped
    exemplars with their reasons."""

    order: list[str]
    groups: list[str]
    per: dict
    predictions: dict
    skipped: list[dict]


def _batches(items: Iterator, size: int, on_skip: Callable) -> Iterator[list[Exemplar]]:
    batch = []
    for item in items:
        if isinstance(item, Skip):
            on_skip(item)
            continue
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _predictor(regressor, variables, batch_size: int):
    """images (n <= batch_size, S, S, 3) -> (rotmats, betas, cameras) as numpy; batches are padded
    to batch_size so one program serves every batch."""
    apply = predictor(regressor, variables)

    def predict(images):
        count = len(images)
        padded = np.concatenate(
            [images, np.zeros((batch_size - count, *images.shape[1:]), images.dtype)]
        )
        out = jax.device_get(apply(padded))
        return out.rotmats[:count], out.betas[:count], out.camera[:count]

    return predict


def _score_batch(evaluator, batch, rotmats, betas, cameras, truth, size: int) -> dict:
    """Scores of a batch, padded to `size` (repeating its last exemplar) so that every batch runs
    one compiled program."""
    count = len(batch)
    pad = lambda a: np.concatenate([a, np.repeat(a[-1:], size - count, axis=0)])  # noqa: E731
    batch = batch + [batch[-1]] * (size - count)
    rotmats, betas, cameras = pad(rotmats), pad(betas), pad(cameras)
    keypoints = np.stack([e.keypoints for e in batch])
    records = [truth[str(e.id)] for e in batch]
    scores = evaluator.scores(rotmats, betas, cameras, keypoints, records)
    return {key: value[:count] for key, value in scores.items()}


def run_regressor(source: Source, regressor, variables, evaluator, batch_size: int) -> BenchmarkRun:
    """Predict every exemplar of `source` in batches of `batch_size` and score the predictions
    with `evaluator`; raises DatasetError when every exemplar was skipped."""
    predict = _predictor(regressor, variables, batch_size)
    skipped, order, parts = [], [], []
    predictions = {"rotmats": [], "betas": [], "cameras": []}
    progress = Progress(total=len(source.ids))

    def skip(item, reason=None):
        skipped.append({"id": item.id, "reason": reason or item.reason})
        progress.update()

    for batch in _batches(source.exemplars(None), batch_size, skip):
        problems = {str(e.id): evaluator.truth_problem(source.truth.get(str(e.id))) for e in batch}
        for e in batch:
            if problems[str(e.id)]:
                skip(Skip(e.id, problems[str(e.id)], e.annot_id, e.image_name))
        batch = [e for e in batch if not problems[str(e.id)]]
        if not batch:
            continue
        rotmats, betas, cameras = predict(np.stack([e.image for e in batch]))
        finite = (
            np.all(np.isfinite(rotmats), axis=(1, 2, 3))
            & np.all(np.isfinite(betas), 1)
            & np.all(np.isfinite(cameras), 1)
        )
        for e in (e for e, ok in zip(batch, finite) if not ok):
            skip(
                Skip(
                    e.id,
                    "the regressor's prediction has NaN or infinite values",
                    e.annot_id,
                    e.image_name,
                )
            )
        batch = [e for e, ok in zip(batch, finite) if ok]
        if not batch:
            continue
        rotmats, betas, cameras = rotmats[finite], betas[finite], cameras[finite]
        parts.append(
            _score_batch(evaluator, batch, rotmats, betas, cameras, source.truth, batch_size)
        )
        order += [str(e.id) for e in batch]
        for e in batch:  # scored: its truth (a synthetic human's mesh) is no longer needed
            source.truth.pop(str(e.id), None)
        for key, value in zip(("rotmats", "betas", "cameras"), (rotmats, betas, cameras)):
            predictions[key].append(value)
        progress.update(len(batch))
    progress.close()
    if not order:
        raise DatasetError(
            f"nothing to score: every one of the {len(source.ids)} exemplars was skipped, e.g. {skipped[:1]}"
        )

    per = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    predictions = {key: np.concatenate(value) for key, value in predictions.items()}
    groups = [source.groups[i] for i in order]
    return BenchmarkRun(order, groups, per, predictions, skipped)


def draw_worst(
    source: Source, model, run: BenchmarkRun, scores, out_dir: Path, count: int
) -> list[str]:
    """`worst/NN_<id>.png` in `out_dir` for the `count` exemplars of largest `scores` (in
    `run.order`): [crop | the prediction over the crop | side view]; the paths written, worst
    first."""
    order, predictions = run.order, run.predictions
    worst = [order[i] for i in np.argsort(-scores)[:count]]
    rank = {id_: n for n, id_ in enumerate(worst)}
    forward = jax.jit(body.forward)
    faces = np.asarray(model.faces)
    written = [None] * len(worst)
    for exemplar in source.exemplars(set(worst)):
        if isinstance(exemplar, Skip) or str(exemplar.id) not in rank:
            continue
        index = order.index(str(exemplar.id))
        vertices = np.asarray(
            forward(model, predictions["rotmats"][index], predictions["betas"][index]).vertices
        )
        panels = render.fit_panels(
            denormalize_image(exemplar.image), vertices, faces, predictions["cameras"][index]
        )
        n = rank[str(exemplar.id)]
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(exemplar.id))
        written[n] = str(save_png(out_dir / "worst" / f"{n + 1:02d}_{safe}.png", panels))
    return [w for w in written if w]

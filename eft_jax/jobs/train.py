"""`eft-jax train`: train an HMR regressor on a mixture of sources (configs/train_synthetic.py).

Sources (`config.sources`, each with a `weight`; 0 leaves it out; `train/sources.py` for what each
contributes):

- `synthetic`: synthetic humans with full 3D truth (the tensorflow-datasets builder, rendered once);
- `fits`: pseudo ground truth, an EFT JSON written by `eft-jax fit` or `eft-jax smplify`, with the
  crops that fit was made on: `crops` (an exemplar .npz), `tfds` (a prepared people dataset) or
  `dataset` + `root` (+ `split`, `selection`), exactly as given to `fit`;
- `spin_npz`: SPIN's training .npz (`file`) and the images folder it names (`images`): Human3.6M's
  with `S` and, when the user has them, `pose` / `shape`, or the one `eft-jax fit --spin-npz` writes;
- `keypoints`: 2D keypoints only, from crops given as for `fits`.

Crops of the non-synthetic sources are read once at the start into memory at the training image
size (S x S x 3 bytes each); people a reader cannot crop are counted as skipped in the log's header.
With one source the batches are today's epochs of that source; with several, each sample picks its
source by weight (`train/batches.py`). Validation is always the synthetic held-out split.

In `config.workdir` it writes:

- `checkpoints/<step>/`: resumable training state (orbax; the last two kept; the discriminator's
  weights and optimiser state too with `adversarial.weight` > 0). Running the same command again
  resumes from the newest one and, since the batch of step k depends only on (seed, k), continues
  exactly as the uninterrupted run would have;
- `train_log.jsonl`: a header line (config, sources, architecture), then one line per `log_every`
  steps (loss terms, learning rate, images/s) and one per evaluation (the evaluator's summary on
  the held-out split, and the mean pose's MPJPE). On resume, lines past the restored step are dropped;
- `regressor/`: the final weights as an eft-jax regressor checkpoint (`nets.restore_regressor`),
  whose record also holds the input size and the final evaluation;
- `evaluation.json`: that final evaluation.

`init_from` starts from a regressor checkpoint's weights (same architecture; fresh optimiser). The
trained regressor predicts parameters of the bundled open body model.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from eft_jax import body, nets
from eft_jax.config import ConfigError
from eft_jax.datasets.people import iter_exemplars
from eft_jax.datasets.spin_npz import load_spin_npz, read_spin_npz
from eft_jax.datasets.synthetic_tfds import builder_for
from eft_jax.fitting.inputs import FitInputs, read_inputs
from eft_jax.formats.eft_json import read_eft_json
from eft_jax.formats.exemplar import Skip, exemplar_problem
from eft_jax.geometry.crops import denormalize_image, normalize_image
from eft_jax.progress import format_duration, note
from eft_jax.train.adversarial import MocapPrior
from eft_jax.train.batches import MixtureBatches, TrainBatches, read_samples
from eft_jax.train.sources import (
    ArraySource,
    SyntheticSource,
    TrainingDataError,
    fits_targets,
    spin_npz_targets,
)
from eft_jax.train.trainer import Trainer, check_finite, learning_rate_schedule

SOURCE_KINDS = ("synthetic", "fits", "spin_npz", "keypoints")
DISCRIMINATOR_INIT = (
    2**31 - 1
)  # folded into the seed's key for the discriminator's weights (steps fold in 0, 1, ...)


# Synthetic humans rendered per second at 128 px on one CPU core (41,000 took about 16 min),
# for the time the first run announces; a pixel count as large takes as much longer.
RENDERED_PER_SECOND = 40


def _synthetic_builder(config: ml_collections.ConfigDict):
    data = config.data
    builder = builder_for(
        data.image_size, data.num_train, data.num_validation, data.data_dir, style=data.style
    )
    if not Path(builder.data_dir).joinpath("dataset_info.json").exists():
        count = data.num_train + data.num_validation
        seconds = count / RENDERED_PER_SECOND * (data.image_size / 128) ** 2
        note(
            f"eft-jax train: rendering {data.num_train} + {data.num_validation} synthetic humans "
            f"once (about {max(1, round(seconds / 60))} min at {data.image_size} px) into "
            f"{builder.data_dir}; later runs reuse them"
        )
    builder.download_and_prepare()
    return builder


def _crops(spec: ml_collections.ConfigDict, size: int, wanted=None):
    """(ids, uint8 crops (N, size, size, 3), keypoints (N, 49, 3), skip records, description) of the
    crop input `spec` names (as `eft-jax fit` takes it); with `wanted`, those ids, every one of
    which must be among the crops."""
    inputs = FitInputs(
        crops_npz=Path(spec.crops) if spec.crops else None,
        dataset="tfds" if spec.tfds else spec.dataset,
        root=Path(spec.tfds or spec.root) if (spec.tfds or spec.root) else None,
        split=spec.split,
        selection=spec.selection,
    )
    stream = read_inputs(inputs)
    if wanted is None:
        wanted = set(stream.order)
    missing = set(wanted) - set(stream.order)
    if missing:
        raise TrainingDataError(
            f"{len(missing)} fitted exemplars are not among the crops of {stream.description} "
            f"(e.g. {sorted(missing)[:3]}); give the crops the fit was made on"
        )
    ids, images, keypoints, skipped = [], [], [], []
    for item in stream.exemplars(wanted, size):
        problem = None if isinstance(item, Skip) else exemplar_problem(item.image, item.keypoints)
        if problem is not None:
            item = Skip(item.id, problem, item.annot_id, item.image_name)
        if isinstance(item, Skip):
            skipped.append(item)
            continue
        ids.append(str(item.id))
        images.append(_crop_resized_bilinear(denormalize_image(item.image), size))
        keypoints.append(np.asarray(item.keypoints, np.float32))
    if not ids:
        raise TrainingDataError(f"{stream.description}: no usable crops ({len(skipped)} skipped)")
    return ids, np.stack(images), np.stack(keypoints), skipped, stream.description


def _crop_resized_bilinear(crop: np.ndarray, size: int) -> np.ndarray:
    """A square uint8 crop at `size` px by PIL's bilinear resize, as the regressor trains on it
    (crop keypoints are in [-1, 1], so they need no change)."""
    if crop.shape[0] == size:
        return crop
    from PIL import Image

    return np.asarray(Image.fromarray(crop).resize((size, size), Image.BILINEAR), np.uint8)


def _fits_source(spec, size: int, model: body.BodyModel) -> tuple[ArraySource, dict]:
    if not spec.file:
        raise ConfigError("sources.fits needs file=<EFT JSON written by eft-jax fit or smplify>")
    targets = fits_targets(read_eft_json(spec.file), model.kind, str(spec.file))
    ids, images, keypoints, skipped, where = _crops(spec, size, wanted=set(targets))
    rotmats = np.stack([targets[i]["rotmats"] for i in ids])
    betas = np.stack([targets[i]["betas"] for i in ids])
    description = f"fits {spec.file} on {where}"
    return ArraySource(images, keypoints, rotmats=rotmats, betas=betas, description=description), {
        "description": description,
        "skipped": len(skipped),
    }


def _spin_npz_source(spec, size: int, model: body.BodyModel) -> tuple[ArraySource, dict]:
    if not spec.file or not spec.images:
        raise ConfigError(
            "sources.spin_npz needs file=<SPIN .npz> and images=<the folder its imgname are relative to>"
        )
    arrays = load_spin_npz(spec.file)
    targets = spin_npz_targets(arrays, model.kind, str(spec.file))
    rows, images, keypoints, skipped = [], [], [], 0
    for item in iter_exemplars(read_spin_npz(spec.file), spec.images, crop_size=size):
        if isinstance(item, Skip):
            skipped += 1
            continue
        rows.append(int(item.id))
        images.append(denormalize_image(item.image))
        keypoints.append(item.keypoints)
    if not rows:
        raise TrainingDataError(f"{spec.file}: no usable rows ({skipped} skipped)")
    rows = np.asarray(rows)
    with_smpl, with_3d = (
        int(targets["has_smpl"][rows].sum()),
        int(targets["has_pose_3d"][rows].sum()),
    )
    description = f"SPIN npz {spec.file} (images {spec.images}): {with_smpl} with pose and shape, {with_3d} with 3D joints"
    source = ArraySource(
        np.stack(images),
        np.stack(keypoints),
        rotmats=targets["rotmats"][rows],
        betas=targets["betas"][rows],
        has_smpl=targets["has_smpl"][rows],
        joints3d=targets["joints3d"][rows],
        joints3d_confidence=targets["joints3d_confidence"][rows],
        has_pose_3d=targets["has_pose_3d"][rows],
        description=description,
    )
    return source, {"description": description, "skipped": skipped}


def _keypoints_source(spec, size: int, model: body.BodyModel) -> tuple[ArraySource, dict]:
    del model
    _, images, keypoints, skipped, where = _crops(spec, size)
    description = f"2D keypoints of {where}"
    return ArraySource(images, keypoints, description=description), {
        "description": description,
        "skipped": len(skipped),
    }


def _sources(
    config: ml_collections.ConfigDict, builder, model: body.BodyModel
) -> tuple[list, list[float], list[dict]]:
    """The sources with a positive weight: (sources, weights, a record of each for the log)."""
    unknown = set(config.sources.keys()) - set(SOURCE_KINDS)
    if unknown:
        raise ConfigError(f"unknown sources {sorted(unknown)}; known: {SOURCE_KINDS}")
    size = int(config.data.image_size)
    build = {"fits": _fits_source, "spin_npz": _spin_npz_source, "keypoints": _keypoints_source}
    sources, weights, records = [], [], []
    for kind in SOURCE_KINDS:
        weight = float(config.sources[kind].weight)
        if weight < 0:
            raise ConfigError(f"sources.{kind}.weight must be at least 0; got {weight}")
        if weight == 0:
            continue
        if kind == "synthetic":
            source = SyntheticSource(builder.as_data_source("train"), model.spin49_available)
            record = {"description": f"{builder.name}/{builder.builder_config.name}", "skipped": 0}
        else:
            source, record = build[kind](config.sources[kind], size, model)
        sources.append(source)
        weights.append(weight)
        records.append({"source": kind, "weight": weight, "samples": len(source), **record})
    if not sources:
        raise ConfigError("every source has weight 0; give at least one a positive weight")
    return sources, weights, records


def _batches(
    config: ml_collections.ConfigDict, sources: list, weights: list[float]
) -> TrainBatches:
    extra = None
    if float(config.adversarial.weight) > 0:
        prior = MocapPrior(config.seed, config.adversarial.joint_noise)
        extra = prior.sample
    if len(sources) == 1:
        return TrainBatches(
            sources[0], config.batch_size, config.seed, config.data.color_noise, extra=extra
        )
    return MixtureBatches(
        sources, weights, config.batch_size, config.seed, config.data.color_noise, extra=extra
    )


def _initial_variables(
    config: ml_collections.ConfigDict, regressor: nets.Regressor, arch, size: int
) -> dict:
    if not config.init_from:
        return regressor.init(jax.random.key(config.seed), size)
    restored = nets.restore_regressor(config.init_from, expected_arch=arch)
    trained = nets.trained_crop_size(restored.record)
    if trained != size:
        raise ConfigError(
            f"init_from {config.init_from} was trained at {trained} px, this run trains at {size} px"
        )
    return restored.variables


def _truncate_log(path: Path, last_step: int) -> None:
    """Drop the lines a crashed run logged after its last checkpoint."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by the interruption
        if record.get("step", 0) <= last_step:
            kept.append(line)
    path.write_text("".join(line + "\n" for line in kept))


def _append(path: Path, record: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def run_train(config: ml_collections.ConfigDict) -> Path:
    start_time = time.perf_counter()
    workdir = Path(config.workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "train_log.jsonl"

    model = body.load()
    builder = _synthetic_builder(config)
    sources, weights, source_records = _sources(config, builder, model)
    arch = nets.RegressorArch.reduced(config.model.depth, config.model.width_divisor)
    regressor = nets.Regressor(arch, nets.bundled_mean_params())
    trainer = Trainer(regressor, model, config)
    size = int(config.data.image_size)

    validation_source = builder.as_data_source("validation")
    validation = read_samples(validation_source, range(len(validation_source)))
    validation["images"] = normalize_image(validation["image"])
    batches = _batches(config, sources, weights)

    def initial_state(variables):
        return trainer.init_state(
            variables, jax.random.fold_in(jax.random.key(config.seed), DISCRIMINATOR_INIT)
        )

    options = ocp.CheckpointManagerOptions(max_to_keep=2, save_interval_steps=1)
    with ocp.CheckpointManager(workdir / "checkpoints", options=options) as manager:
        latest = manager.latest_step()
        if latest is None:
            state = initial_state(_initial_variables(config, regressor, arch, size))
            log_path.unlink(missing_ok=True)
            _append(
                log_path,
                {
                    "step": 0,
                    "kind": "header",
                    "config": config.to_dict(),
                    "dataset": f"{builder.name}/{builder.builder_config.name}",
                    "sources": source_records,
                    "devices": trainer.mesh.devices.size,
                    "arch": arch.to_record(),
                    "parameters": int(sum(x.size for x in jax.tree.leaves(state.params))),
                },
            )
        else:
            abstract_state = jax.eval_shape(initial_state, regressor.abstract_variables(size))
            state = trainer.replicate(
                manager.restore(latest, args=ocp.args.StandardRestore(abstract_state))
            )
            _truncate_log(log_path, latest)
            note(f"eft-jax train: resuming from step {latest} ({workdir / 'checkpoints'})")

        first_step = int(state.step)
        total = int(config.total_steps)
        schedule = learning_rate_schedule(config)
        mixture = ", ".join(
            f"{r['source']} {r['weight']:g} ({r['samples']} samples)" for r in source_records
        )
        note(
            f"eft-jax train: ResNet-{config.model.depth}/{config.model.width_divisor} at {size} px, "
            f"batch {config.batch_size} over {trainer.mesh.devices.size} device(s), steps {first_step}..{total}, "
            f"sources: {mixture}; on {jax.default_backend()}"
        )
        window_start, window_terms = time.perf_counter(), []
        scores = None  # the latest held-out evaluation; the last step always makes one
        for step, batch in enumerate(batches.iterate(first_step, total), start=first_step):
            rng = jax.random.fold_in(jax.random.key(config.seed), step)
            state, terms = trainer.step(state, trainer.shard(batch), rng)
            window_terms.append(terms)
            done = step + 1
            if done % config.log_every == 0 or done % config.checkpoint_every == 0 or done == total:
                check_finite(window_terms, done - len(window_terms) + 1, done)
            if done % config.log_every == 0 or done == total:
                terms = jax.tree.map(lambda *xs: float(np.mean(xs)), *window_terms)
                elapsed = time.perf_counter() - window_start
                rate = len(window_terms) * config.batch_size / elapsed
                record = {"step": done, "lr": float(schedule(step)), "images_per_s": round(rate, 1)}
                record.update({k: round(v, 6) for k, v in vars(terms).items() if v is not None})
                _append(log_path, record)
                eta = format_duration((total - done) * config.batch_size / rate)
                note(
                    f"step {done}/{total} loss {terms.total:.4f} (2d {terms.keypoints_2d:.5f} "
                    f"3d {terms.keypoints_3d:.5f} pose {terms.pose:.4f}) {rate:.0f} img/s ETA {eta}"
                )
                window_start, window_terms = time.perf_counter(), []
            if done % config.eval_every == 0 or done == total:
                scores = trainer.evaluate(state.variables, validation)
                _append(log_path, {"step": done, "kind": "evaluation", **scores})
                note(
                    f"  held-out: MPJPE {scores['mpjpe_mm']:.1f} mm, PA-MPJPE {scores['pa_mpjpe_mm']:.1f} mm, "
                    f"2D {scores['mean_2d_px']:.1f} px (mean pose {scores['mean_pose_mpjpe_mm']:.1f} / "
                    f"{scores['mean_pose_pa_mpjpe_mm']:.1f} mm)"
                )
            if done % config.checkpoint_every == 0 or done == total:
                manager.save(done, args=ocp.args.StandardSave(state))
        manager.wait_until_finished()

    if scores is None:  # the run had already finished: nothing was trained, so evaluate here
        scores = trainer.evaluate(state.variables, validation)
    record = regressor.config_record()
    record.update(
        {
            "image_size": size,
            "body_model_kind": model.kind,
            "source": f"eft-jax train, {mixture}, {total} steps",
            "evaluation": scores,
        }
    )
    out_dir = nets.save_regressor(
        workdir / "regressor", jax.device_get(state.variables), record, overwrite=True
    )
    (workdir / "evaluation.json").write_text(json.dumps(scores, indent=1) + "\n")
    print(
        f"eft-jax train: wrote {out_dir} ({format_duration(time.perf_counter() - start_time)}); "
        f"held-out MPJPE {scores['mpjpe_mm']:.1f} mm, PA-MPJPE {scores['pa_mpjpe_mm']:.1f} mm "
        f"(mean pose {scores['mean_pose_mpjpe_mm']:.1f} / {scores['mean_pose_pa_mpjpe_mm']:.1f}); log {log_path}"
    )
    return out_dir

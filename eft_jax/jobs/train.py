"""`eft-jax train`: train an HMR regressor on synthetic humans (configs/train_synthetic.py).

In `config.workdir` it writes:

- `checkpoints/<step>/`: resumable training state (orbax; the last two kept). Running the same
  command again resumes from the newest one and, since the batch of step k depends only on
  (seed, k), continues exactly as the uninterrupted run would have;
- `train_log.jsonl`: a header line (config, data, architecture), then one line per `log_every`
  steps (loss terms, learning rate, images/s) and one per evaluation (MPJPE / PA-MPJPE on the
  held-out split, and the mean pose's). On resume, lines past the restored step are dropped;
- `regressor/`: the final weights as an eft-jax regressor checkpoint (`nets.restore_regressor`),
  whose record also holds the input size and the final evaluation;
- `evaluation.json`: that final evaluation.

Synthetic humans are bodies of the bundled open model, so the trained regressor predicts that
model's parameters.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from eft_jax import body, nets
from eft_jax.geometry.crops import normalize_image
from eft_jax.datasets.synthetic_tfds import builder_for
from eft_jax.progress import format_duration
from eft_jax.train.batches import TrainBatches, read_samples
from eft_jax.train.trainer import Trainer, learning_rate_schedule


def _datasets(config: ml_collections.ConfigDict):
    data = config.data
    builder = builder_for(data.image_size, data.num_train, data.num_validation, data.data_dir)
    if not Path(builder.data_dir).joinpath("dataset_info.json").exists():
        print(
            f"eft-jax train: rendering the synthetic dataset once ({data.num_train} + {data.num_validation}"
            f" samples at {data.image_size} px) into {builder.data_dir}",
            file=sys.stderr,
        )
    builder.download_and_prepare()
    return builder, builder.as_data_source("train"), builder.as_data_source("validation")


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

    builder, train_source, validation_source = _datasets(config)
    model = body.load()
    arch = nets.RegressorArch.reduced(config.model.depth, config.model.width_divisor)
    regressor = nets.Regressor(arch, nets.bundled_mean_params())
    trainer = Trainer(regressor, model, config)
    size = int(config.data.image_size)

    validation = read_samples(validation_source, range(len(validation_source)))
    validation_images = normalize_image(validation["image"])
    batches = TrainBatches(train_source, config.batch_size, config.seed, config.data.color_noise)

    abstract_state = jax.eval_shape(trainer.init_state, regressor.abstract_variables(size))
    options = ocp.CheckpointManagerOptions(max_to_keep=2, save_interval_steps=1)
    with ocp.CheckpointManager(workdir / "checkpoints", options=options) as manager:
        latest = manager.latest_step()
        if latest is None:
            state = trainer.init_state(regressor.init(jax.random.key(config.seed), size))
            log_path.unlink(missing_ok=True)
            _append(
                log_path,
                {
                    "step": 0,
                    "kind": "header",
                    "config": config.to_dict(),
                    "dataset": f"{builder.name}/{builder.builder_config.name}",
                    "arch": arch.to_record(),
                    "parameters": int(sum(x.size for x in jax.tree.leaves(state.params))),
                },
            )
        else:
            state = manager.restore(latest, args=ocp.args.StandardRestore(abstract_state))
            _truncate_log(log_path, latest)
            print(f"eft-jax train: resuming from step {latest} ({workdir / 'checkpoints'})", file=sys.stderr)

        first_step = int(state.step)
        total = int(config.total_steps)
        schedule = learning_rate_schedule(config)
        print(
            f"eft-jax train: ResNet-{config.model.depth}/{config.model.width_divisor} at {size} px, "
            f"batch {config.batch_size}, steps {first_step}..{total}, {len(train_source)} training samples, "
            f"on {jax.default_backend()}",
            file=sys.stderr,
        )
        window_start, window_terms = time.perf_counter(), []
        scores = None  # the latest held-out evaluation; the last step always makes one
        for step, batch in enumerate(batches.iterate(first_step, total), start=first_step):
            rng = jax.random.fold_in(jax.random.key(config.seed), step)
            state, terms = trainer.step(state, batch, rng)
            window_terms.append(terms)
            done = step + 1
            if done % config.log_every == 0 or done == total:
                terms = jax.tree.map(lambda *xs: float(np.mean(xs)), *window_terms)
                elapsed = time.perf_counter() - window_start
                rate = len(window_terms) * config.batch_size / elapsed
                record = {"step": done, "lr": float(schedule(step)), "images_per_s": round(rate, 1)}
                record.update({k: round(v, 6) for k, v in vars(terms).items()})
                _append(log_path, record)
                eta = format_duration((total - done) * config.batch_size / rate)
                print(
                    f"\rstep {done}/{total} loss {terms.total:.4f} (2d {terms.keypoints_2d:.5f} "
                    f"3d {terms.keypoints_3d:.5f} pose {terms.pose:.4f}) {rate:.0f} img/s ETA {eta}",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
                window_start, window_terms = time.perf_counter(), []
            if done % config.eval_every == 0 or done == total:
                scores = trainer.evaluate(state.variables, validation_images, validation["joints3d_spin49"])
                _append(log_path, {"step": done, "kind": "evaluation", **scores})
                print(
                    f"\n  held-out: MPJPE {scores['mpjpe_mm']:.1f} mm, PA-MPJPE {scores['pa_mpjpe_mm']:.1f} mm "
                    f"(mean pose {scores['mean_pose_mpjpe_mm']:.1f} / {scores['mean_pose_pa_mpjpe_mm']:.1f})",
                    file=sys.stderr,
                )
            if done % config.checkpoint_every == 0 or done == total:
                manager.save(done, args=ocp.args.StandardSave(state))
        manager.wait_until_finished()

    if scores is None:  # the run had already finished: nothing was trained, so evaluate here
        scores = trainer.evaluate(state.variables, validation_images, validation["joints3d_spin49"])
    record = regressor.config_record()
    record.update(
        {
            "image_size": size,
            "body_model_kind": model.kind,
            "source": f"eft-jax train, {builder.name}/{builder.builder_config.name}, {total} steps",
            "evaluation": scores,
        }
    )
    out_dir = nets.save_regressor(workdir / "regressor", jax.device_get(state.variables), record, overwrite=True)
    (workdir / "evaluation.json").write_text(json.dumps(scores, indent=1) + "\n")
    print(
        f"\neft-jax train: wrote {out_dir} ({format_duration(time.perf_counter() - start_time)}); "
        f"held-out MPJPE {scores['mpjpe_mm']:.1f} mm, PA-MPJPE {scores['pa_mpjpe_mm']:.1f} mm "
        f"(mean pose {scores['mean_pose_mpjpe_mm']:.1f} / {scores['mean_pose_pa_mpjpe_mm']:.1f}); log {log_path}",
        file=sys.stderr,
    )
    return out_dir

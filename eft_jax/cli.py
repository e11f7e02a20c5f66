"""The `eft-jax` console script: one entry point, a subcommand per job.

Each job reads its config (`configs/<job>.py` unless --config is given) and accepts dotted
overrides as trailing `key=value` arguments, e.g. `eft-jax demo output_dir=/tmp/demo`;
`--show-config` prints the config a run would use and exits.

Exit codes: 0 done (or nothing to do); 2 bad input or a bad command line (one line on stderr
naming the problem); 3 nothing fitted because every input was skipped (the summary line names the
reasons); 130 / 143 stopped by SIGINT / SIGTERM (128 + the signal's number, as shells report it);
134 a `--distributed` process ended by JAX's runtime because another process died
(docs/many_hosts.md).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from eft_jax.config import default_config_path, load_config
from eft_jax.errors import InputError
from eft_jax.fitting.inputs import FitInputError
from eft_jax.fitting.recipe import resolve_config

EXIT_BAD_INPUT = 2
EXIT_ALL_SKIPPED = 3


class UsageError(Exception):
    """A command line argparse refuses, as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, reporting a bad command line in one line (not the usage text) through main()."""

    def error(self, message):
        raise UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


def at_least(minimum: int):
    """An argparse type: an integer >= minimum."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"takes an integer >= {minimum}; got {text!r}")
        return value

    return parse


# Errors that describe bad input (every `InputError`, and paths that are missing or already
# there): reported in one line, exit code 2.
USER_ERRORS = (InputError, FileNotFoundError, FileExistsError)


def _show_config(config, source: str) -> None:
    """--show-config: the config a run would use, and where its values come from."""
    print(f"# {source}")
    print(str(config).rstrip())


def _recipe_source(config_path, config, record: dict) -> str:
    from eft_jax.fitting.recipe import describe_recipe

    return f"{config_path}, with {describe_recipe(config, record)} and the command line's overrides"


def _demo(args: argparse.Namespace) -> None:
    from pathlib import Path

    from eft_jax.jobs.demo import run_demo
    from eft_jax.nets import regressor_record

    if (args.images is None) != (args.keypoints is None):
        raise FitInputError("--images and --keypoints go together")
    overrides = list(args.overrides)
    if args.out is not None:
        overrides.append(f"output_dir={args.out!r}")
    if args.checkpoint is not None:
        overrides.append(f"checkpoint={args.checkpoint!r}")
    if args.body is not None:
        overrides.append(f"body_model={args.body!r}")
    overrides = _camera_overrides(args, "eft.") + overrides
    config_path = args.config or default_config_path("demo")
    record = regressor_record(load_config(config_path, overrides).checkpoint)
    config = resolve_config(config_path, overrides, record, prefix="eft.")
    if args.show_config:
        return _show_config(config, _recipe_source(config_path, config.eft, record))
    outcome = run_demo(
        config,
        images_dir=Path(args.images) if args.images else None,
        keypoints_json=Path(args.keypoints) if args.keypoints else None,
    )
    return _finish(outcome, where=f"everything is in {config.output_dir}/")


def _fit_inputs(args: argparse.Namespace):
    """The --images/--keypoints or --crops of a fitting job (fit, smplify)."""
    from pathlib import Path

    from eft_jax.fitting.inputs import FitInputs

    return FitInputs(
        images_dir=Path(args.images) if args.images else None,
        keypoints_json=Path(args.keypoints) if args.keypoints else None,
        crops_npz=Path(args.crops) if args.crops else None,
        dataset=args.dataset,
        root=Path(args.root) if args.root else None,
        split=args.split,
        selection=args.selection,
    )


def _out(args: argparse.Namespace):
    from pathlib import Path

    if args.out is None:
        raise FitInputError("--out is required: the EFT JSON to write")
    return Path(args.out)


def _start_distributed(args: argparse.Namespace) -> None:
    """--distributed: start jax.distributed before anything touches a device (reading a
    checkpoint's record does); this process's share is then the runtime's."""
    if not args.distributed or args.show_config:
        if args.coordinator is not None and not args.distributed:
            raise FitInputError("--coordinator goes with --distributed")
        return
    from eft_jax.fitting import distributed

    distributed.initialize(
        distributed.Launch(
            args.coordinator, args.process_count, args.process_index, args.heartbeat_timeout
        ),
        job=args.command,
    )
    args.process_index = args.process_count = None


def _run_options(args: argparse.Namespace) -> dict:
    """run_fit's keyword arguments from the shared fitting options."""
    from pathlib import Path

    from eft_jax.fitting.run import default_cache_dir

    return dict(
        checkpoint=args.checkpoint,
        body_model_path=args.body,
        crop_size=args.crop_size,
        spin_npz=Path(args.spin_npz) if args.spin_npz else None,
        process_index=args.process_index,
        process_count=args.process_count,
        compilation_cache_dir=default_cache_dir()
        if args.compilation_cache is None
        else args.compilation_cache,
        fresh=args.fresh,
        quality_calibration=args.quality_calibration,
    )


def _finish(outcome, where: str | None = None) -> int:
    """Print a fitting run's one summary line (stdout); its exit code (module docstring)."""
    print(outcome.summary_line(where))
    if outcome.interrupted is not None:
        return 128 + outcome.interrupted
    if outcome.fitted == 0 and outcome.skipped and not outcome.waiting:
        return EXIT_ALL_SKIPPED
    return 0


def _fit(args: argparse.Namespace) -> None:

    from eft_jax.jobs.fit import run_fit
    from eft_jax.nets import regressor_record

    _start_distributed(args)
    overrides = list(args.overrides)
    if args.batch_size is not None:
        overrides.append(f"batch_size={args.batch_size}")
    if args.max_iters is not None:
        overrides.append(f"max_iters={args.max_iters}")
    overrides = _camera_overrides(args) + overrides
    config_path = args.config or default_config_path("eft_default")
    record = regressor_record(args.checkpoint)
    config = resolve_config(config_path, overrides, record)
    if args.show_config:
        return _show_config(config, _recipe_source(config_path, config, record))
    inputs = _fit_inputs(args)
    return _finish(run_fit(inputs, _out(args), config, **_run_options(args)))


def _smplify(args: argparse.Namespace) -> None:

    from eft_jax.jobs.smplify import run_smplify

    _start_distributed(args)
    overrides = list(args.overrides)
    for flag, key in (
        (args.batch_size, "batch_size"),
        (args.init, "init"),
        (args.pose_prior, "pose_prior"),
    ):
        if flag is not None:
            overrides.append(f"{key}={flag!r}")
    overrides = _camera_overrides(args) + overrides
    config_path = args.config or default_config_path("smplify")
    config = load_config(config_path, overrides)
    if args.show_config:
        return _show_config(config, f"{config_path} with the command line's overrides")
    inputs = _fit_inputs(args)
    return _finish(run_smplify(inputs, _out(args), config, **_run_options(args)))


# The flags of `eft-jax render` and `evaluate` (argparse's names) and the config fields they set
# (configs/render.py, configs/evaluate.py).
RENDER_FLAGS = {
    "fits": "fits",
    "images": "images",
    "out": "output_dir",
    "body": "body_model",
    "limit": "limit",
    "crop_size": "crop_size",
}
REPORT_FLAGS = {
    "fits": "fits",
    "images": "images",
    "crops": "crops",
    "out": "output_dir",
    "body": "body_model",
    "strips": "strips",
    "thumbnail_size": "thumbnail_size",
}
COMPARE_FLAGS = {
    "fits_a": "fits_a",
    "fits_b": "fits_b",
    "images": "images",
    "crops": "crops",
    "out": "output_dir",
    "body": "body_model",
    "thumbnail_size": "thumbnail_size",
}
EVALUATE_FLAGS = {
    "dataset": "dataset",
    "root": "root",
    "split": "split",
    "checkpoint": "checkpoint",
    "body": "body_model",
    "h36m_regressor": "h36m_regressor",
    "body_male": "body_male",
    "body_female": "body_female",
    "out": "output_dir",
    "limit": "limit",
    "batch_size": "batch_size",
    "worst": "worst",
}

CALIBRATE_FLAGS = {
    "checkpoint": "checkpoint",
    "body": "body_model",
    "out": "output",
    "count": "count",
}


def _flag_overrides(args: argparse.Namespace, fields: dict) -> list[str]:
    """Config overrides (field=value) of the flags given on the command line, then the trailing
    key=value overrides; `fields`: flag attribute -> config field."""
    given = [(field, getattr(args, flag)) for flag, field in fields.items()]
    return [f"{field}={value!r}" for field, value in given if value is not None] + list(
        args.overrides
    )


def _render(args: argparse.Namespace) -> None:
    from eft_jax.jobs.render import run_render

    config_path = args.config or default_config_path("render")
    config = load_config(config_path, _flag_overrides(args, RENDER_FLAGS))
    if args.show_config:
        return _show_config(config, f"{config_path} with the command line's flags and overrides")
    print(run_render(config).summary_line)


def _print_sharing_note(result) -> None:
    from eft_jax.report import sharing_note

    note = sharing_note(result.body_kind)
    if note:
        print(f"eft-jax: note: {note}", file=sys.stderr)


def _report(args: argparse.Namespace) -> None:
    from eft_jax.jobs.report import run_report

    config_path = args.config or default_config_path("report")
    config = load_config(config_path, _flag_overrides(args, REPORT_FLAGS))
    if args.show_config:
        return _show_config(config, f"{config_path} with the command line's flags and overrides")
    result = run_report(config)
    _print_sharing_note(result)
    print(
        f"eft-jax report: {result.fits} fits, {result.drawn} thumbnails drawn (the rest cached) "
        f"in {result.seconds:.1f} s -> {result.index}"
    )


def _compare(args: argparse.Namespace) -> None:
    from eft_jax.jobs.compare import run_compare

    config_path = args.config or default_config_path("compare")
    config = load_config(config_path, _flag_overrides(args, COMPARE_FLAGS))
    if args.show_config:
        return _show_config(config, f"{config_path} with the command line's flags and overrides")
    comparison, result, markdown = run_compare(config)
    _print_sharing_note(result)
    print(markdown.read_text())
    print(f"eft-jax compare: {result.fits} exemplars in {result.seconds:.1f} s -> {result.index}")


EXPORT_FLAGS = {"run_path": "run", "format": "format", "out": "out", "min_quality": "min_quality"}


def _export(args: argparse.Namespace) -> None:
    from eft_jax.jobs.export import run_export

    config_path = args.config or default_config_path("export")
    config = load_config(config_path, _flag_overrides(args, EXPORT_FLAGS))
    if args.show_config:
        return _show_config(config, f"{config_path} with the command line's flags and overrides")
    print(run_export(config))


def _train(args: argparse.Namespace) -> None:
    from eft_jax.jobs.train import run_train

    overrides = list(args.overrides)
    if args.workdir is not None:
        overrides.append(f"workdir={args.workdir!r}")
    config_path = args.config or default_config_path("train_synthetic")
    config = load_config(config_path, overrides)
    if args.show_config:
        return _show_config(config, f"{config_path} with the command line's overrides")
    run_train(config)


def _evaluate(args: argparse.Namespace) -> None:
    from eft_jax.jobs.evaluate import run_evaluate

    config_path = args.config or default_config_path("evaluate")
    config = load_config(config_path, _flag_overrides(args, EVALUATE_FLAGS))
    if args.show_config:
        return _show_config(config, f"{config_path} with the command line's flags and overrides")
    run_evaluate(config)


def _calibrate(args: argparse.Namespace) -> None:
    from eft_jax.jobs.calibrate import run_calibrate

    config_path = args.config or default_config_path("calibrate")
    config = load_config(config_path, _flag_overrides(args, CALIBRATE_FLAGS))
    if args.show_config:
        return _show_config(config, f"{config_path} with the command line's flags and overrides")
    run_calibrate(config)


def _convert_spin(args: argparse.Namespace) -> None:
    from eft_jax.nets import convert_spin_checkpoint

    report = convert_spin_checkpoint(
        args.checkpoint, args.out, mean_params=args.mean_params, overwrite=args.overwrite
    )
    print(report.summary())


def _add_camera_arguments(parser: argparse.ArgumentParser) -> None:
    """The camera flags of fit, smplify and demo (docs/camera.md)."""
    parser.add_argument(
        "--camera",
        choices=("crop", "full_frame"),
        help="fit with the crop camera (default) or a pinhole camera over the whole image "
        "(config field camera)",
    )
    parser.add_argument(
        "--focal-px",
        type=float,
        help="focal length in pixels where the input gives none; default: the image's diagonal "
        "(config field focal_px)",
    )


def _camera_overrides(args: argparse.Namespace, prefix: str = "") -> list[str]:
    """Config overrides of the camera flags given on the command line."""
    given = ((f"{prefix}camera", args.camera), (f"{prefix}focal_px", args.focal_px))
    return [f"{field}={value!r}" for field, value in given if value is not None]


def _add_fitting_arguments(parser: argparse.ArgumentParser) -> None:
    """Inputs, output and run options shared by the fitting jobs (fit, smplify)."""
    _add_camera_arguments(parser)
    parser.add_argument(
        "--dataset",
        help="dataset by name (with --root): coco, mpii, lspet, openpose, spin-npz, 3dpw, h36m, mpi-inf-3dhp, tfds (prepared crops)",
    )
    parser.add_argument(
        "--root", help="the dataset's folder (README, 'Datasets': which files go where)"
    )
    parser.add_argument(
        "--split", help="dataset split, e.g. train2014 (coco), or the .npz file (spin-npz)"
    )
    parser.add_argument(
        "--selection",
        help="which people: coco-all (>= 6 of 12 limb keypoints, default) or coco-part (all 12)",
    )
    parser.add_argument("--images", help="folder of images (with --keypoints)")
    parser.add_argument("--keypoints", help="COCO-format keypoint annotations (with --images)")
    parser.add_argument(
        "--crops", help=".npz of crops and SPIN-49 keypoints (instead of --images/--keypoints)"
    )
    parser.add_argument(
        "--out", help="EFT JSON to write (required); its .log.jsonl beside it makes reruns resume"
    )
    parser.add_argument(
        "--body", help="SMPL model file (.pkl/.npz); default: the bundled open model"
    )
    parser.add_argument(
        "--batch-size", type=at_least(1), help="exemplars fitted at once (config field batch_size)"
    )
    parser.add_argument(
        "--crop-size",
        type=at_least(1),
        help="crop side in pixels; default: the regressor's input size",
    )
    parser.add_argument("--spin-npz", help="also write SPIN's training .npz of the fits here")
    parser.add_argument(
        "--quality-calibration",
        help="the quality score's calibration (eft-jax calibrate's output); default: the bundled one",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start over: remove the output's EFT JSON and fit logs (every process's) first, "
        "instead of resuming from them",
    )
    parser.add_argument(
        "--process-index",
        "--process-id",
        type=at_least(0),
        help="this process's share (default: $EFT_JAX_PROCESS_INDEX or jax); with "
        "--distributed, its jax.distributed process id",
    )
    parser.add_argument(
        "--process-count",
        "--num-processes",
        type=at_least(1),
        help="processes sharing the run (default: $EFT_JAX_PROCESS_COUNT or jax); with "
        "--distributed, jax.distributed's number of processes",
    )
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="run on jax.distributed (SLURM, Open MPI and TPU pods are found; elsewhere give "
        "--coordinator with --num-processes and --process-id): process 0 writes the outputs "
        "once every share is done (docs/many_hosts.md)",
    )
    parser.add_argument(
        "--coordinator", help="with --distributed: process 0's HOST:PORT for jax.distributed"
    )
    parser.add_argument(
        "--heartbeat-timeout",
        type=at_least(1),
        help="with --distributed: seconds of silence after which a process counts as dead and "
        "the run stops (default 30)",
    )
    parser.add_argument(
        "--compilation-cache",
        help="JAX compilation cache folder ('' = off; default $EFT_JAX_COMPILATION_CACHE or "
        "~/.cache/eft-jax/jax-compilation)",
    )


def _add_run_options(
    parser: argparse.ArgumentParser, config: str | None = None, example: str = ""
) -> None:
    """Options every job takes: --quiet; and for a job with a config file (`config`, its default
    under configs/), --config, --show-config and the trailing key=value overrides."""
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="print only results and the summary line (no progress or status on stderr)",
    )
    if config is None:
        return
    parser.add_argument("--config", help=f"config file (default: configs/{config})")
    parser.add_argument(
        "--show-config",
        action="store_true",
        help="print the config this run would use (recipe and overrides applied) and exit",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        help="config overrides key=value" + (f", e.g. {example}" if example else ""),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="eft-jax", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="EFT on synthetic humans (or --images/--keypoints) with pictures, strips and a report",
    )
    demo.add_argument(
        "--images", help="folder of your images (with --keypoints); default: synthetic humans"
    )
    demo.add_argument("--keypoints", help="COCO-format keypoint annotations of those images")
    demo.add_argument(
        "--checkpoint", help="regressor checkpoint folder; default: the bundled regressor"
    )
    demo.add_argument(
        "--body",
        help="SMPL model file (.pkl/.npz) for regressors that predict SMPL; default: the bundled open body",
    )
    demo.add_argument("--out", help="output folder (config field output_dir)")
    _add_camera_arguments(demo)
    _add_run_options(demo, "demo.py")
    demo.set_defaults(run=_demo)

    fit = commands.add_parser(
        "fit", help="EFT over crops + 2D keypoints, written as EFT JSON (resumable)"
    )
    _add_fitting_arguments(fit)
    fit.add_argument(
        "--checkpoint",
        help="regressor checkpoint folder (eft-jax convert-spin / train); default: the bundled one",
    )
    fit.add_argument(
        "--max-iters",
        type=at_least(1),
        help="EFT iterations per exemplar at most (config max_iters)",
    )
    _add_run_options(fit, "eft_default.py", "loss.keypoint_weight=5")
    fit.set_defaults(run=_fit)

    smplify = commands.add_parser(
        "smplify",
        help="SMPLify (SPIN's port) over crops + 2D keypoints, written as EFT JSON (resumable)",
    )
    _add_fitting_arguments(smplify)
    smplify.add_argument(
        "--init",
        choices=("regressor", "mean"),
        help="start from the regressor (default) or the mean pose",
    )
    smplify.add_argument(
        "--checkpoint",
        help="regressor checkpoint folder for init=regressor; default: the bundled one",
    )
    smplify.add_argument(
        "--pose-prior", help="SMPLify's gmm_08.pkl; default: the bundled GMM (config pose_prior)"
    )
    _add_run_options(smplify, "smplify.py", "body_iters=50")
    smplify.set_defaults(run=_smplify)

    render = commands.add_parser(
        "render",
        help="draw the fits of an EFT JSON: [crop | overlay | side view] PNGs and OBJ meshes",
    )
    render.add_argument(
        "--fits", required=True, help="EFT JSON (eft-jax fit's output or EFT's released files)"
    )
    render.add_argument(
        "--images", required=True, help="folder the entries' imageName are relative to"
    )
    render.add_argument("--out", required=True, help="output folder for the PNGs and .obj meshes")
    render.add_argument(
        "--body",
        help="SMPL model file (.pkl/.npz) for fits with smpltype 'smpl'; default: the bundled open model",
    )
    render.add_argument("--limit", type=at_least(1), help="draw only the first N fits")
    render.add_argument(
        "--crop-size",
        type=at_least(1),
        help="side of each panel in pixels (config crop_size, 224)",
    )
    _add_run_options(render, "render.py")
    render.set_defaults(run=_render)

    report = commands.add_parser(
        "report",
        help="a static HTML report of a fit file (fit, smplify or demo): summary, gallery, a "
        "page per fit with a 3D view; opens from file:// with no server",
    )
    compare = commands.add_parser(
        "compare",
        help="two fit files of the same exemplars and body model: per exemplar the distance "
        "between the fits and each one's 2D error, a summary table, and both side by side",
    )
    report.add_argument("fits", help="EFT JSON of fit, smplify or demo (or EFT's released files)")
    compare.add_argument("fits_a", help="EFT JSON A")
    compare.add_argument("fits_b", help="EFT JSON B, of the same exemplars and body model")
    for job, what in (
        (report, "report folder (default: FITS_report/ beside FITS)"),
        (compare, "output folder (default: A_vs_B/ beside A)"),
    ):
        crops = job.add_mutually_exclusive_group()
        crops.add_argument("--images", help="folder the entries' imageName are relative to")
        crops.add_argument("--crops", help="exemplar .npz of the crops (the fit's --crops input)")
        job.add_argument("--out", help=what)
        job.add_argument(
            "--body",
            help="SMPL model file (.pkl/.npz) for fits with smpltype 'smpl'; default: the bundled "
            "open model",
        )
        job.add_argument(
            "--thumbnail-size",
            type=at_least(8),
            help="side of each thumbnail panel in pixels (config thumbnail_size, 96)",
        )
    report.add_argument("--strips", help="folder of <exemplar_id>.png Figure-1 strips")
    _add_run_options(report, "report.py")
    report.set_defaults(run=_report)
    _add_run_options(compare, "compare.py")
    compare.set_defaults(run=_compare)

    export = commands.add_parser(
        "export",
        help="a finished run's fits as EFT JSON (in parts past part_size) or SPIN's .npz, "
        "streamed from its result shards",
    )
    export.add_argument(
        "run_path",
        metavar="RUN",
        help="the run: the EFT JSON given to `fit --out` (or its .shards)",
    )
    export.add_argument("--format", required=True, choices=("eft-json", "spin-npz"))
    export.add_argument(
        "--min-quality",
        type=float,
        help="leave out fits whose quality_score is under this (config min_quality; listed as "
        "skipped in EFT JSON)",
    )
    export.add_argument(
        "--out", required=True, help="file to write (EFT JSON parts named after it)"
    )
    _add_run_options(export, "export.py", "part_size=50000")
    export.set_defaults(run=_export)

    train = commands.add_parser(
        "train",
        help="train an HMR regressor on synthetic humans, pseudo ground truth (EFT JSON), SPIN / Human3.6M .npz "
        "and 2D keypoints, mixed by weight (resumable: rerun to continue)",
    )
    train.add_argument(
        "--workdir", help="folder for checkpoints, log and the final regressor (config workdir)"
    )
    _add_run_options(train, "train_synthetic.py", "total_steps=2000")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="a regressor's MPJPE / PA-MPJPE / PVE on a 3D benchmark by SPIN's protocols",
    )
    evaluate.add_argument(
        "--dataset", required=True, help="3dpw, h36m-p1, h36m-p2, mpi-inf-3dhp or synthetic"
    )
    evaluate.add_argument(
        "--root", help="the benchmark's folder (README, 'eft-jax evaluate': which files go where)"
    )
    evaluate.add_argument(
        "--split",
        help="another evaluation .npz (h36m, mpi-inf-3dhp) or 3DPW split than the default",
    )
    evaluate.add_argument(
        "--checkpoint", help="regressor checkpoint folder; default: the bundled one"
    )
    evaluate.add_argument(
        "--body",
        help="SMPL model file (.pkl/.npz) for regressors that predict SMPL (the real benchmarks)",
    )
    evaluate.add_argument(
        "--h36m-regressor",
        help="SPIN's J_regressor_h36m.npy; default: beside --body or one folder up",
    )
    evaluate.add_argument(
        "--body-male", help="SMPL's male model for 3DPW's true meshes; default: found beside --body"
    )
    evaluate.add_argument(
        "--body-female",
        help="SMPL's female model for 3DPW's true meshes; default: found beside --body",
    )
    evaluate.add_argument("--out", help="output folder; default eft_jax_output/evaluate/<dataset>")
    evaluate.add_argument(
        "--limit",
        type=at_least(1),
        help="score only the first N exemplars (synthetic: N humans, default 500)",
    )
    evaluate.add_argument(
        "--batch-size",
        type=at_least(1),
        help="crops per regressor call (config batch_size, 32)",
    )
    evaluate.add_argument(
        "--worst",
        type=at_least(0),
        help="render this many exemplars of largest PA-MPJPE (config worst, 8)",
    )
    _add_run_options(evaluate, "evaluate.py", "evaluator=synthetic_truth")
    evaluate.set_defaults(run=_evaluate)

    calibrate = commands.add_parser(
        "calibrate",
        help="refit the fit-quality score for a regressor on validation synthetic humans",
    )
    calibrate.add_argument(
        "--checkpoint", help="regressor checkpoint folder; default: the bundled one"
    )
    calibrate.add_argument(
        "--body", help="SMPL model file for regressors that predict SMPL; default: the open body"
    )
    calibrate.add_argument("--out", help="calibration JSON to write (config field output)")
    calibrate.add_argument(
        "--count", type=at_least(10), help="validation humans per style (config count, 100)"
    )
    _add_run_options(calibrate, "calibrate.py", "count=200")
    calibrate.set_defaults(run=_calibrate)

    convert = commands.add_parser(
        "convert-spin",
        help="convert a SPIN / EFT PyTorch checkpoint to an eft-jax regressor checkpoint (no torch needed)",
    )
    convert.add_argument("checkpoint", help="SPIN's model_checkpoint.pt or an EFT model-zoo .pt")
    convert.add_argument("--out", required=True, help="output folder (orbax checkpoint)")
    convert.add_argument(
        "--mean-params",
        help="smpl_mean_params.npz; default: the init_pose/init_shape/init_cam buffers in the checkpoint",
    )
    convert.add_argument(
        "--overwrite", action="store_true", help="replace an existing output folder"
    )
    _add_run_options(convert)
    convert.set_defaults(run=_convert_spin)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """The command line's arguments; key=value overrides are taken after the flags too (argparse
    stops reading positionals after a subcommand's own positional such as RUN or FITS)."""
    args, extras = parser.parse_known_args(argv)
    stray = [extra for extra in extras if extra.startswith("-") or "=" not in extra]
    if stray or (extras and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(stray or extras)}")
    if extras:
        args.overrides = [*args.overrides, *extras]
    return args


def main(argv: list[str] | None = None) -> int:
    from eft_jax import progress

    try:
        args = _parse(build_parser(), argv)
    except UsageError as error:
        print(error, file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        with progress.quiet(args.quiet), _terminate_as_interrupt():
            code = args.run(args)
    except USER_ERRORS as error:
        print(f"eft-jax {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (KeyboardInterrupt, Terminated) as interrupt:
        # A job stopped between its step boundaries (a fitting run stops at one and says more).
        print(f"eft-jax {args.command}: interrupted; rerun the same command to resume")
        return 128 + (signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT)
    return 0 if code is None else code


class Terminated(BaseException):
    """SIGTERM, raised where the job is, as Ctrl-C raises KeyboardInterrupt."""


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM ends a job as Ctrl-C does (exit 143 with one line, not a silent kill)."""

    def terminate(signum, frame):
        raise Terminated

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


if __name__ == "__main__":
    sys.exit(main())

"""The `eft-jax` console script: one entry point, a subcommand per job.

Each job reads its config (`configs/<job>.py` unless --config is given) and accepts dotted
overrides as trailing `key=value` arguments, e.g. `eft-jax demo output_dir=/tmp/demo`.
"""

from __future__ import annotations

import argparse
import sys

from eft_jax.config import default_config_path, load_config
from eft_jax.errors import InputError
from eft_jax.fitting.recipe import resolve_config
from eft_jax.jobs.fit import FitInputError

# Errors that describe bad input (every `InputError`, and paths that are missing or already
# there): reported in one line, exit code 2.
USER_ERRORS = (InputError, FileNotFoundError, FileExistsError)


def _checkpoint_record(checkpoint: str | None) -> dict:
    """The metadata record of a regressor checkpoint (default: the bundled one), whose
    `eft_recipe` sits between EFT's constants and the command line (eft_jax/fitting/recipe.py)."""
    from eft_jax import nets

    return nets.read_config_record(
        checkpoint if checkpoint is not None else nets.BUNDLED_REGRESSOR_DIR
    )


def _demo(args: argparse.Namespace) -> None:
    from pathlib import Path

    from eft_jax.jobs.demo import run_demo

    if (args.images is None) != (args.keypoints is None):
        raise FitInputError("--images and --keypoints go together")
    overrides = list(args.overrides)
    if args.out is not None:
        overrides.append(f"output_dir={args.out!r}")
    if args.checkpoint is not None:
        overrides.append(f"checkpoint={args.checkpoint!r}")
    if args.body is not None:
        overrides.append(f"body_model={args.body!r}")
    config_path = args.config or default_config_path("demo")
    checkpoint = load_config(config_path, overrides).checkpoint
    run_demo(
        resolve_config(config_path, overrides, _checkpoint_record(checkpoint), prefix="eft."),
        images_dir=Path(args.images) if args.images else None,
        keypoints_json=Path(args.keypoints) if args.keypoints else None,
    )


def _fit_inputs(args: argparse.Namespace):
    """The --images/--keypoints or --crops of a fitting job (fit, smplify)."""
    from pathlib import Path

    from eft_jax.jobs.fit import FitInputs

    return FitInputs(
        images_dir=Path(args.images) if args.images else None,
        keypoints_json=Path(args.keypoints) if args.keypoints else None,
        crops_npz=Path(args.crops) if args.crops else None,
        dataset=args.dataset,
        root=Path(args.root) if args.root else None,
        split=args.split,
        selection=args.selection,
    )


def _run_options(args: argparse.Namespace) -> dict:
    """run_fit's keyword arguments from the shared fitting options."""
    from pathlib import Path

    from eft_jax.jobs.fit import default_cache_dir

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
    )


def _fit(args: argparse.Namespace) -> None:
    from pathlib import Path

    from eft_jax.jobs.fit import run_fit

    inputs = _fit_inputs(args)
    overrides = list(args.overrides)
    if args.batch_size is not None:
        overrides.append(f"batch_size={args.batch_size}")
    if args.max_iters is not None:
        overrides.append(f"max_iters={args.max_iters}")
    config = resolve_config(
        args.config or default_config_path("eft_default"),
        overrides,
        _checkpoint_record(args.checkpoint),
    )
    run_fit(inputs, Path(args.out), config, **_run_options(args))


def _smplify(args: argparse.Namespace) -> None:
    from pathlib import Path

    from eft_jax.jobs.smplify import run_smplify

    inputs = _fit_inputs(args)
    overrides = list(args.overrides)
    for flag, key in (
        (args.batch_size, "batch_size"),
        (args.init, "init"),
        (args.pose_prior, "pose_prior"),
    ):
        if flag is not None:
            overrides.append(f"{key}={flag!r}")
    config = load_config(args.config or default_config_path("smplify"), overrides)
    run_smplify(inputs, Path(args.out), config, **_run_options(args))


def _render(args: argparse.Namespace) -> None:
    from eft_jax.jobs.render import run_render

    run_render(
        args.fits,
        args.images,
        args.out,
        body_model_path=args.body,
        limit=args.limit,
        crop_size=args.crop_size,
    )


def _train(args: argparse.Namespace) -> None:
    from eft_jax.jobs.train import run_train

    overrides = list(args.overrides)
    if args.workdir is not None:
        overrides.append(f"workdir={args.workdir!r}")
    run_train(load_config(args.config or default_config_path("train_synthetic"), overrides))


def _evaluate(args: argparse.Namespace) -> None:
    from eft_jax.jobs.evaluate import run_evaluate

    run_evaluate(
        args.dataset,
        root=args.root,
        split=args.split,
        checkpoint=args.checkpoint,
        body_model_path=args.body,
        h36m_regressor=args.h36m_regressor,
        male_body=args.body_male,
        female_body=args.body_female,
        out_dir=args.out,
        limit=args.limit,
        batch_size=args.batch_size,
        worst=args.worst,
    )


def _convert_spin(args: argparse.Namespace) -> None:
    from eft_jax.nets import convert_spin_checkpoint

    report = convert_spin_checkpoint(
        args.checkpoint, args.out, mean_params=args.mean_params, overwrite=args.overwrite
    )
    print(report.summary())


def _add_fitting_arguments(parser: argparse.ArgumentParser) -> None:
    """Inputs, output and run options shared by the fitting jobs (fit, smplify)."""
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
        "--out",
        required=True,
        help="EFT JSON to write; its .log.jsonl beside it makes reruns resume",
    )
    parser.add_argument(
        "--body", help="SMPL model file (.pkl/.npz); default: the bundled open model"
    )
    parser.add_argument(
        "--batch-size", type=int, help="exemplars fitted at once (config field batch_size)"
    )
    parser.add_argument(
        "--crop-size", type=int, help="crop side in pixels; default: the regressor's input size"
    )
    parser.add_argument("--spin-npz", help="also write SPIN's training .npz of the fits here")
    parser.add_argument(
        "--process-index",
        type=int,
        help="this process's share (default: $EFT_JAX_PROCESS_INDEX or jax)",
    )
    parser.add_argument(
        "--process-count",
        type=int,
        help="processes sharing the run (default: $EFT_JAX_PROCESS_COUNT or jax)",
    )
    parser.add_argument(
        "--compilation-cache",
        help="JAX compilation cache folder ('' = off; default $EFT_JAX_COMPILATION_CACHE or ~/.cache/eft-jax)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eft-jax", description=__doc__.splitlines()[0])
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
    demo.add_argument("--config", help="config file (default: configs/demo.py)")
    demo.add_argument("--out", help="output folder (config field output_dir)")
    demo.add_argument("overrides", nargs="*", help="config overrides key=value")
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
        "--max-iters", type=int, help="EFT iterations per exemplar at most (config max_iters)"
    )
    fit.add_argument("--config", help="config file (default: configs/eft_default.py)")
    fit.add_argument(
        "overrides", nargs="*", help="config overrides key=value, e.g. loss.keypoint_weight=5"
    )
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
    smplify.add_argument("--config", help="config file (default: configs/smplify.py)")
    smplify.add_argument(
        "overrides", nargs="*", help="config overrides key=value, e.g. body_iters=50"
    )
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
    render.add_argument("--limit", type=int, help="draw only the first N fits")
    render.add_argument("--crop-size", type=int, default=224, help="side of each panel in pixels")
    render.set_defaults(run=_render)

    train = commands.add_parser(
        "train",
        help="train an HMR regressor on synthetic humans, pseudo ground truth (EFT JSON), SPIN / Human3.6M .npz "
        "and 2D keypoints, mixed by weight (resumable: rerun to continue)",
    )
    train.add_argument("--config", help="config file (default: configs/train_synthetic.py)")
    train.add_argument(
        "--workdir", help="folder for checkpoints, log and the final regressor (config workdir)"
    )
    train.add_argument(
        "overrides", nargs="*", help="config overrides key=value, e.g. total_steps=2000"
    )
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
        type=int,
        help="score only the first N exemplars (synthetic: N humans, default 500)",
    )
    evaluate.add_argument("--batch-size", type=int, default=32, help="crops per regressor call")
    evaluate.add_argument(
        "--worst", type=int, default=8, help="render this many exemplars of largest PA-MPJPE"
    )
    evaluate.set_defaults(run=_evaluate)

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
    convert.set_defaults(run=_convert_spin)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except USER_ERRORS as error:
        print(f"eft-jax {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""EFT with the bundled regressor and its tuned recipe: this tree against an older commit, on the
same crops, in interleaved rounds, with the fits compared.

    git worktree add /tmp/eft-jax-6892460 6892460      # the commit to compare with, checked out
    python -m experiments.bench_eft.bundled_vs_commit --against /tmp/eft-jax-6892460 \
        [--count 64] [--rounds 5] [--set batch_size=4 ...]

Both sides run `bundled_worker.py` in a process of their own (the checkout's eft-jax in one, this
tree's in the other, each with its own defaults; `--set` overrides this tree's only) over the
same held-out lifelike synthetic humans at the regressor's crop size. Each compiles on a warm-up
pass first; then the rounds alternate which side goes first. Per round: the load average when it
started, seconds per exemplar of each side, and their ratio; then the median ratio, and how far
the fits are apart: mean 2D keypoint error (px of a 224 px crop) and PA-MPJPE (mm) of each side
and their difference, exemplars with the same iteration count, the largest rotation-matrix
difference.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from eft_jax.eval.evaluation import evaluate_fits, summarize
from eft_jax.geometry.crops import normalize_image
from experiments.fitting_runs import bundled_setup, describe_set, evaluation_set
from experiments.timing import machine_description, write_results
from experiments.tree_worker import TreeWorker, in_turns, short_commit

REPO = Path(__file__).resolve().parents[2]
STUDY = Path(__file__).resolve().parent
WORKER = STUDY / "bundled_worker.py"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--against", required=True, help="a checkout of the commit to compare with")
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--set", nargs="*", default=[], help="config overrides for this tree")
    parser.add_argument("--out", default=str(STUDY))
    parser.add_argument("--name", default="bundled_vs_commit")
    args = parser.parse_args()

    against = Path(args.against).resolve()
    commit = short_commit(against)
    restored, model, size = bundled_setup()
    data = evaluation_set("heldout", args.count, size, style="lifelike")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        crops = scratch / "crops.npz"
        np.savez(crops, image=normalize_image(data["image"]), keypoints=data["keypoints"])
        with open(scratch / "workers.log", "w") as log:
            fit_files = [scratch / "old.npz", scratch / "new.npz"]
            sides = [
                TreeWorker(commit, against, WORKER, [str(crops), str(fit_files[0])], log),
                TreeWorker(
                    "this tree", REPO, WORKER, [str(crops), str(fit_files[1]), *args.set], log
                ),
            ]
            rounds = []
            for index, load, replies in in_turns(sides, args.rounds):
                old, new = (reply["seconds"] / args.count for reply in replies)
                old_cpu, new_cpu = (reply["cpu_seconds"] / args.count for reply in replies)
                rounds.append(
                    {
                        "load": load,
                        "old": old,
                        "new": new,
                        "ratio": old / new,
                        "old_cpu": old_cpu,
                        "new_cpu": new_cpu,
                    }
                )
                print(
                    f"round {index + 1}: load {load:.1f}, {commit} {old:.3f} s, this tree "
                    f"{new:.3f} s per exemplar, {old / new:.2f}x (CPU s per exemplar "
                    f"{old_cpu:.3f} / {new_cpu:.3f})",
                    flush=True,
                )
            for side in sides:
                side.close()
        fits = [dict(np.load(path)) for path in fit_files]
    scores = [
        summarize(
            evaluate_fits(
                model,
                f["rotmats"],
                f["betas"],
                f["camera"],
                data["keypoints"],
                data["joints3d_spin49"],
                data["vertices"],
            )
        )
        for f in fits
    ]
    same_iterations = int(np.sum(fits[0]["iterations"] == fits[1]["iterations"]))
    rotmat_difference = float(np.abs(fits[0]["rotmats"] - fits[1]["rotmats"]).max())
    median_ratio = statistics.median(r["ratio"] for r in rounds)
    info = [side.info for side in sides]
    lines = [
        f"EFT with the bundled regressor and its tuned recipe, {commit} against this tree, "
        f"{describe_set('heldout', args.count, 'lifelike')}, {size} px crops; "
        f"{machine_description()}. {commit}: B = {info[0]['batch_size']}, {info[0]['lowering']}; "
        f"this tree: B = {info[1]['batch_size']}, {info[1]['lowering']}"
        + (f" ({' '.join(args.set)})" if args.set else "")
        + ". Seconds per exemplar of a whole pass over the set (compilation excluded); the rounds "
        "alternate which side goes first; load: 1-minute load average as the round started; "
        "CPU s: user + system time of the side's process over the pass (all its threads).",
        "",
        f"| round | load | {commit} s / exemplar | this tree s / exemplar | speed-up | "
        f"CPU s / exemplar, {commit} | this tree |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {i + 1} | {r['load']:.1f} | {r['old']:.3f} | {r['new']:.3f} | {r['ratio']:.2f}x | "
        f"{r['old_cpu']:.3f} | {r['new_cpu']:.3f} |"
        for i, r in enumerate(rounds)
    ]
    median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    lines += [
        f"| **median** | | {median['old']:.3f} | {median['new']:.3f} | **{median_ratio:.2f}x** | "
        f"{median['old_cpu']:.3f} | {median['new_cpu']:.3f} |",
        "",
        "| fits | " + commit + " | this tree | difference |",
        "|---|---:|---:|---:|",
        *(
            f"| {title} | {scores[0][key]:.3f} | {scores[1][key]:.3f} | "
            f"{scores[1][key] - scores[0][key]:+.3f} |"
            for key, title in (("mean_2d_px", "mean 2D error, px"), ("pa_mpjpe_mm", "PA-MPJPE, mm"))
        ),
        f"| iterations per exemplar | {fits[0]['iterations'].mean():.1f} | "
        f"{fits[1]['iterations'].mean():.1f} | same for {same_iterations} of {args.count} |",
        "",
        f"Largest rotation-matrix entry difference: {rotmat_difference:.2e}.",
        "",
        f"`python -m experiments.bench_eft.bundled_vs_commit {' '.join(sys.argv[1:])}`",
    ]
    payload = {"rounds": rounds, "median_ratio": median_ratio, "scores": scores, "info": info}
    write_results(Path(args.out), args.name, "\n".join(lines) + "\n", payload)


if __name__ == "__main__":
    main()

"""SMPLify's speed, this tree against an older commit, the two timed in turns within one run.

    git worktree add /tmp/eft-jax-6892460 6892460      # the commit to compare with, checked out
    python -m experiments.bench_smplify.smplify_vs_commit --against /tmp/eft-jax-6892460 \
        [--batch 64] [--camera-iters 50] [--body-iters 50] [--rounds 7] [--joints-calls 8] [--mesh-calls 1]

Both sides run `smplify_worker.py` in a process of their own (the checkout's eft-jax in one, this
tree's in the other) on the same keypoints (`bench_smplify.py`'s inputs: B synthetic exemplars on
the bundled open body, 2 px noise) from the same start (the mean pose). Each compiles first; then
in every round each side makes `--joints-calls` calls of the joints-only fit and `--mesh-calls` of
the full-mesh fit, the rounds alternating which side goes first. Per round: the load average as it
started and each side's median call; then the median over rounds of each side's median and the
ratio of the two, and the final 2D errors (which must agree: the same program).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from eft_jax import body
from experiments.bench_smplify.bench_smplify import make_inputs
from experiments.timing import machine_description, write_results
from experiments.tree_worker import TreeWorker, in_turns, short_commit

REPO = Path(__file__).resolve().parents[2]
STUDY = Path(__file__).resolve().parent
WORKER = STUDY / "smplify_worker.py"
FITS = {"joints_only": "joints-only body", "full_mesh": "full mesh"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--against", required=True, help="a checkout of the commit to compare with")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--camera-iters", type=int, default=50)
    parser.add_argument("--body-iters", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--joints-calls", type=int, default=8)
    parser.add_argument("--mesh-calls", type=int, default=1)
    parser.add_argument("--out", default=str(STUDY))
    parser.add_argument("--name", default="smplify_vs_commit")
    args = parser.parse_args()

    against = Path(args.against).resolve()
    commit = short_commit(against)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        keypoints = scratch / "keypoints.npz"
        np.savez(keypoints, keypoints=make_inputs(body.load(), args.batch))
        arguments = [
            str(keypoints),
            str(args.camera_iters),
            str(args.body_iters),
            str(args.joints_calls),
            str(args.mesh_calls),
        ]
        with open(scratch / "workers.log", "w") as log:
            sides = [
                TreeWorker(commit, against, WORKER, arguments, log),
                TreeWorker("this tree", REPO, WORKER, arguments, log),
            ]
            rounds = []
            for index, load, replies in in_turns(sides, args.rounds):
                entry = {"load": load}
                for fit in FITS:
                    old, new = (statistics.median(reply[fit]["seconds"]) for reply in replies)
                    entry[fit] = {
                        "old": old,
                        "new": new,
                        "ratio": old / new,
                        "error_px": [reply[fit]["error_px"] for reply in replies],
                    }
                rounds.append(entry)
                print(
                    f"round {index + 1}: load {load:.1f}, "
                    + ", ".join(
                        f"{FITS[fit]} {entry[fit]['old']:.3f} / {entry[fit]['new']:.3f} s "
                        f"({entry[fit]['ratio']:.2f}x)"
                        for fit in FITS
                    ),
                    flush=True,
                )
            for side in sides:
                side.close()

    def median(fit, key):
        return statistics.median(r[fit][key] for r in rounds)

    lines = [
        f"SMPLify, {commit} against this tree, B = {args.batch} synthetic exemplars on the bundled "
        f"open body, {args.camera_iters} + {args.body_iters} iterations; {machine_description()}. "
        f"Per round each side makes {args.joints_calls} calls of the joints-only fit and "
        f"{args.mesh_calls} of the full-mesh fit (compilation excluded), the rounds alternating "
        "which side goes first; each cell is that side's median call in the round, in seconds; "
        "load: 1-minute load average as the round started; speed-up: "
        f"{commit}'s time over this tree's.",
        "",
        "| round | load | "
        + " | ".join(f"{title}, {commit} | this tree | speed-up" for title in FITS.values())
        + " |",
        "|---:|---:|" + "---:|---:|---:|" * len(FITS),
    ]
    lines += [
        f"| {i + 1} | {r['load']:.1f} | "
        + " | ".join(
            f"{r[fit]['old']:.3f} | {r[fit]['new']:.3f} | {r[fit]['ratio']:.2f}x" for fit in FITS
        )
        + " |"
        for i, r in enumerate(rounds)
    ]
    lines += [
        "| **median** | | "
        + " | ".join(
            f"{median(fit, 'old'):.3f} | {median(fit, 'new'):.3f} | **{median(fit, 'ratio'):.2f}x**"
            for fit in FITS
        )
        + " |",
        "",
        "Final mean 2D error, px ("
        + commit
        + " / this tree): "
        + "; ".join(
            f"{title} {rounds[-1][fit]['error_px'][0]:.3f} / {rounds[-1][fit]['error_px'][1]:.3f}"
            for fit, title in FITS.items()
        )
        + f". Exemplars per second at the median call: joints-only "
        f"{args.batch / median('joints_only', 'old'):.1f} / "
        f"{args.batch / median('joints_only', 'new'):.1f}, full mesh "
        f"{args.batch / median('full_mesh', 'old'):.2f} / "
        f"{args.batch / median('full_mesh', 'new'):.2f}.",
        "",
        f"`python -m experiments.bench_smplify.smplify_vs_commit {' '.join(sys.argv[1:])}`",
    ]
    payload = {"args": vars(args), "commit": commit, "rounds": rounds}
    write_results(Path(args.out), args.name, "\n".join(lines) + "\n", payload)


if __name__ == "__main__":
    main()

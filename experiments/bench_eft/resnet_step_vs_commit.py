"""The EFT engine's step on ResNet-50, this tree against an older commit (or against itself under
other XLA flags), the two timed in turns within one run.

    python -m experiments.bench_eft.resnet_step_vs_commit --against <checkout> \
        [--slots 2] [--iterations-per-call 16] [--calls 2] [--rounds 5] [--xla-flags "..."]

Both sides run `resnet_step_worker.py` in a process of their own (the checkout's eft-jax in one,
this tree's in the other, `--xla-flags` added to this tree's side only), on the same random crops
and weights, every layer trainable. Each compiles first; then the rounds alternate which side
goes first. Per round: the load average as it started and each side's median call in ms per
exemplar-iteration; then the median ratio. Pin both to one core with `taskset -c 0`. This compares
eft-jax with itself, to measure one change; `bench_eft.py --against-torch` puts it beside EFT's
PyTorch loop.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from experiments.timing import machine_description, write_results
from experiments.tree_worker import TreeWorker, in_turns, short_commit

REPO = Path(__file__).resolve().parents[2]
STUDY = Path(__file__).resolve().parent
WORKER = STUDY / "resnet_step_worker.py"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--against", required=True, help="a checkout of the commit to compare with")
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--iterations-per-call", type=int, default=16)
    parser.add_argument("--calls", type=int, default=2, help="timed calls per side per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--xla-flags", default="", help="added to XLA_FLAGS on this tree's side")
    parser.add_argument("--out", default=str(STUDY))
    parser.add_argument("--name", default="resnet_step_vs_commit")
    args = parser.parse_args()

    against = Path(args.against).resolve()
    commit = short_commit(against)
    this = "this tree" + (f" ({args.xla_flags})" if args.xla_flags else "")
    arguments = [str(args.slots), str(args.iterations_per_call), str(args.calls)]
    with tempfile.TemporaryDirectory() as scratch:
        with open(Path(scratch) / "workers.log", "w") as log:
            sides = [
                TreeWorker(commit, against, WORKER, arguments, log),
                TreeWorker(this, REPO, WORKER, arguments, log, xla_flags=args.xla_flags),
            ]
            rounds = []
            for index, load, replies in in_turns(sides, args.rounds):
                old, new = (reply["per_exemplar_iteration"] for reply in replies)
                rounds.append({"load": load, "old": old, "new": new, "ratio": old / new})
                print(
                    f"round {index + 1}: load {load:.1f}, {commit} {old * 1e3:.1f} ms, {this} "
                    f"{new * 1e3:.1f} ms per exemplar-iteration, {old / new:.3f}x",
                    flush=True,
                )
            for side in sides:
                side.close()
    median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    lines = [
        f"The EFT engine's step on ResNet-50 @ 224 px, every layer trainable, {args.slots} slots, "
        f"{args.iterations_per_call} iterations per call, {commit} against {this}; "
        f"{machine_description()}, {len(os.sched_getaffinity(0))} usable. Each cell: the side's "
        f"median of {args.calls} calls in the round, ms per exemplar-iteration (compilation "
        "excluded); the rounds alternate which side goes first; load: 1-minute load average as "
        "the round started.",
        "",
        f"| round | load | {commit} | {this} | speed-up |",
        "|---:|---:|---:|---:|---:|",
        *(
            f"| {i + 1} | {r['load']:.1f} | {r['old'] * 1e3:.1f} | {r['new'] * 1e3:.1f} | "
            f"{r['ratio']:.3f}x |"
            for i, r in enumerate(rounds)
        ),
        f"| **median** | | {median['old'] * 1e3:.1f} | {median['new'] * 1e3:.1f} | "
        f"**{median['ratio']:.3f}x** |",
        "",
        f"`python -m experiments.bench_eft.resnet_step_vs_commit {' '.join(sys.argv[1:])}`",
    ]
    write_results(
        Path(args.out), args.name, "\n".join(lines) + "\n", {"args": vars(args), "rounds": rounds}
    )


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# End-to-end time of `eft-jax fit` and `eft-jax smplify` on the same crops from two checkouts,
# alternating, with a warm compilation cache per checkout (round 1 compiles; read rounds 2..).
#
#   bash experiments/renovation/speed.sh OLD_CHECKOUT NEW_CHECKOUT CROPS.npz [ROUNDS]
#
# e.g. `git worktree add /tmp/old 6892460`, then OLD_CHECKOUT=/tmp/old, NEW_CHECKOUT=. and the
# crops record.sh made. Prints one line per run: round, checkout, job, seconds, load average.
set -u
old="$(cd "$1" && pwd)"; new="$(cd "$2" && pwd)"; crops="$(realpath "$3")"; rounds="${4:-4}"
work="$(mktemp -d)"
for round in $(seq 1 "$rounds"); do
  for side in old new; do
    tree="${!side}"
    for job in fit smplify; do
      start=$(date +%s.%N)
      (cd "$tree" && PYTHONPATH="$tree" python -m eft_jax.cli "$job" --crops "$crops" \
        --out "$work/$side/$job$round.json" --batch-size 4 \
        --compilation-cache "$work/cache_$side" > /dev/null 2>&1)
      end=$(date +%s.%N)
      echo "$round $side $job $(echo "$end - $start" | bc) load $(cut -d' ' -f1 /proc/loadavg)"
    done
  done
done
rm -rf "$work"

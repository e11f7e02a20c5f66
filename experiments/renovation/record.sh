#!/usr/bin/env bash
# Records the outputs the renovation (issue: thin jobs, one evaluation layer) must keep bit for bit:
# the demo's fits, an EFT fit and a SMPLify fit of 12 synthetic crops, and evaluate on 32 held-out
# synthetic humans. Run it once before the first move and once after the last, into two folders,
# then compare them with compare.py. The crops are made once (by the first run) and copied into
# the second folder by hand, so both runs fit the very same file whatever the code in between.
#
#   bash experiments/renovation/record.sh /tmp/before
#   mkdir /tmp/after && cp /tmp/before/crops.npz /tmp/after/ && bash experiments/renovation/record.sh /tmp/after
#   python -m experiments.renovation.compare /tmp/before /tmp/after
set -euo pipefail
out="$1"
mkdir -p "$out"
export EFT_JAX_COMPILATION_CACHE=""
if [ ! -f "$out/crops.npz" ]; then
  python - "$out/crops.npz" <<'PY'
import sys
from eft_jax.datasets.synthetic import make_samples
from eft_jax.formats.exemplar_npz import write_exemplars_npz
import inspect
# The crop size's keyword was image_size before the renovation and crop_size after it.
size = "crop_size" if "crop_size" in inspect.signature(make_samples).parameters else "image_size"
samples = make_samples(range(50_000_000, 50_000_012), **{size: 128})
write_exemplars_npz(sys.argv[1], samples["image"], samples["keypoints"],
                    ids=[f"human_{i}" for i in range(12)])
PY
fi
eft-jax demo --out "$out/demo" > "$out/demo.txt" 2>&1
eft-jax fit --crops "$out/crops.npz" --out "$out/fit.json" --batch-size 4 > "$out/fit.txt" 2>&1
eft-jax smplify --crops "$out/crops.npz" --out "$out/smplify.json" --batch-size 4 > "$out/smplify.txt" 2>&1
eft-jax evaluate --dataset synthetic --limit 32 --worst 0 --out "$out/evaluate" > "$out/evaluate.txt" 2>&1
echo "recorded into $out"

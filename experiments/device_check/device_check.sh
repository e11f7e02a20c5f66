#!/usr/bin/env bash
# One prepared accelerator check (see experiments/device_check/device_check.py): run from anywhere,
#   experiments/device_check/device_check.sh [--smoke] [--out DIR] [--budget-s SECONDS]
# on a machine with JAX (CUDA), flax, optax, orbax and chex, and PyTorch for the ratio; nothing
# is downloaded. eft-jax's other pure-Python needs travel with the tree as wheels
# (experiments/device_check/wheels/) and are installed from there, offline, only when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python}"
if ! "$PYTHON" -c "import ml_collections" 2>/dev/null; then
  "$PYTHON" -m pip install --quiet --no-index --find-links experiments/device_check/wheels ml_collections
fi
exec "$PYTHON" -m experiments.device_check.device_check "$@"

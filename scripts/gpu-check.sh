#!/usr/bin/env bash
# Run the torch engine-equivalence and gradient tests on a CUDA GPU, if this machine has one.
#
#   scripts/gpu-check.sh            # uses .venv (make env first)
#
# Without a usable GPU it says so plainly and exits 0 (nothing was checked on a GPU). With one,
# tests/lava_nt/test_device.py runs its cuda cases (torch float64 on the GPU = the numpy reference
# spike for spike; training, fused path and batched personalisation on the GPU = the CPU to
# round-off), then the gradient and engine-equivalence suites run as usual.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${LAVA_NT_VENV:-$root/.venv}/bin/python"
if ! "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "gpu-check: SKIPPED - no CUDA GPU is available here (torch.cuda.is_available() is False);"
  echo "gpu-check: nothing was checked on a GPU. The CPU suite (make test) is unaffected."
  exit 0
fi
"$py" -c 'import torch; print("gpu-check: on", torch.cuda.get_device_name(0))'
cd "$root"
exec "$py" -m pytest -q -rs tests/lava_nt/test_device.py tests/lava_nt/nn/test_nn_gradients.py \
  tests/test_engine_equivalence.py

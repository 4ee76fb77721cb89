#!/usr/bin/env bash
# One-go CUDA check of every plugin (correctness vs CPU / reference fixtures, mixed
# precision, speed); prints one table and writes a JSON. Under 5 minutes on one GPU.
#
#   bash benchmarks/gpu_check.sh                       # cuda, JSON in benchmarks/results/
#   bash benchmarks/gpu_check.sh --json /tmp/gpu.json  # any gpu_check.py option
#   DEVICE=cpu bash benchmarks/gpu_check.sh --tiny --no-speed   # the CPU half
#
# PYTHON picks the interpreter (default: .venv/bin/python if present, else python);
# GPU_CHECK_TIMEOUT (default 290 s) bounds the whole run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi
"$PYTHON" -c 'import torch; print("[gpu_check] torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
exec timeout "${GPU_CHECK_TIMEOUT:-290}" "$PYTHON" benchmarks/gpu_check.py \
  --device "${DEVICE:-cuda}" "$@"

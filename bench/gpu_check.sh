#!/usr/bin/env bash
# The one prepared GPU check: install, rebuild, run the cuda tests at real sizes, bench.
#
#   bash bench/gpu_check.sh            # on the lent GPU; results under $OUT (or bench/results/gpu)
#   bash bench/gpu_check.sh --dry      # anywhere without a GPU: TRITON_INTERPRET=1, tiny
#                                      # shapes, no timing (checks the script itself)
# No network: the GPU image has Python 3.12, torch, triton 3.6, Cython, numpy, numba.
# Budget (< 8 min): install+build ~1 min, tests <= 3 min (first-call compiles), bench
# <= 3 min (the issue's targets first; rows are written as they finish), LeNet <= 75 s.
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=0
[[ "${1:-}" == "--dry" ]] && DRY=1
OUT="${OUT:-bench/results/gpu}"
mkdir -p "$OUT"
PY="${PYTHON:-python}"
status=0
log() { echo "== $*" | tee -a "$OUT/gpu_check.log"; }

log "environment"
{ "$PY" --version; "$PY" -c "import torch, triton, numpy, numba; print('torch', torch.__version__, 'triton', triton.__version__, 'numpy', numpy.__version__, 'numba', numba.__version__); print('cuda available:', torch.cuda.is_available()); print(torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null; } 2>&1 | tee -a "$OUT/gpu_check.log"

if [[ $DRY == 0 ]]; then
  log "install (no deps, no build isolation) and rebuild the extension"
  timeout 180 "$PY" -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | tail -5 | tee -a "$OUT/gpu_check.log" || status=1
  timeout 180 "$PY" setup.py -q build_ext --inplace 2>&1 | tail -5 | tee -a "$OUT/gpu_check.log" || status=1
  export ENGINE_TRITON_TESTS=1
  unset TRITON_INTERPRET
else
  export TRITON_INTERPRET=1
fi

log "cuda tests (tests/triton): registry samples float32+float64, kernel edge cases"
# Kernel compiles are CPU work: spread them over the machine's cores when xdist is there.
WORKERS=""
[[ $DRY == 0 ]] && "$PY" -c "import xdist" 2>/dev/null && WORKERS="-n 8"
timeout 180 "$PY" -m pytest -q -p no:cacheprovider $WORKERS tests/triton \
  --junitxml="$OUT/triton_tests.xml" 2>&1 | tail -60 | tee "$OUT/triton_tests.txt"
[[ ${PIPESTATUS[0]} == 0 ]] || status=1
grep -qE "[0-9]+ failed|error" "$OUT/triton_tests.txt" && status=1

log "bench (triton.testing.do_bench, TF32 off on both sides)"
if [[ $DRY == 1 ]]; then
  timeout 300 "$PY" -m bench.gpu_bench --out "$OUT" --dry 2>>"$OUT/gpu_check.log" || status=1
else
  timeout 180 "$PY" -m bench.gpu_bench --out "$OUT" 2>>"$OUT/gpu_check.log" || status=1
fi

log "a real model on real data: LeNet-5 on the digits, engine (Triton) and torch on the GPU"
if [[ $DRY == 1 ]]; then
  LENET="--epochs 1 --train-subset 32 --test-subset 50"
else
  LENET="--epochs 15"
fi
timeout 75 "$PY" -m examples.lenet --data digits --device cuda $LENET \
  --results "$OUT/lenet" 2>&1 | tail -12 | tee "$OUT/lenet.txt"
[[ ${PIPESTATUS[0]} == 0 ]] || status=1
log "done, status $status; results in $OUT"
exit $status

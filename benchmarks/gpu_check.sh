#!/usr/bin/env bash
# The GPU's figures (README, "The GPU"): on a machine with CUDA and the project's dependencies, run the
# test suite (the browser tests aside) and the hall load tool with the server on the GPU, plus the same
# hall on that machine's CPU as its baseline. Each step has its own time limit; logs go to $OUT (or
# ./gpu-logs). With pytest-xdist there the suite runs a file per worker (~2 minutes on a 16-core H200
# machine); the four halls take ~75 s each at their default 45 s measured.
# Usage: bash benchmarks/gpu_check.sh [tests|hall|all] [SECONDS_PER_HALL]
set -uo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
secs="${2:-45}"
out="${OUT:-gpu-logs}"
mkdir -p "$out"
py="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  "$py" -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
  nproc
} 2>&1 | tee "$out/machine.txt"

if [ "$what" != hall ]; then
  par=()
  if "$py" -c "import xdist" 2>/dev/null; then par+=(-n "${WORKERS:-8}" --dist loadfile); fi
  if "$py" -c "import pytest_timeout" 2>/dev/null; then par+=(--timeout 200); fi
  echo "== the suite with tests/test_cuda.py, browser tests aside (no Chromium there): ${par[*]}"
  timeout 300 "$py" -m pytest -q -p no:cacheprovider -m "not browser" --tb=short -rs --durations=15 \
    "${par[@]}" 2>&1 | tee "$out/suite.log" | tail -60
fi

if [ "$what" != tests ]; then
  for run in "cuda 200 httpx" "cpu 200 httpx" "cuda 50 httpx" "cuda 200 raw"; do
    set -- $run
    echo "== hall: $2 students ($3 client), server on $1"
    timeout $((secs + 90)) "$py" benchmarks/hall.py --auth --device "$1" --users "$2" --client "$3" \
      --seconds "$secs" --warmup 10 2>&1 | tee "$out/hall-$1-$2-$3.log"
  done
fi

#!/usr/bin/env bash
# The GPU's figures (README, "The GPU"): on a machine with CUDA and the project's dependencies, run the
# test suite (the browser tests aside) and the hall load tool with the server on the GPU, plus the same
# hall on that machine's CPU as its baseline. Each step has its own time limit; logs go to $OUT (or
# ./gpu-logs). The tests take ~6 minutes on an H200 machine, the three halls ~4: run them as two calls
# where one command may run 10 minutes.
# Usage: bash benchmarks/gpu_check.sh [tests|hall|all] [SECONDS_PER_HALL]
set -uo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
secs="${2:-60}"
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
  echo "== tests/test_cuda.py"
  timeout 180 "$py" -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$out/test_cuda.log" | tail -15
  echo "== the suite, browser tests aside (no Chromium there)"
  timeout 450 "$py" -m pytest -q -p no:cacheprovider -m "not browser" --ignore=tests/test_cuda.py --tb=short \
    --durations=10 2>&1 | tee "$out/suite.log" | tail -40
fi

if [ "$what" != tests ]; then
  for run in "cuda 200" "cpu 200" "cuda 50"; do
    set -- $run
    echo "== hall: $2 students, server on $1"
    timeout $((secs + 90)) "$py" benchmarks/hall.py --device "$1" --users "$2" --seconds "$secs" --warmup 10 \
      2>&1 | tee "$out/hall-$1-$2.log"
  done
fi

#!/usr/bin/env bash
# The GPU's figures (docs/serving.md, "The GPU"): on a machine with CUDA and the project's dependencies,
# run the test suite (the browser tests aside; tests/test_cuda.py runs there) and two halls, each with
# the server on the GPU and on that machine's CPU as its baseline:
# * the page's hall (benchmarks/bench_app.py --hall-only): the traffic 200 students' pages still send
#   (page loads, step 6, "check with Pyro", health), the server's CPU share. The page's files are the
#   paths in the file $PAGE_URLS, written on a machine with Chromium by
#   `python benchmarks/bench_app.py --hall-only --students 0 --save-page-urls FILE` at the same commit;
# * the server's compute routes as scripts call them (benchmarks/hall.py: every stroke sent to /encode).
# Each step has its own time limit; logs go to $OUT (or ./gpu-logs). With pytest-xdist there the suite
# runs a file per worker (~2 minutes on a 16-core H200 machine); each hall takes SECONDS + ~40 s.
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
  for dev in cuda cpu; do
    [ -f "${PAGE_URLS:-}" ] || { echo "== the page's hall skipped: PAGE_URLS names no file"; break; }
    echo "== the page's hall: 200 students' remaining traffic, server on $dev"
    timeout $((secs + 120)) "$py" benchmarks/bench_app.py --hall-only --page-urls "$PAGE_URLS" \
      --device "$dev" --seconds "$secs" 2>&1 | tee "$out/page-hall-$dev.log"
  done
  for dev in cuda cpu; do
    echo "== the compute routes' hall: 200 students' strokes sent to /encode, server on $dev"
    timeout $((secs + 90)) "$py" benchmarks/hall.py --auth --device "$dev" --users 200 \
      --seconds "$secs" --warmup 10 2>&1 | tee "$out/hall-$dev-200.log"
  done
fi

#!/usr/bin/env bash
# The prepared GPU check (tools/bench/bench_gpu.py) on a lent GPU machine, whose image has torch but not
# the toolkit's pure-Python dependencies: those travel as wheels in .whl/ (made here by
# tools/bench/fetch_gpu_wheels.sh) and are installed into /tmp/site first. Output goes to $OUT when set.
set -euo pipefail
cd "$(dirname "$0")/../.."
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1 STYLIZE_OFFLINE=1
out="${OUT:-$(mktemp -d)}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 480 python3 tools/bench/bench_gpu.py --device cuda --out "$out/runs" --compile "$@" 2>&1 | tee "$out/bench_gpu.log"
cp "$out/runs/bench_gpu.json" "$out/" 2>/dev/null || true

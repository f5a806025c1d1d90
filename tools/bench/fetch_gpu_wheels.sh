#!/usr/bin/env bash
# Download (here, where PyPI is reachable) the pure-Python wheels the GPU machine lacks into .whl/
# for tools/bench/bench_gpu.sh; .whl/ is git-ignored. The GPU image runs CPython 3.12 on x86-64.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d .whl open_clip_torch kornia kornia_rs trimesh xatlas svgelements ftfy wcwidth
ls -la .whl

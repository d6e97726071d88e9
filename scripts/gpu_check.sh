#!/usr/bin/env bash
# The one script to run on a GPU machine: configure, build, run every test (GPU tests included),
# then every benchmark binary, and print a summary. Exit status 0 only if all of it passed.
#
# Environment (all optional):
#   CUDA_ARCHS=90a        architectures to build (sm_90a for H100/H200; "80" for A100)
#   BUILD_DIR=build-gpu   build directory          BUILD_TYPE=Release
#   LOGDIR=...            logs and benchmark JSON (default: $OUT if set, else $BUILD_DIR/logs)
#   JOBS=<cores>          parallel build jobs      CLEAN=1  remove BUILD_DIR first
#   BENCHMARKS=auto|ON|OFF  build benchmarks (auto: when Google Benchmark is found)
#   GPU_TESTS_ONLY=1      run only tests labelled gpu      TEST_FILTER=regex  ctest -R regex
#   SKIP_TESTS=1          run no tests                     SKIP_BENCH=1  run no benchmarks
#   BENCH_FILTER=regex    run only bench_* binaries whose name matches
#   BENCH_ARGS="..."      extra arguments for every benchmark (e.g. --benchmark_filter=...)
#   BENCH_TIMEOUT=600     seconds per benchmark binary
#   ALLOW_GPU_SKIPS=1     do not fail when GPU tests report Skipped (no usable device)
#   SKIP_MEMCHECK=1       skip the compute-sanitizer memcheck of test_wsq_a16 [malformed]
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

build_dir="${BUILD_DIR:-build-gpu}"
logdir="${LOGDIR:-${OUT:-$build_dir/logs}}"
mkdir -p "$logdir"
logdir="$(cd "$logdir" && pwd)"
failures=()
summary=()

say() { printf '\n=== %s\n' "$*"; }

# --- the machine --------------------------------------------------------------------------------
say "machine"
gpu_name="none"
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  nvidia-smi --query-gpu=index,name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
  gpu_name="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)"
else
  echo "WARNING: nvidia-smi found no GPU; GPU tests will report Skipped and benchmarks will fail"
fi
command -v nvcc >/dev/null && nvcc --version | tail -n 2 | head -n 1
cmake --version | head -n 1
summary+=("GPU: $gpu_name")

# --- configure and build ------------------------------------------------------------------------
benchmarks="${BENCHMARKS:-auto}"
if [[ "$benchmarks" == auto ]]; then
  if cmake_has_package benchmark; then benchmarks=ON; else benchmarks=OFF; fi
fi
[[ "${CLEAN:-0}" == 1 ]] && rm -rf "$build_dir"

say "configure $build_dir (CUDA_ARCHS=${CUDA_ARCHS:-90a}, benchmarks $benchmarks)"
if ! cmake -S . -B "$build_dir" "${SQFORMAT_GENERATOR[@]}" \
  -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" -DSQFORMAT_ENABLE_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90a}" \
  -DSQFORMAT_BUILD_TESTS=ON -DSQFORMAT_BUILD_EXAMPLES=ON \
  -DSQFORMAT_BUILD_BENCHMARKS="$benchmarks" 2>&1 | tee "$logdir/configure.log"; then
  echo "configure FAILED (log: $logdir/configure.log)"
  exit 1
fi

say "build"
if cmake --build "$build_dir" --parallel "$JOBS" 2>&1 | tee "$logdir/build.log"; then
  summary+=("build: ok")
else
  failures+=("build")
  summary+=("build: FAILED (log: $logdir/build.log)")
fi

# --- tests --------------------------------------------------------------------------------------
if [[ "${SKIP_TESTS:-0}" != 1 && ${#failures[@]} -eq 0 ]]; then
  ctest_args=(--test-dir "$build_dir" --output-on-failure --output-junit "$logdir/ctest.xml")
  [[ "${GPU_TESTS_ONLY:-0}" == 1 ]] && ctest_args+=(-L gpu)
  [[ -n "${TEST_FILTER:-}" ]] && ctest_args+=(-R "$TEST_FILTER")
  say "ctest ${ctest_args[*]}"
  ctest "${ctest_args[@]}" 2>&1 | tee "$logdir/ctest.log"
  ctest_status=${PIPESTATUS[0]}
  ctest_line="$(grep -E 'tests passed|No tests were found' "$logdir/ctest.log" | tail -n 1)"
  # GPU tests skip (exit 77) only without a usable device; here that is a failure. Other tests
  # may skip for their own reasons (a model file that is absent) and are only counted.
  mapfile -t gpu_tests < <(ctest --test-dir "$build_dir" -N -L gpu | sed -n 's/^ *Test *#[0-9]*: //p')
  mapfile -t skipped < <(sed -n 's/^.*Test *#[0-9]*: \([^ ]*\) .*\*\*\*Skipped.*$/\1/p' "$logdir/ctest.log")
  gpu_skipped=()
  for t in "${skipped[@]}"; do
    for g in "${gpu_tests[@]}"; do [[ "$t" == "$g" ]] && gpu_skipped+=("$t"); done
  done
  summary+=("tests: ${ctest_line:-no summary line}; skipped: ${#skipped[@]} (GPU tests: ${#gpu_skipped[@]} of ${#gpu_tests[@]})")
  ((ctest_status != 0)) && failures+=("tests")
  if ((${#gpu_skipped[@]} > 0)) && [[ "${ALLOW_GPU_SKIPS:-0}" != 1 ]]; then
    failures+=("GPU tests skipped (no usable CUDA device?): ${gpu_skipped[*]}")
  fi
fi

# --- memcheck of the malformed-weights test ----------------------------------------------------
# Its outputs are unspecified; what it checks is that no kernel reads outside its buffers, which
# only compute-sanitizer sees.
malformed_test="$build_dir/test/gpu/test_wsq_a16"
if [[ "${SKIP_TESTS:-0}" != 1 && "${SKIP_MEMCHECK:-0}" != 1 && -x "$malformed_test" ]] &&
  [[ " ${failures[*]-} " != *" build "* ]] &&
  command -v compute-sanitizer >/dev/null && [[ "$gpu_name" != none ]]; then
  say "compute-sanitizer memcheck: test_wsq_a16 [malformed]"
  if compute-sanitizer --tool memcheck --error-exitcode 1 "$malformed_test" "[malformed]" \
    >"$logdir/memcheck_malformed.log" 2>&1; then
    summary+=("memcheck [malformed]: $(grep -E 'ERROR SUMMARY' "$logdir/memcheck_malformed.log" | tail -n 1)")
  else
    failures+=("memcheck [malformed]")
    summary+=("memcheck [malformed]: FAILED (log: $logdir/memcheck_malformed.log)")
  fi
fi

# --- benchmarks ---------------------------------------------------------------------------------
# Benchmarks run even when a test failed (the summary lists both); not when the build failed.
if [[ "${SKIP_BENCH:-0}" != 1 && "$benchmarks" == ON && " ${failures[*]-} " != *" build "* ]]; then
  mapfile -t benches < <(find "$build_dir/bench" -maxdepth 2 -type f -name 'bench_*' -perm -u+x \
    -not -path '*/CMakeFiles/*' 2>/dev/null | sort)
  [[ ${#benches[@]} -eq 0 ]] && summary+=("benchmarks: none built")
  read -r -a bench_args <<<"${BENCH_ARGS:-}"
  for bench in "${benches[@]}"; do
    name="$(basename "$bench")"
    if [[ -n "${BENCH_FILTER:-}" ]] && ! [[ "$name" =~ $BENCH_FILTER ]]; then continue; fi
    say "benchmark $name"
    timeout "${BENCH_TIMEOUT:-600}" "$bench" --benchmark_format=console \
      --benchmark_out="$logdir/$name.json" --benchmark_out_format=json "${bench_args[@]}" 2>&1 |
      tee "$logdir/$name.log"
    status=${PIPESTATUS[0]}
    # A benchmark that hits SkipWithError still exits 0: count those from the JSON.
    runs="$(grep -c '"run_name"' "$logdir/$name.json" 2>/dev/null)"
    errors="$(grep -c '"error_occurred": true' "$logdir/$name.json" 2>/dev/null)"
    if ((status == 0 && ${errors:-0} == 0)); then
      summary+=("bench $name: ok, ${runs:-0} results ($logdir/$name.json)")
    elif ((status == 0)); then
      failures+=("bench $name")
      summary+=("bench $name: ${errors} of ${runs:-0} benchmarks reported an error (log: $logdir/$name.log)")
    else
      failures+=("bench $name")
      summary+=("bench $name: FAILED with status $status (log: $logdir/$name.log)")
    fi
  done
elif [[ "$benchmarks" != ON ]]; then
  summary+=("benchmarks: not built (Google Benchmark not found or BENCHMARKS=OFF)")
fi

# --- summary ------------------------------------------------------------------------------------
say "summary"
printf '  %s\n' "${summary[@]}"
echo "  logs: $logdir"
if ((${#failures[@]})); then
  printf '  FAILED: %s\n' "${failures[@]}"
  exit 1
fi
echo "  all passed"

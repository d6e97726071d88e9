// bench/support/datapath_bench.cuh: what the data-path benchmarks share: device buffers,
// random fills, the timed loop and the device-to-device copy they are compared with.
//
// Data-path kernels are measured against a device-to-device copy in the same binary: static
// quantize-and-split, dynamic top-H quantization, weight packing, for M (tokens, or weight rows) in
// {1, 16, 2048, 8192} and K in {4096, 8192, 28672}, bf16 inputs unless named; and, for each of
// them, a kernel that moves the same bytes and does nothing else (bench_datapath_floor.cu).
//
// Timing: CUDA events around each call (bench/support/cuda_timer.hpp), the L2 flushed before
// every timed call (bench/support/l2_flush.hpp), 3 warm-up calls, random data, the MEDIAN call
// time reported. Counters:
//   GBps      bytes the kernel must move (inputs read once + outputs written) / median time;
//   copy_GBps cudaMemcpyAsync D2D of half that many bytes (so it reads and writes the same
//             total), timed the same way right before the kernel;
//   pct_copy  100 · GBps / copy_GBps.
#pragma once

#include <benchmark/benchmark.h>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cuda_timer.hpp"
#include "l2_flush.hpp"
#include "sqformat/config.hpp"
#include "sqformat/gpu/datapath/layout.hpp"

namespace {

namespace dp = sqformat::gpu::datapath;
using bf16 = __nv_bfloat16;
using sqformat::bench::CudaEventTimer;
using sqformat::bench::L2Flush;
using sqformat::bench::median;

constexpr int warmup_calls = 3;
constexpr int timed_calls = 25;

L2Flush& l2_flush() {
  static L2Flush f;
  return f;
}

template <class T> struct Dev {
  T* p = nullptr;
  explicit Dev(std::size_t n) { cudaMalloc(&p, (n > 0 ? n : 1) * sizeof(T)); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  ~Dev() { cudaFree(p); }
};

__device__ std::uint32_t hash(std::uint64_t i, std::uint32_t seed) {
  std::uint32_t h =
      static_cast<std::uint32_t>(i) * 0x9e3779b1u ^ seed ^ static_cast<std::uint32_t>(i >> 32);
  h ^= h >> 15;
  h *= 0x2c1b3c6du;
  h ^= h >> 12;
  return h;
}

/// Random values over several binades with random signs (never zero-filled, never NaN).
template <class T> __global__ void fill_random(T* p, std::size_t n, std::uint32_t seed) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const std::uint32_t h = hash(i, seed);
    const float v = ldexpf(static_cast<float>(h & 0xffff) / 65536.0f - 0.5f, int(h >> 28) - 8);
    p[i] = static_cast<T>(v);
  }
}

/// Exactly h high per bank: a cyclic run of h starting at a random offset.
__global__ void fill_mask(std::uint8_t* p, std::size_t n, int bank, int h) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const std::uint32_t offset = hash(i / bank, 7u) % bank;
    p[i] = (i % bank + offset) % bank < static_cast<std::uint32_t>(h) ? 1 : 0;
  }
}

/// Median seconds of `call` over timed_calls, L2 flushed before each.
template <class Call> double median_seconds(Call&& call) {
  CudaEventTimer timer;
  for (int i = 0; i < warmup_calls; ++i)
    call();
  std::vector<double> t;
  for (int i = 0; i < timed_calls; ++i) {
    l2_flush().flush();
    timer.start();
    call();
    t.push_back(timer.stop());
  }
  return median(t);
}

double copy_seconds(std::size_t traffic_bytes) {
  const std::size_t bytes = traffic_bytes / 2;
  Dev<std::uint8_t> a(bytes), b(bytes);
  cudaMemset(a.p, 1, bytes);
  return median_seconds([&] { cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice); });
}

/// Runs the benchmark loop: each iteration is one timed call; counters from the median.
template <class Call> void report(benchmark::State& state, std::size_t traffic_bytes, Call&& call) {
  const double copy = copy_seconds(traffic_bytes);
  std::vector<double> t;
  CudaEventTimer timer;
  for (int i = 0; i < warmup_calls; ++i)
    call();
  for (auto _ : state) {
    l2_flush().flush();
    timer.start();
    call();
    const double s = timer.stop();
    t.push_back(s);
    state.SetIterationTime(s);
  }
  const double mid = median(t);
  state.counters["median_us"] = mid * 1e6;
  state.counters["GBps"] = static_cast<double>(traffic_bytes) / mid * 1e-9;
  state.counters["copy_GBps"] = static_cast<double>(traffic_bytes) / copy * 1e-9;
  state.counters["pct_copy"] = 100.0 * copy / mid;
}

/// Bytes a static split reads (M x K bf16 activations and the K-entry permutation) and writes
/// (X_high, X_low and two float scales for each of `scales` sets), and bytes of an SQ tensor
/// (W_low, W_high and two float scales a bank): what the benchmarks count as moved.
inline std::size_t static_split_input_bytes(std::int64_t m, std::int64_t k) {
  return m * k * 2 + k * 4;
}
template <class C>
std::size_t static_split_output_bytes(std::int64_t m, std::int64_t k, std::int64_t scales) {
  return m * (dp::static_high_row_bytes<C>(k) + dp::static_low_row_bytes<C>(k)) + scales * 8;
}
template <class C> std::size_t sq_tensor_bytes(std::int64_t m, std::int64_t k) {
  return m * (dp::sq_low_row_bytes<C>(k) + dp::sq_high_row_bytes<C>(k) + 8 * (k / C::bank));
}

using SQ45 = sqformat::SqConfig<64, 8, 8, 4>; // B64-(8/4)-0.875: 4.5 bits
using SQ5 = sqformat::SqConfig<16, 4, 8, 4>;  // B16-(8/4)-0.75: 5 bits

void shapes(benchmark::internal::Benchmark* b) {
  for (std::int64_t m : {1, 16, 2048, 8192})
    for (std::int64_t k : {4096, 8192, 28672})
      b->Args({m, k});
  b->UseManualTime()->Iterations(timed_calls)->Unit(benchmark::kMicrosecond);
}

} // namespace

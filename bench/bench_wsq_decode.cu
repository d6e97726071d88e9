// W(SQ)A16 decode (Y = X · Wᵀ, M <= 64 tokens, bf16) against cuBLAS BF16 (cublasGemmEx, float32
// compute, default algorithm) in the same binary. Kernels: W(SQ5)A16 = SqConfig<64, 8, 8, 4>
// (B64-(8/4)-0.875, 5 effective bits) and W(SQ6)A16 = SqConfig<64, 32, 8, 4> (B64-(8/4)-0.5), as
// run() dispatches them (lanes-along-K kernel at M = 1, hybrid kernel for 2 <= M <= 8 (SQ5) or
// 4 (SQ6), tensor cores above), forced onto one kernel (row-thread, M <= 2; lanes-along-K, M <= 4;
// hybrid, M <= 8: tensor-core low path, CUDA-core high path; tensor cores), and the lanes-along-K
// and hybrid kernels under other policies. wsq5_weight_stream_floor (M <= 8) only reads the SQ5
// weights once and writes Y: its x_cublas bounds what any W(SQ5)A16 kernel can reach. The `kernel`
// counter says which kernel ran: 1 lanes-along-K, 2 row-thread, 3 tensor cores, 4 hybrid, 0
// generic.
//
// Also: cuBLASLt INT8 (s8 x s8 -> s32) and FP8 (e4m3 -> bf16) baselines (x_int8, x_fp8), every
// Llama-3 linear shape (8B and 70B) at M in {1, 16, 64, 256, 2048, 8192} for the baselines,
// W(SQ5)A16 as run() dispatches it (M <= 64), the large-M path (WsqA16LargeM: dequantize, then
// cublasGemmEx) at M in {256, 2048, 8192}, and W(SQ5)A8 (WsqA8Decode) at M in {1, 16, 64}.
//
// Timing: CUDA events around each call, L2 flushed before every timed call (l2_flush.hpp),
// 3 warm-up calls, random data with exactly H sentinels per bank. Counters use the MEDIAN call
// time: GBps = bytes the call must move (W_low + W_high + scales, or the bf16 W, plus X and Y) / t;
// x_cublas = t_cublas / t_ours (> 1: faster); floor_us = bytes / 3.35 TB/s (datasheet HBM3).
#include <benchmark/benchmark.h>

#include <sqformat/config.hpp>
#include <sqformat/gpu/wsq/wsq_a16_decode.hpp>
#include <sqformat/gpu/wsq/wsq_a16_large_m.hpp>
#include <sqformat/gpu/wsq/wsq_a8_decode.hpp>

#include <cublas_v2.h>
#include <cuda_bf16.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cublaslt_gemm.hpp"
#include "cuda_timer.hpp"
#include "l2_flush.hpp"
#include "stream_floor.cuh"

namespace {

using namespace sqformat;
using bench::CudaEventTimer;
using bench::L2Flush;
using bf16 = __nv_bfloat16;

std::map<std::string, double>& cublas_medians() {
  static std::map<std::string, double> m;
  return m;
}
/// cuBLASLt INT8 (s8 x s8 -> s32) and FP8 (e4m3 -> bf16) medians of the same shapes.
std::map<std::string, double>& lt_medians(bench::BaselineKind kind) {
  static std::map<std::string, double> m[3];
  return m[static_cast<int>(kind)];
}
std::string key(int m, int n, int k) {
  return std::to_string(m) + "/" + std::to_string(n) + "/" + std::to_string(k);
}
L2Flush& l2_flush() {
  static L2Flush f;
  return f;
}

template <class T> struct Dev {
  T* p = nullptr;
  explicit Dev(std::size_t n) { cudaMalloc(&p, n * sizeof(T)); }
  ~Dev() { cudaFree(p); }
};

/// Host xorshift: fast enough for 235 M weights.
struct Rng {
  std::uint64_t s;
  std::uint32_t next() {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    return static_cast<std::uint32_t>(s >> 11);
  }
};

/// A valid SQ weight tensor (INT8/INT4) with random codes, exactly H sentinels per bank. Built once
/// per configuration and shape (see weights_for).
template <class C> struct SqWeights {
  std::unique_ptr<Dev<std::uint8_t>> low, high;
  std::unique_ptr<Dev<float>> s_low, s_high;
  gpu::WsqWeightsView<C> view;
  std::size_t bytes = 0;
  SqWeights(int n, int k) {
    static_assert(C::low_bits == 4 && C::high_bits == 8, "bench generator: INT8/INT4 only");
    view.n = n, view.k = k;
    const std::size_t lrb = view.low_row_bytes(), hrb = view.high_row_bytes();
    const std::size_t banks = std::size_t(n) * view.banks();
    std::vector<std::uint8_t> hl(n * lrb), hh(n * hrb);
    std::vector<float> sl(banks), sh(banks);
    Rng rng{0x9E3779B97F4A7C15ull ^ std::uint64_t(n) * k};
    std::uint8_t codes[C::bank];
    int idx[C::bank];
    for (int r = 0; r < n; ++r) {
      for (int b = 0; b < view.banks(); ++b) {
        for (int i = 0; i < C::bank; ++i)
          codes[i] = (rng.next() % 15 + 9) & 0xF, idx[i] = i;
        for (int i = 0; i < C::high_per_bank; ++i) { // partial Fisher-Yates: H distinct slots
          const int j = i + int(rng.next() % (C::bank - i));
          std::swap(idx[i], idx[j]);
          codes[idx[i]] = 0x8; // the INT4 sentinel
        }
        std::uint8_t* dst = hl.data() + r * lrb + b * C::bank / 2;
        for (int i = 0; i < C::bank; i += 2)
          dst[i / 2] = codes[i] | (codes[i + 1] << 4);
        for (int i = 0; i < C::high_per_bank; ++i)
          hh[r * hrb + b * C::high_per_bank + i] = std::uint8_t(int(rng.next() % 255) - 127);
        sl[r * view.banks() + b] = 1e-3f * (1 + rng.next() % 100);
        sh[r * view.banks() + b] = 1e-4f * (1 + rng.next() % 100);
      }
    }
    low = std::make_unique<Dev<std::uint8_t>>(hl.size());
    high = std::make_unique<Dev<std::uint8_t>>(hh.size());
    s_low = std::make_unique<Dev<float>>(banks);
    s_high = std::make_unique<Dev<float>>(banks);
    cudaMemcpy(low->p, hl.data(), hl.size(), cudaMemcpyHostToDevice);
    cudaMemcpy(high->p, hh.data(), hh.size(), cudaMemcpyHostToDevice);
    cudaMemcpy(s_low->p, sl.data(), banks * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(s_high->p, sh.data(), banks * 4, cudaMemcpyHostToDevice);
    view.low = low->p, view.high = high->p, view.scale_low = s_low->p, view.scale_high = s_high->p;
    bytes = hl.size() + hh.size() + 8 * banks;
  }
};

/// The weights of a configuration and shape, generated on first use and kept for later benchmarks.
template <class C> SqWeights<C>& weights_for(int n, int k) {
  static std::map<std::pair<int, int>, std::unique_ptr<SqWeights<C>>> cache;
  auto& slot = cache[{n, k}];
  if (!slot)
    slot = std::make_unique<SqWeights<C>>(n, k);
  return *slot;
}

__global__ void fill_bf16(bf16* p, std::size_t n, std::uint32_t seed) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    std::uint32_t h = std::uint32_t(i) * 0x9E3779B1u ^ seed;
    h ^= h >> 15, h *= 0x2C1B3C6Du, h ^= h >> 12;
    p[i] = __float2bfloat16((float(h & 0xFFFF) - 32768.0f) / 32768.0f);
  }
}

/// INT8 activation codes in [-127, 127], as W(SQ)A8 takes them.
__global__ void fill_int8_codes(std::int8_t* p, std::size_t n, std::uint32_t seed) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    std::uint32_t h = std::uint32_t(i) * 0x9E3779B1u ^ seed;
    h ^= h >> 15, h *= 0x2C1B3C6Du, h ^= h >> 12;
    p[i] = static_cast<std::int8_t>(int(h % 255u) - 127);
  }
}

template <class Op> double timed_loop(benchmark::State& state, Op&& op) {
  CudaEventTimer timer;
  for (int i = 0; i < 3; ++i)
    op();
  cudaDeviceSynchronize();
  std::vector<double> times;
  for (auto _ : state) {
    l2_flush().flush();
    timer.start();
    op();
    const double t = timer.stop();
    state.SetIterationTime(t);
    times.push_back(t);
  }
  return bench::median(times);
}

void set_counters(benchmark::State& state, double t, double bytes) {
  state.counters["median_us"] = t * 1e6;
  state.counters["GBps"] = bytes / t * 1e-9;
  state.counters["floor_us"] = bytes / 3.35e12 * 1e6;
}

/// x_cublas, x_int8 and x_fp8: each baseline's median over ours, where it ran in this binary.
void set_ratios(benchmark::State& state, int m, int n, int k, double t) {
  const std::string key_ = key(m, n, k);
  if (const auto it = cublas_medians().find(key_); it != cublas_medians().end())
    state.counters["x_cublas"] = it->second / t;
  const auto& i8 = lt_medians(bench::BaselineKind::int8_s32);
  if (const auto it = i8.find(key_); it != i8.end())
    state.counters["x_int8"] = it->second / t;
  const auto& f8 = lt_medians(bench::BaselineKind::fp8_bf16);
  if (const auto it = f8.find(key_); it != f8.end())
    state.counters["x_fp8"] = it->second / t;
}

/// Counters of a row that reads the SQ weights: GBps on all its bytes, weight_GBps on the
/// weights' alone, and the ratios to the baselines.
void set_weight_counters(benchmark::State& state, int m, int n, int k, double t, double bytes,
                         double weight_bytes) {
  set_counters(state, t, bytes);
  state.counters["weight_GBps"] = weight_bytes / t * 1e-9;
  set_ratios(state, m, n, k, t);
}

/// cuBLASLt INT8 (s8 x s8 -> s32, exact int32 like W(SQ)A8's sums) and FP8 (e4m3 x e4m3 ->
/// bf16): the fastest of up to 8 heuristic algorithms (bench/support/cublaslt_gemm.hpp).
void bm_cublaslt(benchmark::State& state, bench::BaselineKind kind) {
  const int m = int(state.range(0)), n = int(state.range(1)), k = int(state.range(2));
  const std::size_t eb = bench::baseline_element_bytes(kind);
  const std::size_t ob = bench::baseline_output_bytes(kind);
  Dev<std::uint8_t> x(std::size_t(m) * k * eb), w(std::size_t(n) * k * eb),
      y(std::size_t(m) * n * ob);
  // bf16 pairs of moderate values are also finite, moderate e4m3 and any int8 bytes.
  fill_bf16<<<1024, 256>>>(reinterpret_cast<bf16*>(w.p), std::size_t(n) * k * eb / 2, 5);
  fill_bf16<<<64, 256>>>(reinterpret_cast<bf16*>(x.p), std::size_t(m) * k * eb / 2, 6);
  bench::CublasLtGemm gemm(kind, m, n, k);
  if (!gemm.ok() || !gemm.select_fastest(x.p, w.p, y.p)) {
    state.SkipWithError("cuBLASLt offers no algorithm for this shape and type");
    return;
  }
  const double t = timed_loop(state, [&] { gemm.run(x.p, w.p, y.p); });
  lt_medians(kind)[key(m, n, k)] = t;
  set_counters(state, t, double(eb) * (double(n) * k + double(m) * k) + double(ob) * m * n);
  state.counters["algos"] = gemm.candidates();
}

void bm_cublas_bf16(benchmark::State& state) {
  const int m = int(state.range(0)), n = int(state.range(1)), k = int(state.range(2));
  Dev<bf16> w(std::size_t(n) * k), x(std::size_t(m) * k), y(std::size_t(m) * n);
  fill_bf16<<<1024, 256>>>(w.p, std::size_t(n) * k, 1);
  fill_bf16<<<64, 256>>>(x.p, std::size_t(m) * k, 2);
  cublasHandle_t h = nullptr;
  cublasCreate(&h);
  const float alpha = 1.0f, beta = 0.0f;
  cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
  const double t = timed_loop(state, [&] {
    st = cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, w.p, CUDA_R_16BF, k, x.p,
                      CUDA_R_16BF, k, &beta, y.p, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                      CUBLAS_GEMM_DEFAULT);
  });
  cublasDestroy(h);
  if (st != CUBLAS_STATUS_SUCCESS)
    state.SkipWithError("cublasGemmEx failed");
  cublas_medians()[key(m, n, k)] = t;
  set_counters(state, t, 2.0 * (double(n) * k + double(m) * k + double(m) * n));
}

/// Which kernel a benchmark times: run()'s choice, or one kernel forced (to compare them).
enum class Kernel { dispatch, row_thread, tensor_cores, hybrid, gemv };

template <class C, Kernel K = Kernel::dispatch, class Policy = gpu::WsqDecodePolicy<>>
void bm_wsq_a16(benchmark::State& state) {
  const int m = int(state.range(0)), n = int(state.range(1)), k = int(state.range(2));
  using Op = gpu::WsqA16Decode<C, bf16, Policy>;
  const int max_m = K == Kernel::row_thread ? Op::row_thread_max_m
                    : K == Kernel::hybrid   ? Op::hybrid_max_m
                    : K == Kernel::gemv     ? Op::gemv_max_m
                                            : Op::max_m;
  if (m > max_m) {
    state.SkipWithError("M above the forced kernel's range");
    return;
  }
  SqWeights<C>& w = weights_for<C>(n, k);
  Dev<bf16> x(std::size_t(m) * k), y(std::size_t(m) * n);
  fill_bf16<<<64, 256>>>(x.p, std::size_t(m) * k, 3);
  typename Op::Arguments args{w.view, x.p, y.p, m};
  if (Op::can_implement(args) != Status::success) {
    state.SkipWithError("can_implement failed");
    return;
  }
  const std::size_t ws_bytes = K == Kernel::tensor_cores ? Op::tensor_core_workspace_size(args)
                               : K == Kernel::row_thread ? Op::row_thread_workspace_size(args)
                               : K == Kernel::hybrid     ? Op::hybrid_workspace_size(args)
                               : K == Kernel::gemv       ? Op::gemv_workspace_size(args)
                                                         : Op::workspace_size(args);
  Dev<unsigned char> ws(ws_bytes);
  Status st = Status::success;
  const double t = timed_loop(state, [&] {
    st = K == Kernel::tensor_cores ? Op::run_tensor_cores(args, ws.p, ws_bytes, nullptr)
         : K == Kernel::row_thread ? Op::run_row_thread(args, ws.p, ws_bytes, nullptr)
         : K == Kernel::hybrid     ? Op::run_hybrid(args, ws.p, ws_bytes, nullptr)
         : K == Kernel::gemv       ? Op::run_gemv(args, ws.p, ws_bytes, nullptr)
                                   : Op::run(args, ws.p, ws_bytes, nullptr);
  });
  state.counters["kernel"] = K == Kernel::tensor_cores     ? 3
                             : K == Kernel::row_thread     ? 2
                             : K == Kernel::hybrid         ? 4
                             : K == Kernel::gemv           ? 1
                             : Op::uses_hybrid(args)       ? 4
                             : Op::uses_gemv(args)         ? 1
                             : Op::uses_row_thread(args)   ? 2
                             : Op::uses_tensor_cores(args) ? 3
                                                           : 0;
  state.counters["k_slices"] = K == Kernel::dispatch ? Op::k_slices(args) : 0;
  if (st != Status::success)
    state.SkipWithError(to_string(st));
  set_weight_counters(state, m, n, k, t, double(w.bytes) + 2.0 * (double(m) * k + double(m) * n),
                      double(w.bytes));
}

/// The streaming floor of a W(SQ) decode (bench/support/stream_floor.cuh): reads as many bytes as
/// the SQ weights hold (one buffer: W_low, W_high and the scales together) once, writes Y, and
/// does nothing else. x_cublas of this row is the most any kernel that reads the SQ weights once
/// can reach against the cuBLAS BF16 row of the same shape in this run.
template <class C> void bm_weight_stream_floor(benchmark::State& state) {
  const int m = int(state.range(0)), n = int(state.range(1)), k = int(state.range(2));
  const SqWeights<C>& w = weights_for<C>(n, k);
  const std::uint64_t chunks = (w.bytes + 15) / 16;
  Dev<uint4> blob(chunks);
  fill_bf16<<<1024, 256>>>(reinterpret_cast<bf16*>(blob.p), chunks * 8, 4);
  Dev<bf16> y(std::size_t(m) * n + 8);
  Dev<unsigned> sink(1);
  const std::uint64_t y_chunks = std::uint64_t(m) * n * 2 / 16;
  const double t = timed_loop(state, [&] {
    bench::stream_floor(blob.p, chunks, reinterpret_cast<uint4*>(y.p), y_chunks, sink.p);
  });
  if (cudaGetLastError() != cudaSuccess)
    state.SkipWithError("stream_floor_kernel failed");
  set_weight_counters(state, m, n, k, t, double(w.bytes) + 2.0 * (double(m) * k + double(m) * n),
                      double(w.bytes));
}

/// W(SQ)A8: INT8 activation codes with one float scale a token, exact int32 sums, bf16 Y.
template <class C> void bm_wsq_a8(benchmark::State& state) {
  const int m = int(state.range(0)), n = int(state.range(1)), k = int(state.range(2));
  using Op = gpu::WsqA8Decode<C, bf16>;
  SqWeights<C>& w = weights_for<C>(n, k);
  Dev<std::int8_t> x(std::size_t(m) * k);
  Dev<float> xs(m);
  Dev<bf16> y(std::size_t(m) * n);
  fill_int8_codes<<<64, 256>>>(x.p, std::size_t(m) * k, 7);
  std::vector<float> scales(m, 1.0f / 127);
  cudaMemcpy(xs.p, scales.data(), m * sizeof(float), cudaMemcpyHostToDevice);
  typename Op::Arguments args{w.view, x.p, xs.p, y.p, m};
  if (Op::can_implement(args) != Status::success) {
    state.SkipWithError("can_implement failed");
    return;
  }
  Status st = Status::success;
  const double t = timed_loop(state, [&] { st = Op::run(args, nullptr, 0, nullptr); });
  if (st != Status::success)
    state.SkipWithError(to_string(st));
  set_weight_counters(state, m, n, k, t, double(w.bytes) + double(m) * k + 4.0 * m + 2.0 * m * n,
                      double(w.bytes));
}

/// W(SQ)A16 at large M: dequantize W to a dense bf16 copy (the workspace), then cublasGemmEx.
template <class C> void bm_wsq_a16_large_m(benchmark::State& state) {
  const int m = int(state.range(0)), n = int(state.range(1)), k = int(state.range(2));
  using Op = gpu::WsqA16LargeM<C, bf16>;
  SqWeights<C>& w = weights_for<C>(n, k);
  Dev<bf16> x(std::size_t(m) * k), y(std::size_t(m) * n);
  fill_bf16<<<1024, 256>>>(x.p, std::size_t(m) * k, 8);
  cublasHandle_t h = nullptr;
  cublasCreate(&h);
  typename Op::Arguments args{w.view, x.p, y.p, m, h};
  const std::size_t ws_bytes = Op::workspace_size(args);
  Dev<unsigned char> ws(ws_bytes);
  Status st = Op::can_implement(args);
  if (st == Status::success) {
    const double t = timed_loop(state, [&] { st = Op::run(args, ws.p, ws_bytes, nullptr); });
    set_counters(state, t, double(w.bytes) + 2.0 * (double(m) * k + double(m) * n));
    set_ratios(state, m, n, k, t);
  }
  cublasDestroy(h);
  if (st != Status::success)
    state.SkipWithError(to_string(st));
}

constexpr std::pair<int, int> kShapes[] = {
    {8192, 8192}, {28672, 8192}, {4096, 4096}, {14336, 4096}};
/// The Llama linear shapes kShapes leaves out (Llama-3-8B KV and down, Llama-3-70B KV and down).
constexpr std::pair<int, int> kMoreLlamaShapes[] = {
    {1024, 4096}, {4096, 14336}, {1024, 8192}, {8192, 28672}};
constexpr int kLargeM[] = {256, 2048, 8192};

/// What `shapes` leaves out of every Llama shape at M in {1, 16, 64, 256, 2048, 8192}: the four
/// other shapes at M <= 64 (MaxM = 64) or at every M, and all eight at M = 256, 2048, 8192.
template <int MaxM> void more_llama_shapes(benchmark::internal::Benchmark* b) {
  for (const auto& nk : kMoreLlamaShapes)
    for (int m : {1, 16, 64, 256, 2048, 8192})
      if (m <= MaxM)
        b->Args({m, nk.first, nk.second});
  if (MaxM > 64) {
    for (const auto& nk : kShapes)
      for (int m : kLargeM)
        b->Args({m, nk.first, nk.second});
  }
  b->UseManualTime()->Iterations(50)->Unit(benchmark::kMicrosecond);
}
/// Every Llama shape at M = 256, 2048, 8192 (the large-M path).
void large_m_shapes(benchmark::internal::Benchmark* b) {
  for (const auto* list : {kShapes, kMoreLlamaShapes})
    for (int i = 0; i < 4; ++i)
      for (int m : kLargeM)
        b->Args({m, list[i].first, list[i].second});
  b->UseManualTime()->Iterations(20)->Unit(benchmark::kMicrosecond);
}
/// Every Llama shape at M = 1, 16, 64 (W(SQ)A8).
void a8_shapes(benchmark::internal::Benchmark* b) {
  for (const auto* list : {kShapes, kMoreLlamaShapes})
    for (int i = 0; i < 4; ++i)
      for (int m : {1, 16, 64})
        b->Args({m, list[i].first, list[i].second});
  b->UseManualTime()->Iterations(50)->Unit(benchmark::kMicrosecond);
}

void shapes(benchmark::internal::Benchmark* b) {
  for (const auto& nk : kShapes)
    for (int m : {1, 2, 4, 8, 16, 64})
      b->Args({m, nk.first, nk.second});
  b->UseManualTime()->Iterations(50)->Unit(benchmark::kMicrosecond);
}
/// The shapes at the M a kernel takes (row-thread: 2, lanes-along-K: 4, hybrid: 8).
template <int MaxM> void small_m_shapes(benchmark::internal::Benchmark* b) {
  for (const auto& nk : kShapes)
    for (int m : {1, 2, 4, 8})
      if (m <= MaxM)
        b->Args({m, nk.first, nk.second});
  b->UseManualTime()->Iterations(50)->Unit(benchmark::kMicrosecond);
}

using Sq5 = SqConfig<64, 8, 8, 4>;
using Sq6 = SqConfig<64, 32, 8, 4>;

} // namespace

// Registration order is execution order: the baseline runs first so that x_cublas is known.
BENCHMARK(bm_cublas_bf16)->Apply(shapes)->Apply(more_llama_shapes<8192>);
BENCHMARK_CAPTURE(bm_cublaslt, int8, bench::BaselineKind::int8_s32)
    ->Name("cublaslt_int8")
    ->Apply(shapes)
    ->Apply(more_llama_shapes<8192>);
BENCHMARK_CAPTURE(bm_cublaslt, fp8, bench::BaselineKind::fp8_bf16)
    ->Name("cublaslt_fp8")
    ->Apply(shapes)
    ->Apply(more_llama_shapes<8192>);
BENCHMARK(bm_wsq_a16<Sq5>)
    ->Name("wsq5_a16_B64_8_4_0.875")
    ->Apply(shapes)
    ->Apply(more_llama_shapes<64>);
BENCHMARK(bm_wsq_a16_large_m<Sq5>)->Name("wsq5_a16_large_m_B64_8_4_0.875")->Apply(large_m_shapes);
BENCHMARK(bm_wsq_a8<Sq5>)->Name("wsq5_a8_B64_8_4_0.875")->Apply(a8_shapes);
BENCHMARK(bm_weight_stream_floor<Sq5>)->Name("wsq5_weight_stream_floor")->Apply(small_m_shapes<8>);
BENCHMARK(bm_wsq_a16<Sq6>)->Name("wsq6_a16_B64_8_4_0.5")->Apply(shapes);
BENCHMARK(bm_wsq_a16<Sq5, Kernel::row_thread>)
    ->Name("wsq5_a16_row_thread_B64_8_4_0.875")
    ->Apply(small_m_shapes<2>);
BENCHMARK(bm_wsq_a16<Sq6, Kernel::row_thread>)
    ->Name("wsq6_a16_row_thread_B64_8_4_0.5")
    ->Apply(small_m_shapes<2>);
BENCHMARK(bm_wsq_a16<Sq5, Kernel::tensor_cores>)
    ->Name("wsq5_a16_tensor_cores_B64_8_4_0.875")
    ->Apply(shapes);
BENCHMARK(bm_wsq_a16<Sq6, Kernel::tensor_cores>)
    ->Name("wsq6_a16_tensor_cores_B64_8_4_0.5")
    ->Apply(shapes);
BENCHMARK(bm_wsq_a16<Sq5, Kernel::hybrid>)
    ->Name("wsq5_a16_hybrid_B64_8_4_0.875")
    ->Apply(small_m_shapes<8>);
BENCHMARK(bm_wsq_a16<Sq6, Kernel::hybrid>)
    ->Name("wsq6_a16_hybrid_B64_8_4_0.5")
    ->Apply(small_m_shapes<8>);
// Policies of the hybrid kernel (same output). The default takes 1 bank pair in flight at 3
// blocks a SM for up to 4 tokens and 2 pairs at 2 blocks for 8; these force 2 pairs (the default
// before), 1 pair at 2 blocks, and 3 pairs.
BENCHMARK(bm_wsq_a16<Sq5, Kernel::hybrid, gpu::WsqDecodePolicy<4, 2, 4, 8, 2>>)
    ->Name("wsq5_a16_hybrid_p2_B64_8_4_0.875")
    ->Apply(small_m_shapes<8>);
BENCHMARK(bm_wsq_a16<Sq6, Kernel::hybrid, gpu::WsqDecodePolicy<4, 2, 4, 8, 2>>)
    ->Name("wsq6_a16_hybrid_p2_B64_8_4_0.5")
    ->Apply(small_m_shapes<8>);
BENCHMARK(bm_wsq_a16<Sq5, Kernel::hybrid, gpu::WsqDecodePolicy<4, 2, 4, 8, 1, 2>>)
    ->Name("wsq5_a16_hybrid_p1_b2_B64_8_4_0.875")
    ->Apply(small_m_shapes<8>);
BENCHMARK(bm_wsq_a16<Sq5, Kernel::hybrid, gpu::WsqDecodePolicy<4, 2, 4, 8, 3>>)
    ->Name("wsq5_a16_hybrid_p3_B64_8_4_0.875")
    ->Apply(small_m_shapes<8>);
// The lanes-along-K kernel forced (run() gives it M = 1 only), and under other policies (same
// output, other speed): rows per warp, warps per block. The default policy is rows 4, warps 8.
BENCHMARK(bm_wsq_a16<Sq5, Kernel::gemv>)
    ->Name("wsq5_a16_gemv_B64_8_4_0.875")
    ->Apply(small_m_shapes<4>);
BENCHMARK(bm_wsq_a16<Sq6, Kernel::gemv>)
    ->Name("wsq6_a16_gemv_B64_8_4_0.5")
    ->Apply(small_m_shapes<2>);
BENCHMARK(bm_wsq_a16<Sq5, Kernel::gemv, gpu::WsqDecodePolicy<4, 2, 2, 8>>)
    ->Name("wsq5_a16_gemv_w8_r2_B64_8_4_0.875")
    ->Apply(small_m_shapes<4>);
BENCHMARK(bm_wsq_a16<Sq5, Kernel::gemv, gpu::WsqDecodePolicy<4, 2, 4, 4>>)
    ->Name("wsq5_a16_gemv_w4_r4_B64_8_4_0.875")
    ->Apply(small_m_shapes<4>);
BENCHMARK(bm_wsq_a16<Sq5, Kernel::gemv, gpu::WsqDecodePolicy<4, 2, 4, 16>>)
    ->Name("wsq5_a16_gemv_w16_r4_B64_8_4_0.875")
    ->Apply(small_m_shapes<4>);
BENCHMARK_MAIN();

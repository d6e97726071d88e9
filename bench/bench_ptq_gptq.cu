// PTQ cost of one 8192 x 8192 linear layer on the GPU: Hessian from 64 x 2048 tokens, the
// inverse-Hessian factor, and GPTQ-SQ B-(8/4)-0.875 with b = 64; plus the host path at smaller
// sizes on this machine's CPU (single thread), to extrapolate by its O(K^3) / O(tokens K^2) cost.
#include "cuda_timer.hpp"

#include <sqformat/config.hpp>
#include <sqformat/gpu/ptq/gptq_sq.cuh>
#include <sqformat/gpu/ptq/hessian_accumulate.cuh>
#include <sqformat/ptq/calibration_stats.hpp>
#include <sqformat/ptq/sq_weights.hpp>

#include <benchmark/benchmark.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

namespace {
namespace gp = sqformat::gpu::ptq;
namespace hp = sqformat::ptq;
using Config = sqformat::SqConfig<64, 8>; // B-(8/4)-0.875, b = 64

constexpr std::size_t kLayer = 8192;
constexpr std::size_t kBatchTokens = 2048;
constexpr int kBatches = 64;

/// Approximately normal floats from a hash (sum of 4 uniforms), never all zero.
__global__ void fill_pseudo_normal(float* p, std::size_t n, std::uint32_t seed, float sigma) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    float s = 0.0f;
    for (std::uint32_t r = 0; r < 4; ++r) {
      std::uint32_t h = static_cast<std::uint32_t>(i) * 0x9E3779B1u ^ (seed + r * 0x85EBCA6Bu);
      h ^= h >> 15;
      h *= 0x2C1B3C6Du;
      h ^= h >> 12;
      h *= 0x297A2D39u;
      h ^= h >> 15;
      s += float(h) * (1.0f / 4294967296.0f) - 0.5f;
    }
    p[i] = sigma * s * 1.7320508f;
  }
}

struct GpuLayer {
  cublasHandle_t blas{};
  cusolverDnHandle_t solver{};
  float* x[2]{};
  float *scratch{}, *w0{}, *w{}, *sl{}, *sh{};
  int* flag{};
  double *gram{}, *h{};
  std::int8_t* codes{};
  std::uint8_t* mask{};
  void* ws{};
  std::size_t ws_bytes = 0;
  bool ok = false;

  GpuLayer() {
    const std::size_t k = kLayer, n = kLayer;
    cublasCreate(&blas);
    cusolverDnCreate(&solver);
    bool a = true;
    for (float*& b : x)
      a &= cudaMalloc(&b, kBatchTokens * k * sizeof(float)) == cudaSuccess;
    a &= cudaMalloc(&scratch, k * k * sizeof(float)) == cudaSuccess;
    a &= cudaMalloc(&flag, sizeof(int)) == cudaSuccess;
    a &= cudaMalloc(&gram, k * k * sizeof(double)) == cudaSuccess;
    a &= cudaMalloc(&h, k * k * sizeof(double)) == cudaSuccess;
    a &= cudaMalloc(&w0, n * k * sizeof(float)) == cudaSuccess;
    a &= cudaMalloc(&w, n * k * sizeof(float)) == cudaSuccess;
    a &= cudaMalloc(&codes, n * k) == cudaSuccess;
    a &= cudaMalloc(&mask, n * k) == cudaSuccess;
    a &= cudaMalloc(&sl, n * k / Config::bank * sizeof(float)) == cudaSuccess;
    a &= cudaMalloc(&sh, n * k / Config::bank * sizeof(float)) == cudaSuccess;
    a &= gp::sq_gptq_workspace_bytes(solver, n, k, &ws_bytes) == sqformat::Status::success;
    a &= cudaMalloc(&ws, ws_bytes) == cudaSuccess;
    if (!a)
      return;
    fill_pseudo_normal<<<1024, 256>>>(x[0], kBatchTokens * k, 1u, 1.0f);
    fill_pseudo_normal<<<1024, 256>>>(x[1], kBatchTokens * k, 2u, 1.0f);
    fill_pseudo_normal<<<1024, 256>>>(w0, n * k, 3u, 0.02f);
    ok = cudaDeviceSynchronize() == cudaSuccess;
  }
  ~GpuLayer() {
    for (float* b : x)
      cudaFree(b);
    for (void* p : {(void*)scratch, (void*)flag, (void*)gram, (void*)h, (void*)w0, (void*)w,
                    (void*)codes, (void*)mask, (void*)sl, (void*)sh, ws})
      cudaFree(p);
    cublasDestroy(blas);
    cusolverDnDestroy(solver);
  }
  /// 64 batches of 2048 tokens -> H. The two token buffers alternate (each 64 MB > L2).
  bool hessian() {
    bool a = cudaMemsetAsync(gram, 0, kLayer * kLayer * sizeof(double)) == cudaSuccess;
    for (int b = 0; b < kBatches && a; ++b)
      a = gp::accumulate_gram(blas, x[b % 2], kBatchTokens, kLayer, scratch, flag, gram, nullptr) ==
          sqformat::Status::success;
    return a && gp::finalize_hessian(gram, kLayer, kBatchTokens * kBatches, h, nullptr) ==
                    sqformat::Status::success;
  }
  bool quantize(gp::InverseFactorReport* report) {
    gp::SqGptqOptions opt;
    return gp::quantize_weights_sq_gptq<Config>(blas, solver, w, kLayer, kLayer, h, opt,
                                                {codes, mask, sl, sh}, ws, ws_bytes, report,
                                                nullptr) == sqformat::Status::success;
  }
};

GpuLayer& layer() {
  static GpuLayer l;
  return l;
}

void BM_GpuHessian_8192_64x2048(benchmark::State& state) {
  GpuLayer& l = layer();
  if (!l.ok)
    return state.SkipWithError("allocation failed");
  sqformat::bench::CudaEventTimer timer;
  for (auto _ : state) {
    timer.start();
    if (!l.hessian())
      return state.SkipWithError("hessian failed");
    state.SetIterationTime(timer.stop());
  }
  state.counters["TFLOP/s"] = benchmark::Counter(double(kLayer) * kLayer * kBatchTokens * kBatches *
                                                     state.iterations() / 1e12,
                                                 benchmark::Counter::kIsRate);
}

void BM_GpuInverseAndGptqSq_8192(benchmark::State& state) {
  GpuLayer& l = layer();
  if (!l.ok || !l.hessian())
    return state.SkipWithError("setup failed");
  sqformat::bench::CudaEventTimer timer;
  gp::InverseFactorReport report;
  for (auto _ : state) {
    cudaMemcpy(l.w, l.w0, kLayer * kLayer * sizeof(float), cudaMemcpyDeviceToDevice);
    timer.start();
    if (!l.quantize(&report))
      return state.SkipWithError("GPTQ-SQ failed");
    state.SetIterationTime(timer.stop());
  }
  state.counters["damping_attempts"] = report.attempts;
}

void BM_GpuLayerTotal_8192(benchmark::State& state) {
  GpuLayer& l = layer();
  if (!l.ok)
    return state.SkipWithError("allocation failed");
  sqformat::bench::CudaEventTimer timer;
  for (auto _ : state) {
    cudaMemcpy(l.w, l.w0, kLayer * kLayer * sizeof(float), cudaMemcpyDeviceToDevice);
    timer.start();
    if (!l.hessian() || !l.quantize(nullptr))
      return state.SkipWithError("failed");
    state.SetIterationTime(timer.stop());
  }
}

/// Host path (single thread): factor + GPTQ-SQ for an n = k layer; time scales as k^3.
void BM_HostInverseAndGptqSq(benchmark::State& state) {
  const std::size_t k = static_cast<std::size_t>(state.range(0));
  std::mt19937_64 rng(1);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(2 * k * k), w(k * k);
  for (float& v : x)
    v = g(rng);
  for (float& v : w)
    v = 0.02f * g(rng);
  hp::CalibrationStats stats(k);
  stats.add(x.data(), 2 * k);
  const std::vector<double> h = stats.hessian();
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const hp::InverseHessianFactor f = hp::factor_inverse_hessian(h.data(), k);
    const auto t1 = std::chrono::steady_clock::now();
    auto r = hp::quantize_weights_sq_gptq<Config>(w.data(), k, k, f);
    benchmark::DoNotOptimize(r.values.data());
    const auto t2 = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t2 - t0).count());
    state.counters["factor_s"] = std::chrono::duration<double>(t1 - t0).count();
    state.counters["gptq_s"] = std::chrono::duration<double>(t2 - t1).count();
  }
  const double scale = double(kLayer) / double(k);
  state.counters["extrapolated_8192_s"] =
      (state.counters["factor_s"].value + state.counters["gptq_s"].value) * scale * scale * scale;
}

/// Host Hessian accumulation: 2048 tokens at K; time scales as tokens * K^2.
void BM_HostHessian2048Tokens(benchmark::State& state) {
  const std::size_t k = static_cast<std::size_t>(state.range(0));
  std::mt19937_64 rng(2);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(kBatchTokens * k);
  for (float& v : x)
    v = g(rng);
  double secs = 0.0;
  for (auto _ : state) {
    hp::CalibrationStats stats(k);
    const auto t0 = std::chrono::steady_clock::now();
    stats.add(x.data(), kBatchTokens);
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(secs);
  }
  const double scale = double(kLayer) / double(k);
  state.counters["extrapolated_8192_64x2048_s"] = secs * scale * scale * kBatches;
}

BENCHMARK(BM_GpuHessian_8192_64x2048)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);
BENCHMARK(BM_GpuInverseAndGptqSq_8192)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);
BENCHMARK(BM_GpuLayerTotal_8192)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(2);
BENCHMARK(BM_HostInverseAndGptqSq)
    ->Arg(512)
    ->Arg(1024)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
BENCHMARK(BM_HostHessian2048Tokens)
    ->Arg(512)
    ->Arg(1024)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
} // namespace

BENCHMARK_MAIN();

// W4A(SQ5) static GEMM (INT4 weights, SQ activations b=16 H=4: 5 effective bits) against the
// vendor baselines in the same binary: cuBLASLt INT8 (s8·s8->s32), cuBLASLt FP8 e4m3->bf16 and
// BF16 (cuBLASLt, bf16 out), each the fastest of up to 8 heuristic algorithms.
//
// Timing: CUDA events around each call, L2 flushed (l2_flush.hpp: by default a read sweep of
// 2x L2) before every timed call, 3 warm-up calls, random data. Counters use the MEDIAN call
// time: TOPS = 2MNK/t, GB/s = bytes the operation must move (inputs once, output once)/t, and for
// our kernel x_<baseline> = t_baseline / t_ours (> 1: we are faster). Shapes: the linear layers
// (N, K) of Llama-3-70B, then of Llama-3-8B; M tokens.
// `w4a_sq5` is the auto header (on sm_90: the CUDA-core GEMV kernel for M <= 4, the streaming
// mma.sync kernel for 4 < M <= 16 with N >= 4096, else the wgmma decode kernel: 8-token tiles
// for M <= 8, 64 channels per CTA for N <= 16384, else 128);
// `w4a_sq5_gemv`, `w4a_sq5_stream`, `w4a_sq5_t8`, `w4a_sq5_w64` / `w4a_sq5_w128` force each (and
// other policies of the first two); `w4a_sq5_mma` forces the shared-memory mma.sync kernel (the
// decode path of other devices) for M <= 256. `_pp` variants also
// pass the prepacked weight copy (w4_prepack.hpp; built once, untimed), which the prefill (prepass)
// policies use instead of the canonical one: `w4a_sq5_pp` is the auto header (for M > 128 the
// warp-specialized prefill kernel with prepacked W: 192-channel tiles when they number at least
// twice the SMs, else 128), `w4a_sq5_ws_pp` and `w4a_sq5_wide_pp` force the 128- and
// 192-channel warp-specialized kernels, `w4a_sq5_coop_pp` the cooperative one;
// `w4a_sq5_ws_prefill` and `w4a_sq5_wide_prefill` run the two warp-specialized kernels on the
// canonical W; `w4a_sq5_wide_pp_notail` is `w4a_sq5_wide_pp` with the split of the last
// wave of tiles turned off (tail_tiles = 0), `w4a_sq5_wide_pp_tail` with that wave's tiles
// split into `pieces` K pieces and `w4a_sq5_wide_pp_group` with `group` token tiles a group
// of the tile order (the automatic choices aside: tuning rows). `w4a_sq3b_gemv` is the
// GEMV kernel with 3-bit low codes (M = 1).
#include <benchmark/benchmark.h>

#include <sqformat/gpu/gemm/w4_prepack.cuh>
#include <sqformat/gpu/gemm/w4a_sq_static_auto.cuh>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "cublaslt_gemm.hpp"
#include "cuda_timer.hpp"
#include "device_buffer.hpp"
#include "l2_flush.hpp"

namespace {

using namespace sqformat::bench;
using Sq5 = sqformat::SqConfig<16, 4, 8, 4>;
using Gemm = sqformat::gpu::GemmW4ASqStaticAuto<Sq5>;
/// The mma.sync decode kernel (what the auto header runs for M <= 16 on devices other than
/// sm_90), forced on this device.
using GemmMma = sqformat::gpu::GemmW4ASqStatic<Sq5, sqformat::gpu::W4ASqMmaDecodePolicy>;
/// The two wgmma decode policies the auto header picks from by N (64 and 128 channels per CTA).
using GemmDecode64 = sqformat::gpu::GemmW4ASqStatic<Sq5, sqformat::gpu::W4ASqDecode64Policy>;
using GemmDecode128 = sqformat::gpu::GemmW4ASqStatic<Sq5, sqformat::gpu::W4ASqDecodePolicy>;
/// 8-token tiles (what the auto header takes on sm_90 for 4 < M <= 8 below N = 4096).
using GemmDecode8 = sqformat::gpu::GemmW4ASqStatic<Sq5, sqformat::gpu::W4ASqDecode8Policy>;
/// CUDA-core decode kernel: the default policy, 4 steps of W in flight, and 2 rows per warp.
using GemmGemv = sqformat::gpu::GemmW4ASqStatic<Sq5, sqformat::gpu::W4ASqGemvDecodePolicy>;
using GemmGemvD4 = sqformat::gpu::GemmW4ASqStatic<Sq5, sqformat::gpu::W4ASqGemvPolicy<8, 4, 4>>;
using GemmGemvR2 = sqformat::gpu::GemmW4ASqStatic<Sq5, sqformat::gpu::W4ASqGemvPolicy<8, 2, 4>>;
/// The default GEMV policy with 3-bit low codes (b = 32, H = 16: activations at 5.5 bits; W is
/// INT4 either way), whose one-token kernel spills 28 bytes at its 64-register cap.
using Sq3b = sqformat::SqConfig<32, 16, 8, 3>;
using GemmGemv3 = sqformat::gpu::GemmW4ASqStatic<Sq3b, sqformat::gpu::W4ASqGemvDecodePolicy>;
/// Streaming mma.sync decode kernel: the default policy (4 row tiles x 4 K warps), 2 x 4 and 4 x 2.
using GemmStream = sqformat::gpu::GemmW4ASqStatic<Sq5, sqformat::gpu::W4ASqMmaStreamDecodePolicy>;
using GemmStreamR2K4 =
    sqformat::gpu::GemmW4ASqStatic<Sq5, sqformat::gpu::W4ASqMmaStreamPolicy<2, 4, 2>>;
using GemmStreamR4K2 =
    sqformat::gpu::GemmW4ASqStatic<Sq5, sqformat::gpu::W4ASqMmaStreamPolicy<4, 2, 2>>;
/// The prefill kernel forced at small M (to place the auto policy's threshold).
using GemmPrefill = sqformat::gpu::GemmW4ASqStatic<Sq5, sqformat::gpu::W4ASqPrefillPolicy>;
/// The warp-specialized prefill kernel (TMA producer warpgroup, two consumer warpgroups).
using GemmPrefillWs =
    sqformat::gpu::GemmW4ASqStatic<Sq5, sqformat::gpu::W4ASqPrefillWarpSpecializedPolicy>;
/// The warp-specialized kernel with three consumer warpgroups (192 channels per CTA).
using GemmPrefillWide = sqformat::gpu::GemmW4ASqStatic<Sq5, sqformat::gpu::W4ASqPrefillWidePolicy>;

std::map<std::string, double>& medians() {
  static std::map<std::string, double> m;
  return m;
}
std::string key(const char* what, int m, int n, int k) {
  return std::string(what) + "/" + std::to_string(m) + "/" + std::to_string(n) + "/" +
         std::to_string(k);
}
L2Flush& l2_flush() {
  static L2Flush f;
  return f;
}

/// Idle time before each benchmark's warm-up (SQFORMAT_BENCH_COOLDOWN_MS, default 300 ms; recorded
/// in the context as "cooldown_ms"). On an H100 a long BF16 or FP8 baseline drives the card to
/// its power cap, and a row that follows it at once ran up to ~10 % slower than the same row
/// alone (8192 x 8192 x 8192: 841-864 us after cuBLAS BF16, 769-780 us without it,
/// docs/performance.md); the pause gives every row, baselines included, the same start.
int cooldown_ms() {
  static const int ms = [] {
    const char* v = std::getenv("SQFORMAT_BENCH_COOLDOWN_MS");
    return v != nullptr ? std::atoi(v) : 300;
  }();
  return ms;
}

/// Runs `op` under the benchmark loop; returns the median seconds of the timed calls.
template <class Op> double timed_loop(benchmark::State& state, Op&& op) {
  cudaDeviceSynchronize();
  if (cooldown_ms() > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(cooldown_ms()));
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
  return median(times);
}

void set_counters(benchmark::State& state, double t, int m, int n, int k, double bytes) {
  state.counters["us_median"] = t * 1e6;
  state.counters["TOPS"] = 2.0 * m * n * k / t / 1e12;
  state.counters["GB/s"] = bytes / t / 1e9;
}

void bm_baseline(benchmark::State& state, BaselineKind kind, const char* name) {
  const int m = static_cast<int>(state.range(0)), n = static_cast<int>(state.range(1)),
            k = static_cast<int>(state.range(2));
  const std::size_t eb = baseline_element_bytes(kind), ob = baseline_output_bytes(kind);
  // 0x3F keeps bf16 high bytes and e4m3 bytes finite and moderate.
  const std::uint8_t mask = kind == BaselineKind::int8_s32 ? 0xFF : 0x3F;
  DeviceBuffer x(std::size_t(m) * k * eb), w(std::size_t(n) * k * eb), y(std::size_t(m) * n * ob);
  x.randomize(1, mask);
  w.randomize(2, mask);
  CublasLtGemm gemm(kind, m, n, k);
  if (!x || !w || !y || !gemm.ok() || !gemm.select_fastest(x.get(), w.get(), y.get())) {
    state.SkipWithError("cuBLASLt offers no algorithm for this shape/type");
    return;
  }
  const double t = timed_loop(state, [&] { gemm.run(x.get(), w.get(), y.get()); });
  const double bytes = double(eb) * (double(m) * k + double(n) * k) + double(ob) * m * n;
  set_counters(state, t, m, n, k, bytes);
  state.counters["algos"] = gemm.candidates();
  medians()[key(name, m, n, k)] = t;
}

/// The warp-specialized kernels' schedule: automatic (the default), the split tail turned off,
/// the split tail forced with the number of pieces in the fourth argument, or the tile order's
/// token tiles a group in the fourth argument.
enum class TileSchedule { automatic, tail_off, tail_forced, token_group };
template <class Op, bool Prepacked = false, class Config = Sq5,
          TileSchedule Sched = TileSchedule::automatic>
void bm_w4a_sq5(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0)), n = static_cast<int>(state.range(1)),
            k = static_cast<int>(state.range(2));
  const int kh = sqformat::gpu::GemmW4ASqStatic<Config>::high_columns(k), kl = k - kh;
  const std::size_t xl_bytes = std::size_t(m) * kl * Config::low_bits / 8;
  DeviceBuffer xh(std::size_t(m) * kh), xl(xl_bytes), w(std::size_t(n) * k / 2),
      sh(4 * std::size_t(m)), sl(4 * std::size_t(m)), sw(4 * std::size_t(n)),
      y(2 * std::size_t(m) * n);
  xh.randomize(3);
  xl.randomize(4);
  w.randomize(5);
  sh.fill_floats(0.01f);
  sl.fill_floats(0.002f);
  sw.fill_floats(0.003f);
  Gemm::Arguments a;
  a.m = m;
  a.n = n;
  a.k = k;
  a.x_high = xh.get<std::int8_t>();
  a.x_low = xl.get<std::uint8_t>();
  a.w = w.get<std::uint8_t>();
  a.scale_x_high = sh.get<float>();
  a.scale_x_low = sl.get<float>();
  a.scale_w = sw.get<float>();
  a.y = y.get();
  if (Sched == TileSchedule::tail_off)
    a.tail_tiles = 0;
  // The fourth argument: token tiles a group of output tiles, or the pieces of the last wave's
  // tiles (one CTA a SM).
  if (Sched == TileSchedule::token_group)
    a.token_group = static_cast<int>(state.range(3));
  if constexpr (Sched == TileSchedule::tail_forced) {
    int device = 0, sms = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
      state.SkipWithError("no SM count");
      return;
    }
    const long long tiles = Op::output_tiles(a);
    a.tail_tiles = static_cast<int>(tiles % sms);
    a.tail_pieces = static_cast<int>(state.range(3));
    if (tiles <= sms || a.tail_tiles == 0) {
      state.SkipWithError("no partial last wave at this shape");
      return;
    }
  }
  DeviceBuffer wp(Prepacked ? sqformat::gpu::W4PrepackedLayout{n, k, kh}.bytes() : 0);
  if (Prepacked) {
    if (sqformat::gpu::prepack_w4_sm90(w.get<std::uint8_t>(), n, k, kh, wp.get<std::uint8_t>(),
                                       nullptr) != sqformat::Status::success) {
      state.SkipWithError("weight prepacking failed");
      return;
    }
    a.w_prepacked = wp.get<std::uint8_t>();
  }
  DeviceBuffer ws(Op::workspace_size(a));
  if (Op::run(a, ws.get(), ws.bytes(), nullptr) != sqformat::Status::success ||
      cudaDeviceSynchronize() != cudaSuccess) {
    state.SkipWithError("W4A(SQ) GEMM did not run");
    return;
  }
  const double t = timed_loop(state, [&] { Op::run(a, ws.get(), ws.bytes(), nullptr); });
  const double bytes =
      double(n) * k / 2 + double(m) * kh + double(xl_bytes) + 2.0 * m * n + 4.0 * (2.0 * m + n);
  set_counters(state, t, m, n, k, bytes);
  for (const char* base : {"int8", "fp8", "bf16"}) {
    const auto it = medians().find(key(base, m, n, k));
    if (it != medians().end())
      state.counters[std::string("x_") + base] = it->second / t;
  }
}

void register_all() {
  const int shapes[][2] = {{8192, 8192}, {1024, 8192}, {28672, 8192}, {8192, 28672},
                           {4096, 4096}, {1024, 4096}, {14336, 4096}, {4096, 14336}};
  for (int m : {1, 4, 8, 16, 64, 256, 1024, 2048, 8192}) {
    const bool extra_m = m == 4 || m == 8; // decode kernels only
    for (const auto& s : shapes) {
      const int iterations = m >= 2048 ? 10 : 30;
      auto setup = [&](benchmark::internal::Benchmark* b) {
        b->Args({m, s[0], s[1]})
            ->ArgNames({"M", "N", "K"})
            ->UseManualTime()
            ->Iterations(iterations)
            ->Unit(benchmark::kMicrosecond);
      };
      if (!extra_m) {
        setup(benchmark::RegisterBenchmark("cublaslt_int8", bm_baseline, BaselineKind::int8_s32,
                                           "int8"));
        setup(benchmark::RegisterBenchmark("cublaslt_fp8", bm_baseline, BaselineKind::fp8_bf16,
                                           "fp8"));
      }
      setup(benchmark::RegisterBenchmark("cublaslt_bf16", bm_baseline, BaselineKind::bf16_bf16,
                                         "bf16"));
      setup(benchmark::RegisterBenchmark("w4a_sq5", bm_w4a_sq5<Gemm>));
      if (m > 128)
        setup(benchmark::RegisterBenchmark("w4a_sq5_pp", bm_w4a_sq5<Gemm, true>));
      if (m <= 16) {
        if (!extra_m) {
          setup(benchmark::RegisterBenchmark("w4a_sq5_w64", bm_w4a_sq5<GemmDecode64>));
          setup(benchmark::RegisterBenchmark("w4a_sq5_w128", bm_w4a_sq5<GemmDecode128>));
        }
        setup(benchmark::RegisterBenchmark("w4a_sq5_t8", bm_w4a_sq5<GemmDecode8>));
        setup(benchmark::RegisterBenchmark("w4a_sq5_gemv", bm_w4a_sq5<GemmGemv>));
        if (m == 1)
          setup(benchmark::RegisterBenchmark("w4a_sq3b_gemv", bm_w4a_sq5<GemmGemv3, false, Sq3b>));
        setup(benchmark::RegisterBenchmark("w4a_sq5_gemv_d4", bm_w4a_sq5<GemmGemvD4>));
        setup(benchmark::RegisterBenchmark("w4a_sq5_gemv_r2", bm_w4a_sq5<GemmGemvR2>));
        setup(benchmark::RegisterBenchmark("w4a_sq5_stream", bm_w4a_sq5<GemmStream>));
        setup(benchmark::RegisterBenchmark("w4a_sq5_stream_r2k4", bm_w4a_sq5<GemmStreamR2K4>));
        setup(benchmark::RegisterBenchmark("w4a_sq5_stream_r4k2", bm_w4a_sq5<GemmStreamR4K2>));
      }
      if (extra_m)
        continue;
      if (m <= 256)
        setup(benchmark::RegisterBenchmark("w4a_sq5_mma", bm_w4a_sq5<GemmMma>));
      if (m == 64)
        setup(benchmark::RegisterBenchmark("w4a_sq5_prefill", bm_w4a_sq5<GemmPrefill>));
      if (m >= 64) {
        setup(benchmark::RegisterBenchmark("w4a_sq5_ws_prefill", bm_w4a_sq5<GemmPrefillWs>));
        setup(benchmark::RegisterBenchmark("w4a_sq5_wide_prefill", bm_w4a_sq5<GemmPrefillWide>));
      }
      if (m > 128) {
        setup(benchmark::RegisterBenchmark("w4a_sq5_coop_pp", bm_w4a_sq5<GemmPrefill, true>));
        setup(benchmark::RegisterBenchmark("w4a_sq5_ws_pp", bm_w4a_sq5<GemmPrefillWs, true>));
        setup(benchmark::RegisterBenchmark("w4a_sq5_wide_pp", bm_w4a_sq5<GemmPrefillWide, true>));
        setup(benchmark::RegisterBenchmark(
            "w4a_sq5_wide_pp_notail",
            bm_w4a_sq5<GemmPrefillWide, true, Sq5, TileSchedule::tail_off>));
        // Tuning rows with a fourth argument (token tiles a group; split-tail pieces).
        auto with_fourth = [&](const char* name, auto fn, const char* arg, auto values) {
          for (const int v : values)
            benchmark::RegisterBenchmark(name, fn)
                ->Args({m, s[0], s[1], v})
                ->ArgNames({"M", "N", "K", arg})
                ->UseManualTime()
                ->Iterations(iterations)
                ->Unit(benchmark::kMicrosecond);
        };
        with_fourth("w4a_sq5_wide_pp_group",
                    bm_w4a_sq5<GemmPrefillWide, true, Sq5, TileSchedule::token_group>, "group",
                    std::initializer_list<int>{1, 2, 4, 8, 16});
        with_fourth("w4a_sq5_wide_pp_tail",
                    bm_w4a_sq5<GemmPrefillWide, true, Sq5, TileSchedule::tail_forced>, "pieces",
                    std::initializer_list<int>{2, 3, 6, 8});
      }
    }
  }
}

} // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  benchmark::AddCustomContext("device", prop.name);
  benchmark::AddCustomContext("sms", std::to_string(prop.multiProcessorCount));
  benchmark::AddCustomContext("cooldown_ms", std::to_string(cooldown_ms()));
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

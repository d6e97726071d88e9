// W4A(SQ) static GEMM on the device against the host reference (sqformat::ref):
// exact int32 sums per path, bit-exact bf16/fp16 output (same float32 epilogue order), several
// SQ configurations and tile policies, odd M, M = 1, Llama projection shapes, misuse statuses;
// the prepacked weight layout (host/device transforms, round trip) and the prepacked GEMM path
// (offset-binary u8 weights with the exact activation-sum correction) against the same reference.
#include "sq_catch.hpp"

#include <sqformat/gpu/gemm/w4_prepack.cuh>
#include <sqformat/gpu/gemm/w4a_sq_static.cuh>
#include <sqformat/gpu/gemm/w4a_sq_static_auto.cuh>
#include <sqformat/reference/products.hpp>
#include <sqformat/reference/static_split.hpp>
#include <sqformat/reference/uniform.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <tuple>
#include <vector>

namespace {

using sqformat::Status;
namespace gpu = sqformat::gpu;
namespace ref = sqformat::ref;

/// Device buffer that frees itself; contents copied from / to host vectors.
template <class T> struct DeviceVector {
  T* ptr = nullptr;
  std::size_t count = 0;
  explicit DeviceVector(std::size_t n) : count(n) {
    REQUIRE(cudaMalloc(&ptr, (n > 0 ? n : 1) * sizeof(T)) == cudaSuccess);
  }
  explicit DeviceVector(const std::vector<T>& host) : DeviceVector(host.size()) {
    REQUIRE(cudaMemcpy(ptr, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice) ==
            cudaSuccess);
  }
  DeviceVector(const DeviceVector&) = delete;
  DeviceVector& operator=(const DeviceVector&) = delete;
  ~DeviceVector() { cudaFree(ptr); }
  std::vector<T> to_host() const {
    std::vector<T> h(count);
    REQUIRE(cudaMemcpy(h.data(), ptr, count * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
    return h;
  }
};

/// float32 -> bf16 / fp16 bits, round to nearest even (finite inputs).
std::uint16_t bf16_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<std::uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
std::uint16_t fp16_bits(float f) {
  const __half h = __float2half_rn(f); // host-callable conversion from cuda_fp16.h
  std::uint16_t bits;
  std::memcpy(&bits, &h, 2);
  return bits;
}

/// One random problem in the reference's own types plus its device copies.
template <class C> struct Problem {
  ref::StaticSplit<C> x;
  ref::UniformTensor w;
  std::vector<std::uint8_t> w_packed;
  std::vector<float> bias;

  Problem(int M, int N, int K, std::size_t w_group, std::uint32_t seed, bool adversarial = false) {
    std::mt19937 rng(seed);
    // Static channel mask: H random high channels per bank.
    std::vector<std::uint8_t> mask(K, 0);
    for (int b = 0; b < K / C::bank; ++b) {
      std::vector<int> idx(C::bank);
      for (int i = 0; i < C::bank; ++i)
        idx[i] = i;
      std::shuffle(idx.begin(), idx.end(), rng);
      for (int i = 0; i < C::high_per_bank; ++i)
        mask[b * C::bank + idx[i]] = 1;
    }
    const auto perm = ref::permutation_from_channel_mask<C>(mask.data(), K);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> xf(static_cast<std::size_t>(M) * K);
    for (auto& v : xf)
      v = normal(rng);
    if (adversarial) // a constant row and an outlier row drive codes to +-qmax
      for (int k = 0; k < K; ++k) {
        xf[k] = -1.0f;
        if (M > 1)
          xf[K + k] = (k % 2 ? 1000.0f : -3.0f);
      }
    x = ref::split_static<C>(xf.data(), M, K, perm, ref::ActScale::per_token);
    // Weights: random INT4 codes (columns are already permuted: any codes will do) and scales.
    w.rows = N;
    w.cols = K;
    w.bits = 4;
    w.group = w_group;
    w.codes.resize(static_cast<std::size_t>(N) * K);
    std::uniform_int_distribution<int> code(-7, 7);
    // Adversarial: rows of -7 and rows of +7 (offset-binary kernels then see both 1 and 15).
    for (std::size_t i = 0; i < w.codes.size(); ++i)
      w.codes[i] = static_cast<std::int8_t>(adversarial ? ((i / K) % 2 ? 7 : -7) : code(rng));
    std::uniform_real_distribution<float> scale(1e-3f, 2e-2f);
    w.scales.resize(static_cast<std::size_t>(N) * (K / w_group));
    for (auto& s : w.scales)
      s = scale(rng);
    w_packed = ref::pack_rows(w);
    bias.resize(N);
    for (auto& b : bias)
      b = normal(rng);
  }
};

struct RunResult {
  Status status;
  std::vector<std::uint16_t> y;
  std::vector<std::int32_t> sums; // empty unless requested
};

/// Which weight copies the device run receives.
enum class WeightInput {
  canonical, ///< `w` only
  prepacked, ///< `w_prepacked` only (host reference transform); `w` is null
};

/// The split-tail and tile-order fields of the arguments (W4ASqStaticArguments::tail_tiles,
/// token_group): automatic by default.
struct TailSplit {
  int tiles = -1;
  int pieces = 0;
  int token_group = 0;
};

/// Runs `Gemm` (a GemmW4ASqStatic or the auto header) on the problem's device copies. The
/// workspace starts as 0xFF bytes (no kernel may rely on zeroed workspace); `calls` > 1 runs the
/// GEMM again on the same workspace (the last call's output is returned).
template <class Gemm, class C>
RunResult run_gemm(const Problem<C>& pr, bool want_sums, bool with_bias,
                   gpu::OutputType type = gpu::OutputType::bf16,
                   WeightInput input = WeightInput::canonical, TailSplit tail = {}, int calls = 1) {
  const int M = static_cast<int>(pr.x.rows), K = static_cast<int>(pr.x.cols);
  const int N = static_cast<int>(pr.w.rows);
  DeviceVector<std::uint8_t> xh(pr.x.x_high), xl(pr.x.x_low), w(pr.w_packed);
  const bool prepacked = input == WeightInput::prepacked;
  DeviceVector<std::uint8_t> wp(
      prepacked
          ? gpu::prepack_w4_sm90(pr.w_packed.data(), N, K, gpu::GemmW4ASqStatic<C>::high_columns(K))
          : std::vector<std::uint8_t>{});
  DeviceVector<float> sh(pr.x.scale_high), sl(pr.x.scale_low), sw(pr.w.scales), b(pr.bias);
  DeviceVector<std::uint16_t> y(static_cast<std::size_t>(M) * N);
  DeviceVector<std::int32_t> sums(want_sums ? 2 * static_cast<std::size_t>(M) * N : 0);
  typename Gemm::Arguments a;
  a.m = M;
  a.n = N;
  a.k = K;
  a.x_high = reinterpret_cast<const std::int8_t*>(xh.ptr);
  a.x_low = xl.ptr;
  a.w = prepacked ? nullptr : w.ptr;
  a.w_prepacked = prepacked ? wp.ptr : nullptr;
  a.scale_x_high = sh.ptr;
  a.scale_x_low = sl.ptr;
  a.scale_w = sw.ptr;
  a.weight_scale_group = pr.w.group == pr.w.cols ? 0 : static_cast<int>(pr.w.group);
  a.bias = with_bias ? b.ptr : nullptr;
  a.y = y.ptr;
  a.y_type = type;
  a.int_sums = want_sums ? sums.ptr : nullptr;
  a.tail_tiles = tail.tiles;
  a.tail_pieces = tail.pieces;
  a.token_group = tail.token_group;
  const std::size_t ws_bytes = Gemm::workspace_size(a);
  DeviceVector<std::uint8_t> ws(ws_bytes);
  REQUIRE(cudaMemset(ws.ptr, 0xFF, ws_bytes) == cudaSuccess);
  RunResult r;
  for (int call = 0; call < calls; ++call) {
    if (call > 0) // the next call must write every output again
      REQUIRE(cudaMemset(y.ptr, 0xFF, y.count * sizeof(std::uint16_t)) == cudaSuccess);
    r.status = Gemm::run(a, ws.ptr, ws_bytes, nullptr);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    if (r.status != Status::success)
      break;
  }
  if (r.status != Status::success)
    return r;
  r.y = y.to_host();
  if (want_sums)
    r.sums = sums.to_host();
  return r;
}

template <class C, class Policy>
RunResult run_device(const Problem<C>& pr, bool want_sums, bool with_bias,
                     gpu::OutputType type = gpu::OutputType::bf16,
                     WeightInput input = WeightInput::canonical, TailSplit tail = {},
                     int calls = 1) {
  return run_gemm<gpu::GemmW4ASqStatic<C, Policy>>(pr, want_sums, with_bias, type, input, tail,
                                                   calls);
}

/// The reference output rounded to the device's output type, bias added in float32 first.
template <class C>
std::vector<std::uint16_t> expected_output(const Problem<C>& pr, const ref::ProductResult& res,
                                           bool with_bias, gpu::OutputType type) {
  const std::size_t M = pr.x.rows, N = pr.w.rows;
  std::vector<std::uint16_t> e(M * N);
  for (std::size_t m = 0; m < M; ++m)
    for (std::size_t n = 0; n < N; ++n) {
      float v = res.y[m * N + n];
      if (with_bias)
        v = v + pr.bias[n];
      e[m * N + n] = type == gpu::OutputType::bf16 ? bf16_bits(v) : fp16_bits(v);
    }
  return e;
}

template <class C>
void check_against_reference(const Problem<C>& pr, const RunResult& r, bool with_bias,
                             gpu::OutputType type = gpu::OutputType::bf16) {
  REQUIRE(r.status == Status::success);
  const auto res = ref::uniform_weight_times_static_detailed(pr.w, pr.x);
  const std::size_t M = pr.x.rows, N = pr.w.rows;
  if (!r.sums.empty()) {
    REQUIRE(res.sums.segments.size() == 2); // per token x per channel: high block, low block
    std::size_t bad = 0;
    for (std::size_t m = 0; m < M; ++m)
      for (std::size_t n = 0; n < N; ++n)
        for (std::size_t s = 0; s < 2; ++s)
          if (r.sums[s * M * N + m * N + n] != res.sums.at(m, n, s)) {
            if (bad++ < 5) {
              CAPTURE(m, n, s, r.sums[s * M * N + m * N + n], res.sums.at(m, n, s));
              CHECK(r.sums[s * M * N + m * N + n] == res.sums.at(m, n, s));
            }
          }
    REQUIRE(bad == 0);
  }
  const auto e = expected_output(pr, res, with_bias, type);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < e.size(); ++i)
    if (r.y[i] != e[i] && bad++ < 5) {
      CAPTURE(i / N, i % N, r.y[i], e[i]);
      CHECK(r.y[i] == e[i]);
    }
  REQUIRE(bad == 0);
}

std::uint32_t fresh_seed() { return std::random_device{}(); }

// SQ5 INT8/INT4 (b=16, H=4), SQ4.25 INT8/INT4 (b=64, H=4), INT8/INT3 s=0.5 (b=32, H=16),
// INT8/INT2 s=0.5 (b=16, H=8).
using Configs = std::tuple<sqformat::SqConfig<16, 4, 8, 4>, sqformat::SqConfig<64, 4, 8, 4>,
                           sqformat::SqConfig<32, 16, 8, 3>, sqformat::SqConfig<16, 8, 8, 2>>;
/// The foundation's configuration list (test_datapath_support.cuh) with 8-bit high codes, which
/// the GEMM takes: (b, H) only set Kh and Kl, and the bit widths 4 / 3 / 2 the unpacking.
using FoundationConfigs =
    std::tuple<sqformat::SqConfig<4, 2, 8, 4>, sqformat::SqConfig<16, 4, 8, 4>,
               sqformat::SqConfig<32, 8, 8, 4>, sqformat::SqConfig<64, 8, 8, 4>,
               sqformat::SqConfig<128, 8, 8, 4>, sqformat::SqConfig<64, 16, 8, 2>,
               sqformat::SqConfig<64, 32, 8, 3>>;
using SmallPolicy = gpu::W4ASqTilePolicy<64, 32, 3, gpu::LowStaging::in_loop>;
/// mma.sync decode kernel: the default, and one warp of one row tile with short staging chunks
/// (16 channels per CTA: many CTAs, so split-K stays off for larger problems).
using MmaPolicy = gpu::W4ASqMmaDecodePolicy;
using MmaSmallPolicy = gpu::W4ASqMmaSyncPolicy<1, 1, 1, 1>;
using MmaWidePolicy = gpu::W4ASqMmaSyncPolicy<1, 8, 3, 4>;
/// CUDA-core decode kernel: the default (8 warps x 4 rows), one warp of one row with nothing
/// loaded ahead, and 16 warps of 8 rows (4 at 8 tokens, 2 at 16).
using GemvPolicy = gpu::W4ASqGemvDecodePolicy;
using GemvSmallPolicy = gpu::W4ASqGemvPolicy<1, 1, 1>;
using GemvWidePolicy = gpu::W4ASqGemvPolicy<16, 8, 2>;
/// Streaming mma.sync decode kernel: the default (4 row tiles x 4 K warps), one warp with nothing
/// loaded ahead, and 4 row tiles x 8 K warps (1024 threads) with 4 steps ahead.
using StreamPolicy = gpu::W4ASqMmaStreamDecodePolicy;
using StreamSmallPolicy = gpu::W4ASqMmaStreamPolicy<1, 1, 1>;
using StreamWidePolicy = gpu::W4ASqMmaStreamPolicy<4, 8, 4>;

} // namespace

TEMPLATE_LIST_TEST_CASE("W4A(SQ) int sums and bf16 output match the reference (in-loop widening)",
                        "[gpu][gemm]", Configs) {
  using C = TestType;
  const std::uint32_t seed = fresh_seed();
  CAPTURE(seed);
  // K = 1024: Kh and Kl multiples of 32 but not always of 128 (partial K tiles); N = 200 leaves
  // a partial channel tile; M = 1, odd, and more than one token tile.
  for (int M : {1, 7, 16, 37}) {
    CAPTURE(M);
    Problem<C> pr(M, 200, 1024, 1024, seed + M);
    check_against_reference(pr, run_device<C, gpu::W4ASqDecodePolicy>(pr, true, false), false);
    // 8-token tiles (one wgmma column of 8; several token tiles from M = 16 on).
    check_against_reference(pr, run_device<C, gpu::W4ASqDecode8Policy>(pr, true, true), true);
  }
}

TEMPLATE_LIST_TEST_CASE("W4A(SQ) mma.sync decode kernel matches the reference", "[gpu][gemm]",
                        Configs) {
  using C = TestType;
  const std::uint32_t seed = fresh_seed();
  CAPTURE(seed);
  // Same shapes: M = 1 (one MMA column), odd, 16, several token tiles; split-K with the atomic
  // sums and the last CTA's fold (the default policy at N = 200 always splits here).
  for (int M : {1, 7, 16, 37}) {
    CAPTURE(M);
    Problem<C> pr(M, 200, 1024, 1024, seed + M);
    check_against_reference(pr, run_device<C, MmaPolicy>(pr, true, false), false);
    check_against_reference(pr, run_device<C, MmaWidePolicy>(pr, true, true), true);
  }
  // No split (enough CTAs: 19 token tiles x 64 channel tiles): the in-register fold.
  Problem<C> many(300, 1024, 1024, 1024, seed + 1);
  gpu::W4ASqStaticArguments shape;
  shape.m = 300;
  shape.n = 1024;
  shape.k = 1024;
  REQUIRE(gpu::GemmW4ASqStatic<C, MmaSmallPolicy>::split_count(shape) == 1);
  check_against_reference(many, run_device<C, MmaSmallPolicy>(many, true, true), true);
}

TEMPLATE_LIST_TEST_CASE("W4A(SQ) CUDA-core decode kernel (GEMV) matches the reference",
                        "[gpu][gemm]", Configs) {
  using C = TestType;
  const std::uint32_t seed = fresh_seed();
  CAPTURE(seed);
  // Every token tile (1, 2, 4, 8, 16; 37 = three CTAs of 16 tokens, the last one partial);
  // N = 200 ends inside a CTA's rows; K = 1024: Kh (256 / 64 / 512 / 512 columns) ends inside a
  // 1024-column step, so lanes idle there.
  for (int M : {1, 2, 3, 4, 7, 8, 16, 37}) {
    CAPTURE(M);
    Problem<C> pr(M, 200, 1024, 1024, seed + M);
    check_against_reference(pr, run_device<C, GemvPolicy>(pr, true, false), false);
    check_against_reference(pr, run_device<C, GemvSmallPolicy>(pr, true, true), true);
    check_against_reference(pr,
                            run_device<C, GemvWidePolicy>(pr, false, true, gpu::OutputType::fp16),
                            true, gpu::OutputType::fp16);
  }
  // Long K: one staged chunk of 28 steps (1 token: 32 steps a chunk), chunks that hold steps of
  // both blocks (4 tokens: 8 steps), many chunks (16 tokens: 2 steps).
  for (int M : {1, 4, 16}) {
    CAPTURE(M);
    Problem<C> pr(M, 64, 28672, 28672, seed + 100 + M);
    check_against_reference(pr, run_device<C, GemvPolicy>(pr, true, true), true);
  }
}

TEMPLATE_LIST_TEST_CASE("W4A(SQ) streaming mma.sync decode kernel matches the reference",
                        "[gpu][gemm]", Configs) {
  using C = TestType;
  const std::uint32_t seed = fresh_seed();
  CAPTURE(seed);
  // 8- and 16-token CTAs (37: three of 16, the last partial); N = 200 ends inside a row tile;
  // K = 1024: Kh ends inside a 256-column step for one config (Kh = 64), and the K warps get
  // different step counts. (A thread's 64 columns half in a block: the next test case.)
  for (int M : {1, 3, 8, 9, 16, 37}) {
    CAPTURE(M);
    Problem<C> pr(M, 200, 1024, 1024, seed + M);
    check_against_reference(pr, run_device<C, StreamPolicy>(pr, true, false), false);
    check_against_reference(pr, run_device<C, StreamSmallPolicy>(pr, true, true), true);
    check_against_reference(pr,
                            run_device<C, StreamWidePolicy>(pr, false, true, gpu::OutputType::fp16),
                            true, gpu::OutputType::fp16);
  }
  // Long K: several staged chunks (16 tokens: 16 steps a chunk), chunks holding both blocks.
  for (int M : {1, 16}) {
    CAPTURE(M);
    Problem<C> pr(M, 64, 28672, 28672, seed + 100 + M);
    check_against_reference(pr, run_device<C, StreamPolicy>(pr, true, true), true);
  }
}

TEST_CASE("W4A(SQ) decode kernels at blocks that end inside a thread's columns", "[gpu][gemm]") {
  const std::uint32_t seed = fresh_seed();
  CAPTURE(seed);
  // Kh and Kl = 32 (mod 64): the streaming kernel's last step of each block has threads with 32
  // of their 64 columns in the block; the GEMV kernel's last step leaves lanes idle.
  {
    using C = sqformat::SqConfig<16, 4, 8, 4>; // K = 1152: Kh = 288, Kl = 864
    for (int M : {1, 5, 16}) {
      CAPTURE(M);
      Problem<C> pr(M, 96, 1152, 1152, seed + M);
      check_against_reference(pr, run_device<C, StreamPolicy>(pr, true, true), true);
      check_against_reference(pr, run_device<C, StreamSmallPolicy>(pr, true, false), false);
      check_against_reference(pr, run_device<C, GemvPolicy>(pr, true, true), true);
    }
  }
  {
    using C = sqformat::SqConfig<16, 8, 8, 2>; // K = 1088: Kh = Kl = 544
    Problem<C> pr(9, 64, 1088, 1088, seed + 99);
    check_against_reference(pr, run_device<C, StreamPolicy>(pr, true, true), true);
    check_against_reference(pr, run_device<C, GemvPolicy>(pr, true, true), true);
  }
}

TEST_CASE("W4A(SQ) auto header: every M range and both decode widths match the reference",
          "[gpu][gemm]") {
  using C = sqformat::SqConfig<16, 4, 8, 4>;
  using Auto = gpu::GemmW4ASqStaticAuto<C>;
  const std::uint32_t seed = fresh_seed();
  CAPTURE(seed);
  // Decode with M <= 4 (the CUDA-core kernel on sm_90), 4 < M <= 16 (streaming mma.sync from
  // N = 4096 on; below, the wgmma kernels: 8-token tiles, 16-token tiles of 64 channels), medium
  // and prefill M.
  const int shapes[][2] = {{1, 200},    {3, 16392}, {16, 200}, {5, 16392}, {6, 200},
                           {12, 16392}, {12, 4096}, {40, 200}, {130, 264}};
  for (const auto& sh : shapes) {
    CAPTURE(sh[0], sh[1]);
    Problem<C> pr(sh[0], sh[1], 1024, 1024, seed + sh[0] + sh[1]);
    check_against_reference(pr, run_gemm<Auto>(pr, false, true), true);
  }
  // Per-group-128 weight scales keep 4 < M <= 16 on the wgmma decode kernels: 8-token tiles, then
  // 16-token tiles of 64 channels up to N = 16384 and of 128 above.
  const int grouped[][2] = {{6, 4096}, {12, 4096}, {12, 16392}};
  for (const auto& sh : grouped) {
    CAPTURE(sh[0], sh[1]);
    Problem<C> pr(sh[0], sh[1], 1024, 128, seed + 7 * sh[0] + sh[1]);
    check_against_reference(pr, run_gemm<Auto>(pr, false, true), true);
  }
  // Large prefill: 17 x 22 = 374 tiles of 192 channels, at least two per SM on a device with up
  // to 187 SMs (an H100 has 132), so the 192-channel kernel, canonical and prepacked W (K = 128:
  // Kh = 32, Kl = 96, one partial K tile per range).
  Problem<C> wide(2050, 4104, 128, 128, seed + 99);
  check_against_reference(wide, run_gemm<Auto>(wide, false, true), true);
  check_against_reference(
      wide, run_gemm<Auto>(wide, false, true, gpu::OutputType::bf16, WeightInput::prepacked), true);
}

TEMPLATE_LIST_TEST_CASE("W4A(SQ) every foundation configuration: the auto header's kernels match "
                        "the reference",
                        "[gpu][gemm][configs]", FoundationConfigs) {
  using C = TestType;
  using Auto = gpu::GemmW4ASqStaticAuto<C>;
  const std::uint32_t seed = fresh_seed();
  CAPTURE(seed);
  // K = 1024 (Kh from 64 to 512); M = 1 and 3 (CUDA-core decode), 7 and 16 (wgmma decode at
  // N = 200, streaming mma.sync at N = 4104), 37 (medium) and 131 (prefill), N partial tiles.
  const int shapes[][2] = {{1, 200}, {3, 4104}, {7, 200}, {16, 4104}, {37, 200}, {131, 264}};
  for (const auto& sh : shapes) {
    CAPTURE(sh[0], sh[1]);
    Problem<C> pr(sh[0], sh[1], 1024, 1024, seed + sh[0] + sh[1]);
    check_against_reference(pr, run_gemm<Auto>(pr, false, true), true);
  }
  // The mma.sync decode kernel and the prefill kernels, forced.
  Problem<C> pr(37, 264, 2048, 2048, seed + 5);
  check_against_reference(pr, run_device<C, MmaPolicy>(pr, true, false), false);
  check_against_reference(pr, run_device<C, gpu::W4ASqPrefillWarpSpecializedPolicy>(pr, true, true),
                          true);
  check_against_reference(pr, run_device<C, gpu::W4ASqPrefillWidePolicy>(pr, true, true), true);
  check_against_reference(pr,
                          run_device<C, gpu::W4ASqPrefillWidePolicy>(
                              pr, true, true, gpu::OutputType::bf16, WeightInput::prepacked),
                          true);
}

TEMPLATE_LIST_TEST_CASE("W4A(SQ) prefill policies (prepass widening) match the reference",
                        "[gpu][gemm]", Configs) {
  using C = TestType;
  const std::uint32_t seed = fresh_seed();
  CAPTURE(seed);
  Problem<C> pr(131, 264, 2048, 2048, seed);
  check_against_reference(pr, run_device<C, gpu::W4ASqPrefillPolicy>(pr, true, true), true);
  check_against_reference(pr, run_device<C, gpu::W4ASqPrefillWarpSpecializedPolicy>(pr, true, true),
                          true);
  // Three consumer warpgroups (192 channels): the second CTA holds 72 channels.
  check_against_reference(pr, run_device<C, gpu::W4ASqPrefillWidePolicy>(pr, true, true), true);
}

TEMPLATE_LIST_TEST_CASE("W4A(SQ) prepacked weights (u8 wgmma, activation-sum correction) match "
                        "the reference and the canonical path",
                        "[gpu][gemm][prepack]", Configs) {
  using C = TestType;
  using Ws = gpu::W4ASqPrefillWarpSpecializedPolicy;
  const std::uint32_t seed = fresh_seed();
  CAPTURE(seed);
  // N = 264: the last CTA holds one 64-row block; K = 1024 gives partial high/low K tiles for
  // some configurations (SQ4.25: Kh = 64), K = 2048 several full tiles per range.
  for (const int K : {1024, 2048}) {
    CAPTURE(K);
    Problem<C> pr(131, 264, K, K, seed + K);
    const auto canonical = run_device<C, gpu::W4ASqPrefillPolicy>(pr, true, true);
    const auto coop = run_device<C, gpu::W4ASqPrefillPolicy>(pr, true, true, gpu::OutputType::bf16,
                                                             WeightInput::prepacked);
    const auto ws =
        run_device<C, Ws>(pr, true, true, gpu::OutputType::bf16, WeightInput::prepacked);
    const auto wide = run_device<C, gpu::W4ASqPrefillWidePolicy>(
        pr, true, true, gpu::OutputType::bf16, WeightInput::prepacked);
    check_against_reference(pr, coop, true);
    check_against_reference(pr, ws, true);
    check_against_reference(pr, wide, true);
    CHECK(coop.y == canonical.y);
    CHECK(coop.sums == canonical.sums);
    CHECK(ws.y == canonical.y);
    CHECK(wide.y == canonical.y);
    CHECK(wide.sums == canonical.sums);
  }
}

TEMPLATE_LIST_TEST_CASE("W4A(SQ) split tail: K pieces of the last output tiles match the "
                        "reference and the unsplit kernel",
                        "[gpu][gemm][tail]", Configs) {
  using C = TestType;
  using Wide = gpu::W4ASqPrefillWidePolicy;
  using Ws = gpu::W4ASqPrefillWarpSpecializedPolicy;
  const std::uint32_t seed = fresh_seed();
  CAPTURE(seed);
  // M = 300: three token tiles, the last one partial; N = 1160: 7 tiles of 192 channels (the last
  // holds 8) or 10 of 128; K = 2048: 16 K tiles, split between the ranges by the config's Kh.
  Problem<C> pr(300, 1160, 2048, 2048, seed);
  const auto off = run_device<C, Wide>(pr, true, true, gpu::OutputType::bf16,
                                       WeightInput::prepacked, TailSplit{0, 0});
  check_against_reference(pr, off, true);
  // Pieces of 6, 4 (piece 0 ends where some configs' high range ends), 3 and 1 K tiles; the
  // last 5 tiles, or every tile.
  const TailSplit splits[] = {{5, 3}, {5, 4}, {7, 6}, {21, 2}, {2, 16}, {3, 40}};
  for (const TailSplit t : splits) {
    CAPTURE(t.tiles, t.pieces);
    const auto pp =
        run_device<C, Wide>(pr, true, true, gpu::OutputType::bf16, WeightInput::prepacked, t, 2);
    check_against_reference(pr, pp, true);
    CHECK(pp.y == off.y);
    CHECK(pp.sums == off.sums);
    const auto canonical =
        run_device<C, Wide>(pr, true, true, gpu::OutputType::bf16, WeightInput::canonical, t, 2);
    REQUIRE(canonical.status == Status::success);
    CHECK(canonical.y == off.y);
    CHECK(canonical.sums == off.sums);
    const auto ws =
        run_device<C, Ws>(pr, false, true, gpu::OutputType::fp16, WeightInput::prepacked, t);
    check_against_reference(pr, ws, true, gpu::OutputType::fp16);
  }
  // Tile orders: channel tile fastest (groups of 1), token tile fastest in groups of 2 (the
  // last group holds one token tile), 4 and 2^30 (more than the 3 token tiles: run() takes one
  // group of 3, like the default's 8), with and without a split tail: the same bytes.
  for (const TailSplit t : {TailSplit{0, 0, 1}, TailSplit{5, 3, 1}, TailSplit{0, 0, 2},
                            TailSplit{5, 3, 2}, TailSplit{-1, 0, 4}, TailSplit{5, 3, 1 << 30}}) {
    CAPTURE(t.tiles, t.pieces, t.token_group);
    const auto grouped =
        run_device<C, Wide>(pr, true, true, gpu::OutputType::bf16, WeightInput::prepacked, t);
    REQUIRE(grouped.status == Status::success);
    CHECK(grouped.y == off.y);
    CHECK(grouped.sums == off.sums);
    const auto ws =
        run_device<C, Ws>(pr, true, true, gpu::OutputType::bf16, WeightInput::canonical, t);
    REQUIRE(ws.status == Status::success);
    CHECK(ws.y == off.y);
    CHECK(ws.sums == off.sums);
  }
}

TEST_CASE("W4A(SQ) split tail with partial K tiles in both ranges matches the reference",
          "[gpu][gemm][tail]") {
  using C = sqformat::SqConfig<16, 4, 8, 4>;
  const std::uint32_t seed = fresh_seed();
  CAPTURE(seed);
  // K = 2176: Kh = 544 (5 K tiles, the last of 32 columns), Kl = 1632 (13, the last of 96): 18
  // K tiles. The high range fills piece 0 of 4 exactly (pieces of 5, 5, 5, 3 K tiles), ends
  // inside piece 0 of 3 (6, 6, 6), or spans 5 pieces of one K tile. M = 257 and N = 584: partial
  // token and channel tiles.
  Problem<C> pr(257, 584, 2176, 2176, seed);
  const auto off = run_device<C, gpu::W4ASqPrefillWidePolicy>(
      pr, true, true, gpu::OutputType::bf16, WeightInput::prepacked, TailSplit{0, 0});
  check_against_reference(pr, off, true);
  for (const TailSplit t : {TailSplit{4, 4}, TailSplit{12, 3}, TailSplit{1, 18}}) {
    CAPTURE(t.tiles, t.pieces);
    const auto pp = run_device<C, gpu::W4ASqPrefillWidePolicy>(
        pr, true, true, gpu::OutputType::bf16, WeightInput::prepacked, t, 2);
    check_against_reference(pr, pp, true);
    CHECK(pp.y == off.y);
    const auto canonical = run_device<C, gpu::W4ASqPrefillWarpSpecializedPolicy>(
        pr, true, true, gpu::OutputType::bf16, WeightInput::canonical, t);
    check_against_reference(pr, canonical, true);
  }
}

TEST_CASE("W4A(SQ) split tail chosen from the SM count gives the unsplit output",
          "[gpu][gemm][tail]") {
  using C = sqformat::SqConfig<16, 4, 8, 4>;
  using Gemm = gpu::GemmW4ASqStatic<C, gpu::W4ASqPrefillWidePolicy>;
  const std::uint32_t seed = fresh_seed();
  CAPTURE(seed);
  // 2048 x 8192: 16 x 43 = 688 tiles of 192 channels x 128 tokens; K = 2048: 16 K tiles.
  Problem<C> pr(2048, 8192, 2048, 2048, seed);
  int device = 0, sms = 0;
  REQUIRE(cudaGetDevice(&device) == cudaSuccess);
  REQUIRE(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) == cudaSuccess);
  Gemm::Arguments a;
  a.m = 2048;
  a.n = 8192;
  a.k = 2048;
  const auto plan = Gemm::tail_plan(a);
  // The documented rule: fewer than 8 full waves, the last wave's tiles (688 mod SMs), when at
  // most half the SMs, in min(SMs / tail, 8, 16 / 4) pieces.
  const int tail = 688 % sms;
  const int expected_pieces = (688 > sms && 688 < 8 * sms && tail > 0 && 2 * tail <= sms)
                                  ? std::min({sms / tail, Gemm::tail_max_pieces, 16 / 4})
                                  : 1;
  CAPTURE(sms, tail);
  CHECK(plan.pieces == (expected_pieces >= 2 ? expected_pieces : 1));
  if (plan.pieces < 2)
    WARN("this device's SM count leaves no split tail at 2048 x 8192; only the equality of two "
         "unsplit runs is checked");
  const auto automatic = run_device<C, gpu::W4ASqPrefillWidePolicy>(
      pr, true, false, gpu::OutputType::bf16, WeightInput::prepacked, TailSplit{}, 2);
  const auto off = run_device<C, gpu::W4ASqPrefillWidePolicy>(
      pr, true, false, gpu::OutputType::bf16, WeightInput::prepacked, TailSplit{0, 0});
  REQUIRE(automatic.status == Status::success);
  REQUIRE(off.status == Status::success);
  CHECK(automatic.y == off.y);
  CHECK(automatic.sums == off.sums);
}

TEST_CASE("Prepacked W layout: host round trip, device transform equals the host one",
          "[gpu][gemm][prepack]") {
  const std::uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  // (N, K, Kh): ranges not multiples of 128, N not a multiple of 64, Kh = 0 and Kh = K.
  const int shapes[][3] = {{200, 1024, 256}, {8, 352, 96},   {136, 2048, 512},
                           {64, 256, 0},     {72, 384, 384}, {1000, 1536, 416}};
  for (const auto& sh : shapes) {
    const int N = sh[0], K = sh[1], KH = sh[2];
    CAPTURE(N, K, KH);
    std::vector<std::uint8_t> w(static_cast<std::size_t>(N) * K / 2);
    for (auto& b : w)
      b = static_cast<std::uint8_t>(rng()); // every nibble value: the round trip is on bits
    const auto pre = gpu::prepack_w4_sm90(w.data(), N, K, KH);
    REQUIRE(pre.size() == gpu::W4PrepackedLayout{N, K, KH}.bytes());
    CHECK(gpu::unprepack_w4_sm90(pre.data(), N, K, KH) == w);
    DeviceVector<std::uint8_t> dw(w), dout(pre.size());
    REQUIRE(gpu::prepack_w4_sm90(dw.ptr, N, K, KH, dout.ptr, nullptr) == Status::success);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    CHECK(dout.to_host() == pre);
  }
  // One element placed by hand: row 9 (warp 0, g 1, high nibble), column 37 (k32 step 1: chunk
  // half q = 1, c = 1, byte 1) -> lane 5, byte 5*16 + 8 + 1 = 89, u = 5 ^ 8 = 13. Every other
  // code is 0 (u = 8).
  std::vector<std::uint8_t> w(64 * 128 / 2, 0);
  w[9 * 64 + 37 / 2] = 0x50; // column 37 is the high nibble of byte 18
  const auto pre = gpu::prepack_w4_sm90(w.data(), 64, 128, 0);
  REQUIRE(pre.size() == 4096);
  for (std::size_t i = 0; i < pre.size(); ++i) {
    CAPTURE(i);
    CHECK(pre[i] == (i == 89 ? 0xD8 : 0x88));
  }
  CHECK_THROWS_AS(gpu::prepack_w4_sm90(w.data(), 8, 3, 0), sqformat::Error);
  CHECK_THROWS_AS(gpu::prepack_w4_sm90(w.data(), 8, 128, 130), sqformat::Error);
}

TEST_CASE("W4A(SQ) prepacked weights at +-qmax with outlier activations stay exact",
          "[gpu][gemm][prepack]") {
  using C = sqformat::SqConfig<16, 4, 8, 4>;
  const std::uint32_t seed = fresh_seed();
  CAPTURE(seed);
  Problem<C> pr(5, 192, 4096, 4096, seed, true);
  // Rows alternate +7 (u = 15) and -7 (u = 1): the largest offset-binary sums.
  for (std::size_t i = 0; i < pr.w.codes.size(); ++i)
    pr.w.codes[i] = static_cast<std::int8_t>((i / pr.w.cols) % 2 ? 7 : -7);
  pr.w_packed = ref::pack_rows(pr.w);
  check_against_reference(pr,
                          run_device<C, gpu::W4ASqPrefillPolicy>(
                              pr, true, false, gpu::OutputType::bf16, WeightInput::prepacked),
                          false);
}

TEST_CASE("W4A(SQ) adversarial codes (+-qmax everywhere, outliers) stay exact", "[gpu][gemm]") {
  using C = sqformat::SqConfig<16, 4, 8, 4>;
  Problem<C> pr(5, 128, 4096, 4096, fresh_seed(), true);
  check_against_reference(pr, run_device<C, gpu::W4ASqDecodePolicy>(pr, true, false), false);
  check_against_reference(pr, run_device<C, MmaPolicy>(pr, true, false), false);
  check_against_reference(pr, run_device<C, GemvPolicy>(pr, true, false), false);
  check_against_reference(pr, run_device<C, StreamPolicy>(pr, true, false), false);
}

TEST_CASE("W4A(SQ) per-group-128 weight scales and fp16 output with bias", "[gpu][gemm]") {
  using C = sqformat::SqConfig<16, 4, 8, 4>;
  const std::uint32_t seed = fresh_seed();
  CAPTURE(seed);
  Problem<C> pr(19, 136, 2048, 128, seed);
  check_against_reference(pr, run_device<C, gpu::W4ASqDecodePolicy>(pr, false, true), true);
  check_against_reference(pr, run_device<C, gpu::W4ASqPrefillPolicy>(pr, false, false), false);
  check_against_reference(
      pr, run_device<C, gpu::W4ASqPrefillWarpSpecializedPolicy>(pr, false, false), false);
  check_against_reference(
      pr, run_device<C, gpu::W4ASqDecodePolicy>(pr, false, true, gpu::OutputType::fp16), true,
      gpu::OutputType::fp16);
  // mma.sync kernel: per-group scales never split K (the fold follows the groups in K order).
  check_against_reference(pr, run_device<C, MmaPolicy>(pr, false, true), true);
  check_against_reference(pr, run_device<C, MmaWidePolicy>(pr, false, true, gpu::OutputType::fp16),
                          true, gpu::OutputType::fp16);
  // Prepacked weights: the correction is applied per group of 128 columns.
  check_against_reference(pr,
                          run_device<C, gpu::W4ASqPrefillPolicy>(
                              pr, false, true, gpu::OutputType::fp16, WeightInput::prepacked),
                          true, gpu::OutputType::fp16);
  check_against_reference(pr,
                          run_device<C, gpu::W4ASqPrefillWarpSpecializedPolicy>(
                              pr, false, false, gpu::OutputType::bf16, WeightInput::prepacked),
                          false);
  check_against_reference(pr,
                          run_device<C, gpu::W4ASqPrefillWidePolicy>(
                              pr, false, true, gpu::OutputType::fp16, WeightInput::prepacked),
                          true, gpu::OutputType::fp16);
  check_against_reference(pr, run_device<C, gpu::W4ASqPrefillWidePolicy>(pr, false, false), false);
  check_against_reference(
      pr, run_device<C, gpu::W4ASqPrefillWidePolicy>(pr, false, true, gpu::OutputType::fp16), true,
      gpu::OutputType::fp16);
}

TEST_CASE("W4A(SQ) tile policies give identical output", "[gpu][gemm]") {
  using C = sqformat::SqConfig<16, 4, 8, 4>;
  const std::uint32_t seed = fresh_seed();
  CAPTURE(seed);
  Problem<C> pr(77, 192, 1536, 1536, seed);
  const auto a = run_device<C, gpu::W4ASqDecodePolicy>(pr, false, true);
  const auto b = run_device<C, gpu::W4ASqPrefillPolicy>(pr, false, true);
  const auto c = run_device<C, gpu::W4ASqMediumPolicy>(pr, false, true);
  const auto d = run_device<C, SmallPolicy>(pr, false, true);
  const auto e = run_device<C, gpu::W4ASqPrefillWarpSpecializedPolicy>(pr, false, true);
  const auto f = run_device<C, gpu::W4ASqPrefillPolicy>(pr, false, true, gpu::OutputType::bf16,
                                                        WeightInput::prepacked);
  const auto g = run_device<C, gpu::W4ASqPrefillWarpSpecializedPolicy>(
      pr, false, true, gpu::OutputType::bf16, WeightInput::prepacked);
  const auto h = run_device<C, MmaPolicy>(pr, false, true);      // split K
  const auto i = run_device<C, MmaSmallPolicy>(pr, false, true); // other splits, other tiles
  const auto j = run_device<C, MmaWidePolicy>(pr, false, true);
  const auto k = run_device<C, gpu::W4ASqDecode64Policy>(pr, false, true);
  const auto l = run_device<C, gpu::W4ASqDecode8Policy>(pr, false, true);
  const auto gv = run_device<C, GemvPolicy>(pr, false, true);
  const auto gs = run_device<C, GemvSmallPolicy>(pr, false, true);
  const auto sv = run_device<C, StreamPolicy>(pr, false, true);
  const auto ss = run_device<C, StreamSmallPolicy>(pr, false, true);
  const auto wd = run_device<C, gpu::W4ASqPrefillWidePolicy>(pr, false, true);
  const auto wp = run_device<C, gpu::W4ASqPrefillWidePolicy>(pr, false, true, gpu::OutputType::bf16,
                                                             WeightInput::prepacked);
  REQUIRE(wd.status == Status::success);
  REQUIRE(wp.status == Status::success);
  CHECK(a.y == wd.y);
  CHECK(a.y == wp.y);
  REQUIRE(gv.status == Status::success);
  REQUIRE(gs.status == Status::success);
  REQUIRE(sv.status == Status::success);
  REQUIRE(ss.status == Status::success);
  CHECK(a.y == gv.y);
  CHECK(a.y == gs.y);
  CHECK(a.y == sv.y);
  CHECK(a.y == ss.y);
  REQUIRE(f.status == Status::success);
  REQUIRE(g.status == Status::success);
  REQUIRE(h.status == Status::success);
  REQUIRE(i.status == Status::success);
  REQUIRE(j.status == Status::success);
  REQUIRE(k.status == Status::success);
  REQUIRE(l.status == Status::success);
  CHECK(a.y == f.y);
  CHECK(a.y == g.y);
  CHECK(a.y == h.y);
  CHECK(a.y == i.y);
  CHECK(a.y == j.y);
  CHECK(a.y == k.y);
  CHECK(a.y == l.y);
  REQUIRE(a.status == Status::success);
  REQUIRE(b.status == Status::success);
  REQUIRE(c.status == Status::success);
  REQUIRE(d.status == Status::success);
  REQUIRE(e.status == Status::success);
  CHECK(a.y == b.y);
  CHECK(a.y == c.y);
  CHECK(a.y == d.y);
  CHECK(a.y == e.y);
}

TEST_CASE("W4A(SQ) Llama projection shapes with few tokens", "[gpu][gemm][llama]") {
  using C = sqformat::SqConfig<16, 4, 8, 4>; // W4A(SQ5)
  const std::uint32_t seed = fresh_seed();
  CAPTURE(seed);
  const int shapes[][2] = {{4096, 4096}, {1024, 4096}, {14336, 4096}, {4096, 14336},
                           {8192, 8192}, {1024, 8192}, {28672, 8192}, {8192, 28672}};
  for (const auto& s : shapes) {
    const int N = s[0], K = s[1];
    CAPTURE(N, K);
    Problem<C> pr(3, N, K, K, seed + N + K);
    check_against_reference(pr, run_device<C, gpu::W4ASqDecodePolicy>(pr, true, false), false);
    check_against_reference(pr, run_device<C, MmaPolicy>(pr, true, false), false);
    check_against_reference(pr, run_device<C, GemvPolicy>(pr, true, false), false);
    check_against_reference(pr, run_device<C, StreamPolicy>(pr, true, false), false);
  }
  Problem<C> pr(2, 1024, 8192, 8192, seed);
  check_against_reference(pr, run_device<C, gpu::W4ASqPrefillPolicy>(pr, true, false), false);
  // Several token tiles and a long K (64 tiles: every pipeline stage wraps several times).
  Problem<C> many(300, 512, 8192, 8192, seed + 1);
  check_against_reference(many, run_device<C, gpu::W4ASqPrefillPolicy>(many, true, true), true);
  check_against_reference(
      many, run_device<C, gpu::W4ASqPrefillWarpSpecializedPolicy>(many, true, true), true);
  check_against_reference(many, run_device<C, MmaSmallPolicy>(many, true, true), true);
  check_against_reference(many,
                          run_device<C, gpu::W4ASqPrefillPolicy>(
                              many, true, true, gpu::OutputType::bf16, WeightInput::prepacked),
                          true);
  check_against_reference(many,
                          run_device<C, gpu::W4ASqPrefillWarpSpecializedPolicy>(
                              many, true, true, gpu::OutputType::bf16, WeightInput::prepacked),
                          true);
  check_against_reference(many,
                          run_device<C, gpu::W4ASqPrefillWidePolicy>(
                              many, true, true, gpu::OutputType::bf16, WeightInput::prepacked),
                          true);
  // The Llama K of 14336 and 28672 through the prefill kernels the auto header takes above 128
  // tokens (two token tiles, one of them partial; 1024 outputs: the KV projections' N).
  for (const int K : {14336, 28672}) {
    CAPTURE(K);
    Problem<C> longk(130, 1024, K, K, seed + K);
    check_against_reference(longk, run_gemm<gpu::GemmW4ASqStaticAuto<C>>(longk, false, true), true);
    check_against_reference(longk,
                            run_device<C, gpu::W4ASqPrefillWidePolicy>(
                                longk, true, true, gpu::OutputType::bf16, WeightInput::prepacked),
                            true);
  }
}

TEST_CASE("W4A(SQ) misuse returns the status that names the rule", "[gpu][gemm]") {
  using C = sqformat::SqConfig<16, 4, 8, 4>;
  using Gemm = gpu::GemmW4ASqStatic<C, gpu::W4ASqPrefillPolicy>;
  DeviceVector<std::uint8_t> buf(1 << 20);
  auto* base = buf.ptr;
  Gemm::Arguments a;
  a.m = 4;
  a.n = 64;
  a.k = 256;
  a.x_high = reinterpret_cast<const std::int8_t*>(base);
  a.x_low = base + 4096;
  a.w = base + 8192;
  a.scale_x_high = reinterpret_cast<const float*>(base + 65536);
  a.scale_x_low = reinterpret_cast<const float*>(base + 65536 + 256);
  a.scale_w = reinterpret_cast<const float*>(base + 65536 + 512);
  a.y = base + 131072;
  const char* why = nullptr;
  REQUIRE(Gemm::can_implement(a, &why) == Status::success);

  auto with = [&](auto edit) {
    Gemm::Arguments b = a;
    edit(b);
    return Gemm::can_implement(b, &why);
  };
  CHECK(with([](Gemm::Arguments& b) { b.m = 0; }) == Status::invalid_shape);
  CHECK(with([](Gemm::Arguments& b) { b.k = 264; }) == Status::k_not_multiple_of_bank);
  CHECK(with([](Gemm::Arguments& b) { b.k = 16 * 10; }) == Status::invalid_shape); // Kh = 40
  CHECK(with([](Gemm::Arguments& b) { b.n = 60; }) == Status::n_not_supported);
  CHECK(with([](Gemm::Arguments& b) { b.w = nullptr; }) == Status::invalid_argument);
  CHECK(with([&](Gemm::Arguments& b) { b.x_high = b.x_high + 1; }) == Status::misaligned_pointer);
  CHECK(with([](Gemm::Arguments& b) { b.weight_scale_group = 64; }) == Status::invalid_argument);
  CHECK(with([](Gemm::Arguments& b) {
          b.weight_scale_group = 128;
          b.k = 16 * 32 * 3; // K = 1536, Kh = 384: fine
        }) == Status::success);
  CHECK(with([](Gemm::Arguments& b) {
          b.weight_scale_group = 128;
          b.k = 16 * 40; // K = 640, Kh = 160: groups straddle the high/low boundary
        }) == Status::invalid_shape);
  CHECK(why != nullptr);
  // Split tail: automatic (-1), off (0), or forced with >= 2 pieces on warp-specialized policies
  // with per-channel scales.
  auto says = [&](const char* words) { return why != nullptr && std::strstr(why, words); };
  CHECK(with([](Gemm::Arguments& b) { b.tail_tiles = -2; }) == Status::invalid_argument);
  CHECK(says("tail_tiles must be"));
  CHECK(with([](Gemm::Arguments& b) { b.token_group = -1; }) == Status::invalid_argument);
  CHECK(says("token_group"));
  CHECK(with([](Gemm::Arguments& b) {
          b.tail_tiles = 1;
          b.tail_pieces = 2;
        }) == Status::invalid_argument); // the cooperative prefill policy
  CHECK(says("warp-specialized policy"));
  using WsGemm = gpu::GemmW4ASqStatic<C, gpu::W4ASqPrefillWidePolicy>;
  Gemm::Arguments forced = a;
  forced.tail_tiles = 1;
  forced.tail_pieces = 1;
  CHECK(WsGemm::can_implement(forced, &why) == Status::invalid_argument);
  CHECK(says("tail_pieces >= 2"));
  forced.tail_pieces = 2; // K = 256: 2 K tiles (Kh = 64, Kl = 192), one a piece
  REQUIRE(WsGemm::can_implement(forced, &why) == Status::success);
  CHECK(WsGemm::tail_plan(forced).pieces == 2);
  CHECK(WsGemm::workspace_size(forced) ==
        static_cast<std::size_t>(4 * 192) + 2 * 2 * 192 * 128 * 4 + 256);
  forced.weight_scale_group = 128;
  forced.k = 16 * 32 * 3;
  CHECK(WsGemm::can_implement(forced, &why) == Status::invalid_argument);
  CHECK(says("per-channel weight scales"));
  // The prepass policy needs a workspace of M * Kl bytes.
  REQUIRE(Gemm::workspace_size(a) == static_cast<std::size_t>(4 * 192));
  CHECK(Gemm::run(a, nullptr, 0, nullptr) == Status::insufficient_workspace);
  CHECK(Gemm::run(a, base + 262144, 100, nullptr) == Status::insufficient_workspace);
  CHECK(Gemm::run(a, base + 262144, 4 * 192, nullptr) == Status::success);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);

  // Prepacked weights: a prepass policy needs no canonical W, plus 4 x 2 int32 sums (256 B).
  Gemm::Arguments pa = a;
  pa.w = nullptr;
  pa.w_prepacked = base + 8192;
  REQUIRE(Gemm::can_implement(pa, &why) == Status::success);
  REQUIRE(Gemm::workspace_size(pa) == static_cast<std::size_t>(4 * 192 + 256));
  CHECK(Gemm::run(pa, base + 262144, 4 * 192, nullptr) == Status::insufficient_workspace);
  pa.w_prepacked = base + 8200;
  CHECK(Gemm::can_implement(pa, &why) == Status::misaligned_pointer);
  // In-loop policies read the canonical W only.
  using Decode = gpu::GemmW4ASqStatic<C, gpu::W4ASqDecodePolicy>;
  pa.w_prepacked = base + 8192;
  CHECK(Decode::can_implement(pa, &why) == Status::invalid_argument);
  // The mma.sync kernel keeps its offset-binary sums exact only below K = 2^20.
  using Mma = gpu::GemmW4ASqStatic<C, MmaPolicy>;
  REQUIRE(Mma::can_implement(a, &why) == Status::success);
  Gemm::Arguments big = a;
  big.k = 1 << 20;
  CHECK(Mma::can_implement(big, &why) == Status::invalid_shape);
  CHECK(Gemm::can_implement(big, &why) == Status::success);
  // The GEMV kernel: the same K rule; per-channel weight scales only.
  using Gemv = gpu::GemmW4ASqStatic<C, GemvPolicy>;
  REQUIRE(Gemv::can_implement(a, &why) == Status::success);
  REQUIRE(Gemv::workspace_size(a) == 0);
  CHECK(Gemv::can_implement(big, &why) == Status::invalid_shape);
  Gemm::Arguments grouped = a;
  grouped.weight_scale_group = 128;
  grouped.k = 16 * 32 * 3;
  CHECK(Gemv::can_implement(grouped, &why) == Status::invalid_argument);
  // The auto header leaves K >= 2^20 to the wgmma decode kernels (K < 2^21).
  CHECK(gpu::GemmW4ASqStaticAuto<C>::can_implement(big, &why) == Status::success);
  Gemm::Arguments big8 = big;
  big8.m = 8;
  CHECK(gpu::GemmW4ASqStaticAuto<C>::can_implement(big8, &why) == Status::success);
  using Stream = gpu::GemmW4ASqStatic<C, StreamPolicy>;
  REQUIRE(Stream::can_implement(a, &why) == Status::success);
  REQUIRE(Stream::workspace_size(a) == 0);
  CHECK(Stream::can_implement(big, &why) == Status::invalid_shape);
  CHECK(Stream::can_implement(grouped, &why) == Status::invalid_argument);
  // 3-bit X_low rows of 36 bytes (Kl = 96): the wgmma kernels' TMA boxes need 16-byte multiples,
  // the mma.sync kernel reads 4-byte words.
  using C3 = sqformat::SqConfig<32, 16, 8, 3>;
  Gemm::Arguments three = a;
  three.k = 192;
  CHECK(gpu::GemmW4ASqStatic<C3, gpu::W4ASqPrefillPolicy>::can_implement(three, &why) ==
        Status::invalid_shape);
  CHECK(gpu::GemmW4ASqStatic<C3, gpu::W4ASqDecodePolicy>::can_implement(three, &why) ==
        Status::invalid_shape);
  CHECK(gpu::GemmW4ASqStatic<C3, MmaPolicy>::can_implement(three, &why) == Status::success);
  CHECK(gpu::GemmW4ASqStatic<C3, GemvPolicy>::can_implement(three, &why) == Status::success);
  CHECK(gpu::GemmW4ASqStatic<C3, StreamPolicy>::can_implement(three, &why) == Status::success);
  three.k = 256; // Kl = 128: 48-byte rows
  CHECK(gpu::GemmW4ASqStatic<C3, gpu::W4ASqPrefillPolicy>::can_implement(three, &why) ==
        Status::success);
}

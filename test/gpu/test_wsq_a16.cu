// W(SQ)A16 decode kernels against the host reference (ref::sq_weight_times_float).
//
// Tolerance: the kernels form exact code * x products, add them in float32 per bank and path,
// scale once per bank and add the banks (and K slices) in float32. With u = 2^-24 and
// mag = sum_k |x w| (float64), every result lies within (b + K/b + slices + 8) * 2u * mag of the
// exact value (2u per addition covers the tensor cores' accumulation, which is not round to
// nearest); the reference is within its own bound; the 16-bit output adds 2^-9 |y| (2^-8 used).
#include "sq_catch.hpp"
#include "test_wsq_util.cuh"

#include <sqformat/config.hpp>
#include <sqformat/gpu/wsq/wsq.hpp>

#include <cstring>
#include <string>
#include <tuple>

using namespace sqformat;
using wsq_test::DeviceBuffer;
using wsq_test::MaskKind;

using WsqConfigs =
    std::tuple<SqConfig<4, 2, 8, 4>, SqConfig<16, 4, 8, 4>, SqConfig<32, 8, 8, 4>,
               SqConfig<64, 8, 8, 4>, SqConfig<128, 8, 8, 4>, SqConfig<64, 16, 8, 2>,
               SqConfig<64, 32, 8, 3>, SqConfig<16, 8, 4, 2>, SqConfig<64, 32, 8, 4>>;

namespace {

using PolicyA = gpu::WsqDecodePolicy<4, 2, 4, 8>;       // hybrid kernel: the default choice
using PolicyB = gpu::WsqDecodePolicy<8, 1, 2, 4, 1, 2>; // hybrid kernel: 1 pair, 2 blocks a SM
using PolicyC =
    gpu::WsqDecodePolicy<2, 2, 1, 16, 3>; // lanes-along-K: 1 row a warp; hybrid: 3 pairs

struct Case {
  int m, n, k;
  MaskKind mask;
};

/// Which kernel a call takes: run()'s choice, or one kernel forced whatever run() would pick.
enum class Path { dispatch, gemv, row_thread, tensor_cores, hybrid };

template <class C, class T, class Policy>
std::vector<T> run_path(Path p, const gpu::WsqWeightsView<C>& w, const DeviceBuffer<T>& x, int m) {
  using Op = gpu::WsqA16Decode<C, T, Policy>;
  DeviceBuffer<T> y(std::size_t(m) * w.n);
  const typename Op::Arguments args{w, x.ptr, y.ptr, m};
  REQUIRE(Op::can_implement(args) == Status::success);
  const std::size_t bytes = p == Path::gemv           ? Op::gemv_workspace_size(args)
                            : p == Path::row_thread   ? Op::row_thread_workspace_size(args)
                            : p == Path::hybrid       ? Op::hybrid_workspace_size(args)
                            : p == Path::tensor_cores ? Op::tensor_core_workspace_size(args)
                                                      : Op::workspace_size(args);
  DeviceBuffer<unsigned char> ws(bytes);
  const Status st = p == Path::gemv         ? Op::run_gemv(args, ws.ptr, ws.count, nullptr)
                    : p == Path::row_thread ? Op::run_row_thread(args, ws.ptr, ws.count, nullptr)
                    : p == Path::hybrid     ? Op::run_hybrid(args, ws.ptr, ws.count, nullptr)
                    : p == Path::tensor_cores
                        ? Op::run_tensor_cores(args, ws.ptr, ws.count, nullptr)
                        : Op::run(args, ws.ptr, ws.count, nullptr);
  REQUIRE(st == Status::success);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  return y.to_host();
}

/// Runs every kernel that takes these arguments (run()'s choice, and each other kernel forced)
/// against the bound; the policies must agree byte for byte.
template <class C, class T>
void check_weights_case(const Case& c, const ref::SqTensor<C>& w,
                        const wsq_test::DeviceWeights<C>& dw, std::mt19937& rng) {
  std::vector<T> x;
  std::vector<float> xf;
  wsq_test::make_activations(c.m, c.k, rng, x, xf);
  const auto ref = ref::sq_weight_times_float_detailed(w, xf.data(), c.m);
  const auto mag = wsq_test::magnitudes(w, xf, c.m);

  DeviceBuffer<T> dx(x);
  using OpA = gpu::WsqA16Decode<C, T, PolicyA>;
  const typename OpA::Arguments probe{dw.view, dx.ptr, nullptr, c.m};
  const bool hybrid = OpA::uses_hybrid(probe), gemv = OpA::uses_gemv(probe),
             row_thread = OpA::uses_row_thread(probe), tc = OpA::uses_tensor_cores(probe);
  const int slices = OpA::k_slices(probe);
  CAPTURE(hybrid, gemv, row_thread, tc, slices);
  // The hybrid and lanes-along-K kernels take exactly these configurations and M.
  const bool hybrid_ok = gpu::wsq_detail::hybrid_decode_supports<C> && c.m <= OpA::hybrid_max_m;
  const bool gemv_ok = gpu::wsq_detail::gemv_decode_supports<C> && c.m <= OpA::gemv_max_m;
  CHECK(hybrid == (hybrid_ok && c.m >= 2 && c.m <= OpA::hybrid_dispatch_max_m));
  CHECK(gemv == (gemv_ok && !hybrid));
  const auto check_bound = [&](const std::vector<T>& y, int path_slices) {
    const double steps = C::bank + c.k / C::bank + path_slices + 8;
    for (int i = 0; i < c.m * c.n; ++i) {
      const double got = wsq_test::to_float(y[i]);
      const double want = ref.y[i];
      const double tol = steps * std::ldexp(2.0, -24) * mag[i] + ref.bound[i] +
                         std::ldexp(1.0, -8) * std::fabs(want) + 1e-30;
      if (std::fabs(got - want) > tol) {
        CAPTURE(i, got, want, tol, mag[i]);
        FAIL("W(SQ)A16 result outside the bound");
      }
    }
  };
  const std::vector<T> ya = run_path<C, T, PolicyA>(Path::dispatch, dw.view, dx, c.m);
  // The hybrid kernel's sums also pass through the 8 warps of a block per slice.
  check_bound(ya, hybrid ? slices * gpu::wsq_detail::kHybridSegments + 2 : slices);
  // Where run() takes the hybrid or a CUDA-core kernel, the other kernels that the configuration
  // and M allow must hold the bound too: all stay tested whatever the dispatch thresholds.
  if (gemv_ok && !gemv) { // the lanes-along-K kernel forced, under two policies
    const std::vector<T> yl = run_path<C, T, PolicyA>(Path::gemv, dw.view, dx, c.m);
    check_bound(yl, c.k / C::bank); // at most one slice per bank
    const std::vector<T> yl2 = run_path<C, T, PolicyC>(Path::gemv, dw.view, dx, c.m);
    REQUIRE(std::memcmp(yl.data(), yl2.data(), yl.size() * sizeof(T)) == 0);
  }
  if ((gemv || hybrid) && gpu::wsq_detail::row_thread_decode_supports<C> &&
      c.m <= OpA::row_thread_max_m) {
    const std::vector<T> yr = run_path<C, T, PolicyA>(Path::row_thread, dw.view, dx, c.m);
    check_bound(yr, c.k / C::bank); // at most one slice per bank
  }
  if ((gemv || row_thread || hybrid) && gpu::wsq_detail::mma_decode_supports<C> && c.n % 16 == 0) {
    const std::vector<T> yt = run_path<C, T, PolicyA>(Path::tensor_cores, dw.view, dx, c.m);
    check_bound(yt, c.k / C::bank); // at most one slice per bank
  }
  // The hybrid kernel (tensor-core low path, CUDA-core high path) wherever it applies, under
  // three policies that must agree byte for byte: the default (1 pair in flight at 3 blocks a SM
  // up to 4 tokens, 2 pairs at 2 blocks for 8), 1 pair at 2 blocks, 3 pairs at 2 blocks. Its
  // sums also pass through the 8 warps of a block per slice.
  if (hybrid_ok) {
    const int hs = OpA::hybrid_k_slices({dw.view, dx.ptr, nullptr, c.m});
    CAPTURE(hs);
    const std::vector<T> yh[3] = {run_path<C, T, PolicyA>(Path::hybrid, dw.view, dx, c.m),
                                  run_path<C, T, PolicyB>(Path::hybrid, dw.view, dx, c.m),
                                  run_path<C, T, PolicyC>(Path::hybrid, dw.view, dx, c.m)};
    check_bound(yh[0], hs * gpu::wsq_detail::kHybridSegments + 2);
    REQUIRE(std::memcmp(yh[0].data(), yh[1].data(), yh[0].size() * sizeof(T)) == 0);
    REQUIRE(std::memcmp(yh[0].data(), yh[2].data(), yh[0].size() * sizeof(T)) == 0);
  }
  // A policy changes speed only: the other policy must produce the same bytes.
  const std::vector<T> yb = run_path<C, T, PolicyB>(Path::dispatch, dw.view, dx, c.m);
  REQUIRE(std::memcmp(ya.data(), yb.data(), ya.size() * sizeof(T)) == 0);
  if (gemv) {
    const std::vector<T> yc = run_path<C, T, PolicyC>(Path::dispatch, dw.view, dx, c.m);
    REQUIRE(std::memcmp(ya.data(), yc.data(), ya.size() * sizeof(T)) == 0);
  }
}

template <class C, class T> void check_case(const Case& c, unsigned seed) {
  CAPTURE(seed, c.m, c.n, c.k, int(c.mask), C::bank, C::high_per_bank, C::low_bits);
  std::mt19937 rng(seed);
  const auto w = wsq_test::make_weights<C>(c.n, c.k, rng, c.mask);
  wsq_test::DeviceWeights<C> dw(w);
  check_weights_case<C, T>(c, w, dw, rng);
}

} // namespace

TEMPLATE_LIST_TEST_CASE("W(SQ)A16 decode matches the reference", "[gpu][wsq][a16]", WsqConfigs) {
  using C = TestType;
  const unsigned seed = std::random_device{}();
  const int b = C::bank;
  const int big_k = 4096;
  const Case cases[] = {
      {1, 32, b, MaskKind::random},                 // one bank
      {1, 64, big_k, MaskKind::random},             // M = 1, large K, K split in many slices
      {2, 72, 1024 + 3 * b, MaskKind::bank_end},    // partial chunk and load group, N % 32 != 0
      {3, 200, 2048 + 5 * b, MaskKind::bank_start}, // 2 blocks of rows, tokens past M zero
      {4, 32, 3 * 1024, MaskKind::random},          // above the row-thread kernel's M
      {8, 33, 2048, MaskKind::random},              // N % 16 != 0 at M = 8
      {7, 48, 1024, MaskKind::bank_start},          // odd M, high elements first in every bank
      {16, 64, 2048, MaskKind::bank_end},           // high elements last in every bank
      {64, 32, big_k, MaskKind::random},            // the largest M
      {33, 40, 8 * b, MaskKind::random},            // N not a multiple of 16
      {37, 4100, 4 * b, MaskKind::random}, // N % 16 != 0 at N >= 4096: the generic kernel's
                                           // 64-token blocks (5 tiles, the last of 5 tokens)
  };
  for (const Case& c : cases)
    check_case<C, __nv_bfloat16>(c, seed);
}

// The lanes-along-K kernel (b = 64, INT8/INT4, H % 8 == 0, M <= 4) on its own edges: one row, one
// bank, odd N, K not a multiple of its 1024-k chunk (idle lanes in the last chunk), K split into
// slices or not, several X stages per slice, H up to 56 (a lane's H/2 codes cross into its
// partner's half), high elements at either end of every bank.
using GemvConfigs = std::tuple<SqConfig<64, 8, 8, 4>, SqConfig<64, 16, 8, 4>,
                               SqConfig<64, 32, 8, 4>, SqConfig<64, 56, 8, 4>>;

TEMPLATE_LIST_TEST_CASE("W(SQ)A16 lanes-along-K decode kernel", "[gpu][wsq][a16][gemv]",
                        GemvConfigs) {
  using C = TestType;
  const unsigned seed = std::random_device{}();
  const Case cases[] = {
      {1, 1, 64, MaskKind::random},                // one row, one bank
      {1, 33, 3 * 64, MaskKind::bank_end},         // odd N, 3 of 16 banks in the only chunk
      {1, 101, 5 * 1024 + 64, MaskKind::random},   // one chunk per slice, a 1-bank last chunk
      {4, 4100, 4096 + 128, MaskKind::bank_start}, // slices of 3 and 2 chunks, 2 X stages
      {3, 77, 2048 + 5 * 64, MaskKind::random},    // tile of 4 tokens, token 3 zero
      {2, 64, 4096, MaskKind::bank_end},           // tile of 2 tokens, 4 slices
      {1, 4096, 1024, MaskKind::random},           // 2 slices needed but only one chunk
      {2, 9, 64, MaskKind::bank_start},            // fewer rows than a warp's rows
  };
  for (const Case& c : cases)
    check_case<C, __nv_bfloat16>(c, seed);
}

// No K split (N >= 8192) and more than one X stage at M = 1 (stages of 8192 k): one weight tensor,
// M = 1, 2, 4.
TEST_CASE("W(SQ)A16 lanes-along-K decode kernel, large N and K", "[gpu][wsq][a16][gemv]") {
  using C = SqConfig<64, 8, 8, 4>;
  const unsigned seed = std::random_device{}();
  const int n = 8192, k = 8192 + 64;
  CAPTURE(seed, n, k);
  std::mt19937 rng(seed);
  const auto w = wsq_test::make_weights<C>(n, k, rng, MaskKind::random);
  wsq_test::DeviceWeights<C> dw(w);
  for (const int m : {1, 2, 4}) {
    CAPTURE(m);
    check_weights_case<C, __nv_bfloat16>({m, n, k, MaskKind::random}, w, dw, rng);
  }
}

// The hybrid kernel (b = 64, INT8/INT4, H % 8 == 0, H <= 32, M <= 8) on its own edges: one row
// and one bank (half a pair), odd bank counts (the last pair has one bank), N not a multiple of 16
// (rows past N), every token tile (1, 2, 4, 8) with M below it, a K split into slices (few rows),
// fewer pairs than warps, high elements at either end of every bank.
using HybridConfigs = std::tuple<SqConfig<64, 8, 8, 4>, SqConfig<64, 16, 8, 4>,
                                 SqConfig<64, 24, 8, 4>, SqConfig<64, 32, 8, 4>>;

TEMPLATE_LIST_TEST_CASE("W(SQ)A16 hybrid decode kernel", "[gpu][wsq][a16][hybrid]", HybridConfigs) {
  using C = TestType;
  const unsigned seed = std::random_device{}();
  const Case cases[] = {
      {1, 1, 64, MaskKind::random},          // one row, one bank
      {2, 9, 3 * 64, MaskKind::bank_end},    // 9 rows, 3 banks: 2 pairs, the last one bank
      {3, 33, 5 * 64, MaskKind::bank_start}, // 3 pairs for 8 warps; tile of 4, token 3 zero
      {5, 40, 4096 + 64, MaskKind::random},  // tile of 8, odd bank count
      {8, 16, 8192, MaskKind::random},       // one block of rows: K split into slices
      {6, 200, 2048, MaskKind::bank_end},    // several blocks and slices
      {1, 4100, 4096, MaskKind::random},     // N past 4096 rows, one slice
  };
  for (const Case& c : cases)
    check_case<C, __nv_bfloat16>(c, seed);
  check_case<C, __half>({4, 48, 1024 + 64, MaskKind::random}, seed + 1);
}

TEST_CASE("W(SQ)A16 decode with fp16 activations", "[gpu][wsq][a16]") {
  const unsigned seed = std::random_device{}();
  check_case<SqConfig<64, 8, 8, 4>, __half>({5, 64, 2048, MaskKind::random}, seed);
  check_case<SqConfig<64, 8, 8, 4>, __half>({64, 32, 1024, MaskKind::bank_end}, seed + 1);
  check_case<SqConfig<16, 4, 8, 4>, __half>({3, 32, 512, MaskKind::random}, seed + 2);
  check_case<SqConfig<64, 8, 8, 4>, __half>({1, 96, 4096, MaskKind::bank_start}, seed + 3);
  check_case<SqConfig<64, 32, 8, 4>, __half>({3, 40, 3072, MaskKind::random}, seed + 5);
  check_case<SqConfig<32, 8, 8, 4>, __half>({2, 64, 1024, MaskKind::random}, seed + 4);
}

TEST_CASE("W(SQ)A16 decode reports misuse", "[gpu][wsq][a16]") {
  using C = SqConfig<64, 8, 8, 4>;
  using Op = gpu::WsqA16Decode<C, __nv_bfloat16>;
  std::mt19937 rng(7);
  const auto w = wsq_test::make_weights<C>(32, 2048, rng, MaskKind::random);
  wsq_test::DeviceWeights<C> dw(w);
  DeviceBuffer<__nv_bfloat16> x(64 * 2048 + 8), y(64 * 32 + 8);
  const Op::Arguments good{dw.view, x.ptr, y.ptr, 4};
  CHECK(Op::can_implement(good) == Status::success);

  // Each violated rule gives its status and a reason naming it.
  const auto why = [](const Op::Arguments& b) {
    const char* reason = "";
    Op::can_implement(b, &reason);
    return std::string(reason);
  };
  Op::Arguments a = good;
  a.m = 0;
  CHECK(Op::can_implement(a) == Status::invalid_shape);
  CHECK(why(a).find("M must be") != std::string::npos);
  a.m = 65;
  CHECK(Op::can_implement(a) == Status::invalid_shape);
  CHECK(why(a).find("M must be") != std::string::npos);
  a = good;
  a.w.k = 2040;
  CHECK(Op::can_implement(a) == Status::k_not_multiple_of_bank);
  CHECK(why(a).find("multiple of the bank") != std::string::npos);
  a.w.k = 0;
  CHECK(Op::can_implement(a) == Status::invalid_shape);
  CHECK(why(a).find("K must be") != std::string::npos);
  a = good;
  a.w.n = 0;
  CHECK(Op::can_implement(a) == Status::invalid_shape);
  CHECK(why(a).find("N (weight rows)") != std::string::npos);
  a = good;
  a.x = x.ptr + 1;
  CHECK(Op::can_implement(a) == Status::misaligned_pointer);
  CHECK(why(a).find("x and y") != std::string::npos);
  a = good;
  a.w.high = dw.view.high + 4;
  CHECK(Op::can_implement(a) == Status::misaligned_pointer);
  CHECK(why(a).find("weight view") != std::string::npos);
  a = good;
  a.w.scale_low = nullptr;
  CHECK(Op::can_implement(a) == Status::invalid_argument);
  CHECK(why(a).find("weight view") != std::string::npos);
  a = good;
  a.y = nullptr;
  CHECK(Op::can_implement(a) == Status::invalid_argument);
  CHECK(why(a).find("x or y") != std::string::npos);
  {
    const char* reason = "untouched";
    CHECK(Op::can_implement(good, &reason) == Status::success);
    CHECK(std::string(reason) == "untouched"); // success leaves the reason alone
  }
  CHECK(Op::run(a, nullptr, 0, nullptr) == Status::invalid_argument);
  // The split-K kernels run() takes here need a workspace (one tile of rows, K = 32 banks); the
  // hybrid kernel (M = 2-8) does not split so short a K.
  for (const int m : {1, 16}) {
    a = good;
    a.m = m;
    CAPTURE(m, Op::uses_gemv(a), Op::uses_row_thread(a), Op::uses_tensor_cores(a));
    CHECK((Op::uses_gemv(a) || Op::uses_row_thread(a) || Op::uses_tensor_cores(a)));
    REQUIRE(Op::workspace_size(a) > 0);
    CHECK(Op::run(a, nullptr, 0, nullptr) == Status::insufficient_workspace);
    DeviceBuffer<unsigned char> ws(Op::workspace_size(a) + 16);
    CHECK(Op::run(a, ws.ptr + 4, Op::workspace_size(a), nullptr) == Status::misaligned_pointer);
    CHECK(Op::run(a, ws.ptr, Op::workspace_size(a) - 4, nullptr) == Status::insufficient_workspace);
  }
  // The row-thread kernel forced: only up to its M, with its own workspace.
  a = good;
  a.m = 2;
  CHECK(Op::uses_hybrid(a));
  REQUIRE(Op::row_thread_workspace_size(a) > 0);
  CHECK(Op::run_row_thread(a, nullptr, 0, nullptr) == Status::insufficient_workspace);
  a.m = 3;
  CHECK(Op::run_row_thread(a, nullptr, 0, nullptr) == Status::invalid_argument);
  // The lanes-along-K kernel forced: only up to its M, with its own workspace (2 K slices).
  a = good;
  a.m = 4;
  REQUIRE(Op::gemv_workspace_size(a) > 0);
  CHECK(Op::run_gemv(a, nullptr, 0, nullptr) == Status::insufficient_workspace);
  a.m = 5;
  CHECK(Op::run_gemv(a, nullptr, 0, nullptr) == Status::invalid_argument);
  // The hybrid kernel forced: only up to its M and for its configurations. K = 16 bank pairs
  // is too short to split, so it needs no workspace here.
  a = good;
  a.m = 8;
  CHECK(Op::hybrid_workspace_size(a) == 0);
  CHECK(Op::run_hybrid(a, nullptr, 0, nullptr) == Status::success);
  a.m = 9;
  CHECK(Op::run_hybrid(a, nullptr, 0, nullptr) == Status::invalid_argument);
  a = good;
  a.x = x.ptr + 1;
  CHECK(Op::run_hybrid(a, nullptr, 0, nullptr) == Status::misaligned_pointer);
  {
    // A configuration the hybrid kernel does not take (b = 32), with valid arguments.
    using C32 = SqConfig<32, 8, 8, 4>;
    using Op32h = gpu::WsqA16Decode<C32, __nv_bfloat16>;
    const auto w32 = wsq_test::make_weights<C32>(32, 2048, rng, MaskKind::random);
    wsq_test::DeviceWeights<C32> dw32(w32);
    const Op32h::Arguments a32{dw32.view, x.ptr, y.ptr, 4};
    REQUIRE(Op32h::can_implement(a32) == Status::success);
    CHECK(!Op32h::uses_hybrid(a32));
    CHECK(Op32h::run_hybrid(a32, nullptr, 0, nullptr) == Status::invalid_argument);
  }
  // The dispatch's M range: up to 8 tokens, and M * H <= 128.
  CHECK(Op::hybrid_dispatch_max_m == 8);
  CHECK(gpu::WsqA16Decode<SqConfig<64, 24, 8, 4>, __nv_bfloat16>::hybrid_dispatch_max_m == 5);
  CHECK(gpu::WsqA16Decode<SqConfig<64, 32, 8, 4>, __nv_bfloat16>::hybrid_dispatch_max_m == 4);
  // Configurations the lanes-along-K kernel rejects go elsewhere at M = 1.
  using Op32 = gpu::WsqA16Decode<SqConfig<32, 8, 8, 4>, __nv_bfloat16>;
  using Op128 = gpu::WsqA16Decode<SqConfig<128, 8, 8, 4>, __nv_bfloat16>;
  using OpInt2 = gpu::WsqA16Decode<SqConfig<64, 16, 8, 2>, __nv_bfloat16>;
  CHECK(Op32::uses_row_thread({{}, nullptr, nullptr, 1}));
  CHECK(!Op32::uses_gemv({{}, nullptr, nullptr, 1}));
  CHECK(!Op128::uses_gemv({{}, nullptr, nullptr, 1}));
  CHECK(!OpInt2::uses_gemv({{}, nullptr, nullptr, 1}));
  // N above 2^28 (int row arithmetic) is rejected.
  a = good;
  a.w.n = (1 << 28) + 16;
  CHECK(Op::can_implement(a) == Status::invalid_shape);
  // A forced kernel's workspace size where it cannot run is 0 and never divides by zero: the
  // tensor-core kernel at N < 16; the row-thread, lanes-along-K and hybrid kernels at b = 256,
  // which only the tensor-core kernel takes (its K split at N = 64 needs a workspace).
  a = good;
  a.w.n = 8;
  a.m = 16;
  CHECK(Op::tensor_core_workspace_size(a) == 0);
  CHECK(Op::run_tensor_cores(a, nullptr, 0, nullptr) == Status::invalid_argument);
  {
    using Op256 = gpu::WsqA16Decode<SqConfig<256, 8, 8, 4>, __nv_bfloat16>;
    Op256::Arguments a256{};
    a256.w.n = 64;
    a256.w.k = 4096;
    for (const int m : {1, 2, 16}) {
      a256.m = m;
      CHECK(Op256::row_thread_workspace_size(a256) == 0);
      CHECK(Op256::gemv_workspace_size(a256) == 0);
      CHECK(Op256::hybrid_workspace_size(a256) == 0);
      CHECK(Op256::tensor_core_workspace_size(a256) > 0);
    }
  }
}

namespace {
/// Weights with malformed banks (the kernels do not check them): the first and the last bank of
/// the first and of the last row get H - 1 sentinels (the first one turned into code 0) and
/// H + 1 (the first non-sentinel turned into one); past the last row's last bank lies only the
/// end of the buffers.
template <class C> ref::SqTensor<C> malformed_weights(int n, int k, std::mt19937& rng) {
  auto w = wsq_test::make_weights<C>(n, k, rng, MaskKind::random);
  const int banks = k / C::bank;
  const auto edit = [&](int r, int bank, bool fewer) {
    for (int i = 0; i < C::bank; ++i) {
      const std::size_t e = std::size_t(bank) * C::bank + i;
      if (w.is_high(r, e) == fewer) {
        ref::put_code(w.low.data() + r * w.low_row_bytes, e, fewer ? 0 : C::low_sentinel,
                      C::low_bits);
        return;
      }
    }
  };
  for (const int r : {0, n - 1}) {
    edit(r, 0, true);
    edit(r, banks - 1, false);
    if (banks > 2) {
      edit(r, 1, false);
      edit(r, banks - 2, true);
    }
  }
  // The edits took: those banks now hold H - 1 or H + 1 sentinels.
  for (const int r : {0, n - 1})
    for (const int bank : {0, 1, banks - 2, banks - 1}) {
      int count = 0;
      for (int i = 0; i < C::bank; ++i)
        count += w.is_high(r, std::size_t(bank) * C::bank + i) ? 1 : 0;
      REQUIRE(count ==
              (bank == 0 || bank == banks - 2 ? C::high_per_bank - 1 : C::high_per_bank + 1));
    }
  return w;
}
} // namespace

// Malformed weights give unspecified outputs, but every kernel must stay inside its buffers: run
// under compute-sanitizer's memcheck (scripts/gpu_check.sh runs this tag under memcheck).
TEMPLATE_TEST_CASE("W(SQ) kernels stay inside their buffers on malformed weights",
                   "[gpu][wsq][malformed]", (SqConfig<64, 8, 8, 4>), (SqConfig<32, 8, 8, 4>),
                   (SqConfig<64, 32, 8, 4>)) {
  using C = TestType;
  using T = __nv_bfloat16;
  using Op = gpu::WsqA16Decode<C, T>;
  const unsigned seed = std::random_device{}();
  CAPTURE(seed, C::bank, C::high_per_bank);
  std::mt19937 rng(seed);
  // N % 16 != 0: the generic kernel at M = 16; == 0: tensor cores. N = 41: the last block of the
  // W(SQ)A8 dp4a kernel holds rows past N.
  for (const int n : {41, 48}) {
    const int k = 4 * 1024 + 2 * C::bank;
    CAPTURE(n, k);
    const auto w = malformed_weights<C>(n, k, rng);
    wsq_test::DeviceWeights<C> dw(w);
    std::vector<T> xh;
    std::vector<float> xf;
    wsq_test::make_activations(16, k, rng, xh, xf);
    DeviceBuffer<T> x(xh), y(std::size_t(16) * n);
    using Policy = gpu::WsqDecodePolicy<>;
    for (const int m : {1, 2, 4, 16}) { // run() and every forced kernel that takes C and M
      CAPTURE(m);
      (void)run_path<C, T, Policy>(Path::dispatch, dw.view, x, m);
      if (gpu::wsq_detail::row_thread_decode_supports<C> && m <= Op::row_thread_max_m)
        (void)run_path<C, T, Policy>(Path::row_thread, dw.view, x, m);
      if (gpu::wsq_detail::gemv_decode_supports<C> && m <= Op::gemv_max_m)
        (void)run_path<C, T, Policy>(Path::gemv, dw.view, x, m);
      if (gpu::wsq_detail::hybrid_decode_supports<C> && m <= Op::hybrid_max_m)
        (void)run_path<C, T, Policy>(Path::hybrid, dw.view, x, m);
      if (gpu::wsq_detail::mma_decode_supports<C> && n % 16 == 0)
        (void)run_path<C, T, Policy>(Path::tensor_cores, dw.view, x, m);
    }
    // W(SQ)A8: the dp4a kernel (4 warps a block at one token, 8 at 16) and, where a 16-warp
    // block would not fit its shared memory (b = 64), the generic walk; then the dequantizer.
    std::vector<std::int8_t> x8(std::size_t(16) * k);
    for (auto& v : x8)
      v = static_cast<std::int8_t>(int(rng() % 255) - 127);
    DeviceBuffer<std::int8_t> dx8(x8);
    DeviceBuffer<float> xs(std::vector<float>(16, 0.01f));
    using Op8 = gpu::WsqA8Decode<C, T>;
    static_assert(Op8::uses_dp4a);
    for (const int m : {1, 16}) {
      const typename Op8::Arguments a8{dw.view, dx8.ptr, xs.ptr, y.ptr, m};
      CHECK(Op8::run(a8, nullptr, 0, nullptr) == Status::success);
    }
    using Op8g = gpu::WsqA8Decode<C, T, gpu::WsqDecodePolicy<4, 2, 4, 8, 0, 0, 16>>;
    if constexpr (!Op8g::uses_dp4a) {
      const typename Op8g::Arguments a8{dw.view, dx8.ptr, xs.ptr, y.ptr, 16};
      CHECK(Op8g::run(a8, nullptr, 0, nullptr) == Status::success);
    }
    DeviceBuffer<T> dense(std::size_t(n) * k);
    CHECK(gpu::wsq_dequantize<C, T>(dw.view, dense.ptr, nullptr) == Status::success);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  }
}

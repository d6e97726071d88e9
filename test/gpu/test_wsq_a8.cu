// W(SQ)A8 against ref::sq_weight_times_uniform: the int32 sums are exact and the float32 epilogue
// follows the reference's order, so a float32 output must equal the reference bit for bit and a
// bf16 output must equal the reference rounded once.
#include "sq_catch.hpp"
#include "test_wsq_util.cuh"

#include <sqformat/config.hpp>
#include <sqformat/gpu/wsq/wsq_a8_decode.hpp>
#include <sqformat/reference/uniform.hpp>

#include <cstring>
#include <string>
#include <tuple>

using namespace sqformat;
using wsq_test::DeviceBuffer;
using wsq_test::MaskKind;

// The foundation's configurations, SQ6 (H = 32, eight words of compact codes a bank) and one with
// H = 6 (compact codes read byte by byte in the dp4a kernel).
using WsqConfigs = std::tuple<SqConfig<4, 2, 8, 4>, SqConfig<16, 4, 8, 4>, SqConfig<32, 8, 8, 4>,
                              SqConfig<64, 8, 8, 4>, SqConfig<128, 8, 8, 4>, SqConfig<64, 16, 8, 2>,
                              SqConfig<64, 32, 8, 3>, SqConfig<16, 8, 4, 2>, SqConfig<64, 32, 8, 4>,
                              SqConfig<32, 6, 8, 4>>;

static_assert(gpu::WsqA8Decode<SqConfig<64, 8, 8, 4>, float>::uses_dp4a &&
                  gpu::WsqA8Decode<SqConfig<32, 8, 8, 4>, float>::uses_dp4a &&
                  gpu::WsqA8Decode<SqConfig<128, 8, 8, 4>, float>::uses_dp4a &&
                  gpu::WsqA8Decode<SqConfig<64, 32, 8, 4>, float>::uses_dp4a &&
                  gpu::WsqA8Decode<SqConfig<32, 6, 8, 4>, float>::uses_dp4a &&
                  !gpu::WsqA8Decode<SqConfig<16, 4, 8, 4>, float>::uses_dp4a &&
                  !gpu::WsqA8Decode<SqConfig<64, 32, 8, 3>, float>::uses_dp4a,
              "the list below runs both A8 kernels");

namespace {

/// A policy with W(SQ)A8 blocks of `Warps` warps whatever M is.
template <int Warps> using A8Policy = gpu::WsqDecodePolicy<4, 2, 4, 8, 0, 0, Warps>;

// The default policy takes 4 warps a block up to 8 tokens and 8 above where they fit (b <= 64);
// an explicit count holds for every M, and the generic walk takes the smaller count.
static_assert(gpu::WsqA8Decode<SqConfig<64, 8, 8, 4>, float>::warps_per_block(8) == 4 &&
              gpu::WsqA8Decode<SqConfig<64, 8, 8, 4>, float>::warps_per_block(9) == 8 &&
              gpu::WsqA8Decode<SqConfig<128, 8, 8, 4>, float>::warps_per_block(64) == 4 &&
              gpu::WsqA8Decode<SqConfig<16, 4, 8, 4>, float>::warps_per_block(64) == 4 &&
              gpu::WsqA8Decode<SqConfig<64, 8, 8, 4>, float, A8Policy<2>>::warps_per_block(64) ==
                  2 &&
              !gpu::WsqA8Decode<SqConfig<128, 8, 8, 4>, float, A8Policy<8>>::uses_dp4a &&
              !gpu::WsqA8Decode<SqConfig<64, 8, 8, 4>, float, A8Policy<16>>::uses_dp4a);

template <class C, class OutT, class Policy>
std::vector<OutT> run_a8(const gpu::WsqWeightsView<C>& w, const DeviceBuffer<std::int8_t>& x,
                         const DeviceBuffer<float>& xs, int m) {
  using Op = gpu::WsqA8Decode<C, OutT, Policy>;
  DeviceBuffer<OutT> y(std::size_t(m) * w.n);
  typename Op::Arguments args{w, x.ptr, xs.ptr, y.ptr, m};
  REQUIRE(Op::can_implement(args) == Status::success);
  REQUIRE(Op::run(args, nullptr, 0, nullptr) == Status::success);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  return y.to_host();
}

} // namespace

TEMPLATE_LIST_TEST_CASE("W(SQ)A8 equals the reference bit for bit", "[gpu][wsq][a8]", WsqConfigs) {
  using C = TestType;
  const unsigned seed = std::random_device{}();
  struct Case {
    int m, n, k;
    MaskKind mask;
  };
  // M = 64: one tile of the dp4a kernel (SQ configurations with INT4 low codes and b = 32 to
  // 128), eight of the generic one; M = 70: two dp4a tiles, the second with 6 tokens; at
  // N >= 4096 the generic kernel's blocks take 64 tokens in 8 tiles (the second block 6 tokens).
  const Case cases[] = {
      {1, 40, C::bank, MaskKind::random},         {9, 64, 2048, MaskKind::bank_end},
      {64, 33, 1024, MaskKind::random},           {70, 24, 512, MaskKind::random},
      {70, 4100, 2 * C::bank, MaskKind::random}, // generic: 64-token blocks
      {5, 40, 40 * C::bank, MaskKind::bank_end}, // 2 rounds of banks, the second of 8
      {2, 40, 33 * C::bank, MaskKind::random},   // 2 tokens, a partial second round
      {3, 16, 64 * C::bank, MaskKind::bank_start}};
  for (const Case& c : cases) {
    CAPTURE(seed, c.m, c.n, c.k, int(c.mask));
    std::mt19937 rng(seed);
    const auto w = wsq_test::make_weights<C>(c.n, c.k, rng, c.mask);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> xf(std::size_t(c.m) * c.k);
    for (std::size_t i = 0; i < xf.size(); ++i)
      xf[i] = normal(rng) * (i % 53 == 0 ? 20.f : 1.f);
    if (c.mask == MaskKind::bank_start) { // extreme codes: every activation at +-127
      for (std::size_t i = 0; i < xf.size(); ++i)
        xf[i] = (i % 3 == 0) ? -1.0f : 1.0f;
    }
    const ref::UniformTensor xq = ref::quantize_uniform(xf.data(), c.m, c.k, 8, c.k);
    const auto want = ref::sq_weight_times_uniform(w, xq);

    wsq_test::DeviceWeights<C> dw(w);
    DeviceBuffer<std::int8_t> dx(xq.codes);
    DeviceBuffer<float> dxs(xq.scales);
    // The default policy: 4 warps a block up to 8 tokens, 8 above (b = 128: 4).
    const auto y = run_a8<C, float, gpu::WsqDecodePolicy<>>(dw.view, dx, dxs, c.m);
    REQUIRE(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)) == 0);
    const auto y1 = run_a8<C, float, A8Policy<4>>(dw.view, dx, dxs, c.m);
    REQUIRE(std::memcmp(y1.data(), want.data(), y1.size() * sizeof(float)) == 0);
    const auto y2 = run_a8<C, float, A8Policy<8>>(dw.view, dx, dxs, c.m);
    REQUIRE(std::memcmp(y2.data(), want.data(), y2.size() * sizeof(float)) == 0);
    // 2 warps a block: fewer threads stage each round's activations (and b = 128 stays on the
    // dp4a kernel, which 8 warps a block leave for the generic walk).
    const auto y3 = run_a8<C, float, A8Policy<2>>(dw.view, dx, dxs, c.m);
    REQUIRE(std::memcmp(y3.data(), want.data(), y3.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("W(SQ)A8 with bf16 output is the reference rounded once", "[gpu][wsq][a8]") {
  using C = SqConfig<64, 8, 8, 4>;
  const unsigned seed = std::random_device{}();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const int m = 5, n = 48, k = 1024;
  const auto w = wsq_test::make_weights<C>(n, k, rng, MaskKind::random);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> xf(std::size_t(m) * k);
  for (float& v : xf)
    v = normal(rng);
  const ref::UniformTensor xq = ref::quantize_uniform(xf.data(), m, k, 8, k);
  const auto want = ref::sq_weight_times_uniform(w, xq);
  wsq_test::DeviceWeights<C> dw(w);
  DeviceBuffer<std::int8_t> dx(xq.codes);
  DeviceBuffer<float> dxs(xq.scales);
  const auto y = run_a8<C, __nv_bfloat16, gpu::WsqDecodePolicy<>>(dw.view, dx, dxs, m);
  for (int i = 0; i < m * n; ++i) {
    CAPTURE(i);
    REQUIRE(__bfloat16_as_ushort(y[i]) == __bfloat16_as_ushort(__float2bfloat16_rn(want[i])));
  }
  using Op = gpu::WsqA8Decode<C, __nv_bfloat16>;
  const char* why = "";
  Op::Arguments a{dw.view, dx.ptr, dxs.ptr, nullptr, m};
  CHECK(Op::can_implement(a, &why) == Status::invalid_argument);
  CHECK(std::string(why).find("x_scale or y is null") != std::string::npos);
  a.y = reinterpret_cast<__nv_bfloat16*>(dxs.ptr);
  a.x_scale = dxs.ptr + 1;
  CHECK(Op::can_implement(a, &why) == Status::misaligned_pointer);
  CHECK(std::string(why).find("16-byte aligned") != std::string::npos);
  a.x_scale = dxs.ptr;
  a.m = 0;
  CHECK(Op::can_implement(a, &why) == Status::invalid_shape);
  CHECK(std::string(why).find("M must be") != std::string::npos);
  a.m = m;
  a.w.k -= 8;
  CHECK(Op::can_implement(a, &why) == Status::k_not_multiple_of_bank);
  CHECK(std::string(why).find("multiple of the bank") != std::string::npos);
}

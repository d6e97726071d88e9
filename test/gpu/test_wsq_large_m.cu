// W(SQ)A16 for large M: dequantize to bf16 + cuBLAS, against the host reference.
//
// Tolerance: each weight is rounded once to bf16 (relative 2^-9), the GEMM accumulates in float32
// and the output is rounded to bf16: |y - ref| <= 2^-8 * (mag + |ref|) with mag = sum_k |x w|.
#include "sq_catch.hpp"
#include "test_wsq_util.cuh"

#include <sqformat/config.hpp>
#include <sqformat/gpu/wsq/wsq_a16_large_m.hpp>

#include <cstring>
#include <string>
#include <utility>

using namespace sqformat;
using wsq_test::DeviceBuffer;

TEMPLATE_TEST_CASE("W(SQ)A16 large M matches the reference", "[gpu][wsq][large_m]",
                   (SqConfig<64, 8, 8, 4>), (SqConfig<16, 8, 4, 2>), (SqConfig<64, 32, 8, 3>)) {
  using C = TestType;
  using T = __nv_bfloat16;
  using Op = gpu::WsqA16LargeM<C, T>;
  const unsigned seed = std::random_device{}();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const int m = 100, n = 96, k = 1024;
  const auto w = wsq_test::make_weights<C>(n, k, rng, wsq_test::MaskKind::random);
  std::vector<T> x;
  std::vector<float> xf;
  wsq_test::make_activations(m, k, rng, x, xf);
  const auto ref = ref::sq_weight_times_float(w, xf.data(), m);
  const auto mag = wsq_test::magnitudes(w, xf, m);

  wsq_test::DeviceWeights<C> dw(w);
  DeviceBuffer<T> dx(x), dy(std::size_t(m) * n);
  cublasHandle_t handle = nullptr;
  REQUIRE(cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS);
  typename Op::Arguments args{dw.view, dx.ptr, dy.ptr, m, handle};
  REQUIRE(Op::can_implement(args) == Status::success);
  DeviceBuffer<unsigned char> ws(Op::workspace_size(args));
  CHECK(Op::run(args, ws.ptr, ws.count - 1, nullptr) == Status::insufficient_workspace);
  REQUIRE(Op::run(args, ws.ptr, ws.count, nullptr) == Status::success);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  cublasDestroy(handle);
  const std::vector<T> y = dy.to_host();
  for (int i = 0; i < m * n; ++i) {
    const double got = wsq_test::to_float(y[i]), want = ref[i];
    const double tol = std::ldexp(1.0, -8) * (mag[i] + std::fabs(want)) + 1e-30;
    if (std::fabs(got - want) > tol) {
      CAPTURE(i, got, want, tol);
      FAIL("large-M result outside the bound");
    }
  }
}

// The dequantizer alone, bit for bit: every element is ref::dequantize's float32 value rounded
// once to bf16 and to fp16 (round to nearest even on the host). b = 32, 64 and 128 with 4- or
// 2-bit low codes take the staged vector form (a warp's 32 banks through shared memory), b = 16
// and 3-bit low codes the scalar one. N = 37 rows of K = 1024: the vector form's last warp holds
// 16 of its 32 banks at b = 64 and 8 at b = 128; and of K = 33 b (33 banks a row, 1221 banks): a
// warp's banks cross rows, and the last warp holds 5 of its 32 at every b.
TEMPLATE_TEST_CASE("W(SQ) dequantization equals the reference rounded once", "[gpu][wsq][dequant]",
                   (SqConfig<64, 8, 8, 4>), (SqConfig<64, 32, 8, 4>), (SqConfig<32, 8, 8, 4>),
                   (SqConfig<128, 8, 8, 2>), (SqConfig<16, 8, 4, 2>), (SqConfig<64, 32, 8, 3>)) {
  using C = TestType;
  const unsigned seed = std::random_device{}();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const int n = 37;
  for (const auto& [k, kind] : {std::pair{1024, wsq_test::MaskKind::random},
                                std::pair{1024, wsq_test::MaskKind::bank_start},
                                std::pair{1024, wsq_test::MaskKind::bank_end},
                                std::pair{33 * C::bank, wsq_test::MaskKind::random},
                                std::pair{33 * C::bank, wsq_test::MaskKind::bank_end}}) {
    CAPTURE(k);
    const auto w = wsq_test::make_weights<C>(n, k, rng, kind);
    std::vector<float> want(std::size_t(n) * k);
    ref::dequantize(w, want.data());
    wsq_test::DeviceWeights<C> dw(w);
    DeviceBuffer<__nv_bfloat16> db(std::size_t(n) * k);
    DeviceBuffer<__half> dh(std::size_t(n) * k);
    REQUIRE(gpu::wsq_dequantize<C, __nv_bfloat16>(dw.view, db.ptr, nullptr) == Status::success);
    REQUIRE(gpu::wsq_dequantize<C, __half>(dw.view, dh.ptr, nullptr) == Status::success);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    const auto gb = db.to_host();
    const auto gh = dh.to_host();
    int bad = 0;
    for (std::size_t i = 0; i < want.size() && bad < 10; ++i) {
      const float b = __bfloat162float(__float2bfloat16_rn(want[i]));
      const float h = __half2float(__float2half_rn(want[i]));
      if (wsq_test::to_float(gb[i]) != b || wsq_test::to_float(gh[i]) != h) {
        CAPTURE(i, want[i], wsq_test::to_float(gb[i]), b, wsq_test::to_float(gh[i]), h);
        CHECK(false);
        ++bad;
      }
    }
    CHECK(bad == 0);
    // The kernels' grid-stride loops: the same kernel launched with 1 and 3 blocks (wsq_dequantize
    // caps the grid at 65535 blocks, which only tensors of more than 2^24 banks reach) must write
    // the same bytes.
    for (const unsigned blocks : {1u, 3u}) {
      CAPTURE(blocks);
      DeviceBuffer<__nv_bfloat16> ds(std::size_t(n) * k);
      const auto kernel = gpu::wsq_detail::dequantize_kernel<C, __nv_bfloat16>();
      constexpr int threads = gpu::wsq_detail::dequantize_threads<C>;
      kernel<<<blocks, threads>>>(dw.view, ds.ptr);
      REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
      const auto gs = ds.to_host();
      CHECK(std::memcmp(gs.data(), gb.data(), gb.size() * sizeof(__nv_bfloat16)) == 0);
    }
  }
}

// Misuse of the large-M path and of the dequantizer: each violated rule gives its status and a
// reason naming it, before any work is queued.
TEST_CASE("W(SQ) large M and dequantization report misuse", "[gpu][wsq][large_m]") {
  using C = SqConfig<64, 8, 8, 4>;
  using T = __nv_bfloat16;
  using Op = gpu::WsqA16LargeM<C, T>;
  std::mt19937 rng(11);
  const int m = 3, n = 16, k = 512;
  const auto w = wsq_test::make_weights<C>(n, k, rng, wsq_test::MaskKind::random);
  wsq_test::DeviceWeights<C> dw(w);
  DeviceBuffer<T> dx(std::size_t(m) * k + 8), dy(std::size_t(m) * n + 8);
  cublasHandle_t handle = nullptr;
  REQUIRE(cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS);
  const typename Op::Arguments good{dw.view, dx.ptr, dy.ptr, m, handle};
  const char* why = "";
  CHECK(Op::can_implement(good, &why) == Status::success);
  auto a = good;
  a.m = 0;
  CHECK(Op::can_implement(a, &why) == Status::invalid_shape);
  CHECK(std::string(why).find("M must be") != std::string::npos);
  a = good;
  a.handle = nullptr;
  CHECK(Op::can_implement(a, &why) == Status::invalid_argument);
  CHECK(std::string(why).find("cuBLAS handle") != std::string::npos);
  CHECK(Op::run(a, nullptr, 0, nullptr) == Status::invalid_argument);
  a = good;
  a.y = dy.ptr + 1;
  CHECK(Op::can_implement(a, &why) == Status::misaligned_pointer);
  CHECK(std::string(why).find("x and y") != std::string::npos);
  a = good;
  a.w.k = 500;
  CHECK(Op::can_implement(a, &why) == Status::k_not_multiple_of_bank);
  CHECK(std::string(why).find("multiple of the bank") != std::string::npos);
  CHECK(Op::run(good, nullptr, 0, nullptr) == Status::insufficient_workspace);
  cublasDestroy(handle);

  DeviceBuffer<T> dense(std::size_t(n) * k + 8);
  CHECK(gpu::wsq_dequantize_can_implement<C, T>(dw.view, dense.ptr, &why) == Status::success);
  CHECK(gpu::wsq_dequantize_can_implement<C, T>(dw.view, nullptr, &why) ==
        Status::invalid_argument);
  CHECK(std::string(why).find("out is null") != std::string::npos);
  CHECK(gpu::wsq_dequantize<C, T>(dw.view, dense.ptr + 1, nullptr) == Status::misaligned_pointer);
  CHECK(gpu::wsq_dequantize_can_implement<C, T>(dw.view, dense.ptr + 1, &why) ==
        Status::misaligned_pointer);
  CHECK(std::string(why).find("16-byte aligned") != std::string::npos);
  auto v = dw.view;
  v.n = -1;
  CHECK(gpu::wsq_dequantize<C, T>(v, dense.ptr, nullptr) == Status::invalid_shape);
  CHECK(gpu::wsq_dequantize_can_implement<C, T>(v, dense.ptr, &why) == Status::invalid_shape);
  CHECK(std::string(why).find("N (weight rows)") != std::string::npos);
}

// GPU PTQ path against the host path: Hessian accumulation, inverse-Hessian factor, GPTQ-SQ.
#include "sq_catch.hpp"

#include <sqformat/config.hpp>
#include <sqformat/gpu/ptq/gptq_sq.cuh>
#include <sqformat/gpu/ptq/hessian_accumulate.cuh>
#include <sqformat/ptq/calibration_stats.hpp>
#include <sqformat/ptq/layer_error.hpp>
#include <sqformat/ptq/sq_weights.hpp>
#include <sqformat/reference/sq_tensor.hpp>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

namespace gp = sqformat::gpu::ptq;
namespace hp = sqformat::ptq;
namespace ref = sqformat::ref;
using sqformat::SqConfig;
using sqformat::Status;

namespace {
std::uint64_t fresh_seed() {
  std::random_device rd;
  return (std::uint64_t(rd()) << 32) ^ rd();
}

/// Correlated activations, well conditioned (noise comparable to the common part).
std::vector<float> activations(std::size_t m, std::size_t k, std::mt19937_64& rng) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  const std::size_t f = 8;
  std::vector<float> mix(f * k), scale(k), x(m * k), z(f);
  for (float& v : mix)
    v = g(rng);
  for (float& v : scale)
    v = std::exp(0.5f * g(rng));
  for (std::size_t t = 0; t < m; ++t) {
    for (float& v : z)
      v = g(rng);
    for (std::size_t j = 0; j < k; ++j) {
      float v = g(rng);
      for (std::size_t r = 0; r < f; ++r)
        v += 0.5f * z[r] * mix[r * k + j];
      x[t * k + j] = scale[j] * v;
    }
  }
  return x;
}

template <class T> struct Dev {
  T* p = nullptr;
  explicit Dev(std::size_t n) { REQUIRE(cudaMalloc(&p, n * sizeof(T) + 16) == cudaSuccess); }
  Dev(const std::vector<T>& h) : Dev(h.size()) {
    REQUIRE(cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
  }
  ~Dev() { cudaFree(p); }
  std::vector<T> get(std::size_t n) const {
    std::vector<T> h(n);
    REQUIRE(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
    return h;
  }
};

struct Handles {
  cublasHandle_t blas{};
  cusolverDnHandle_t solver{};
  Handles() {
    REQUIRE(cublasCreate(&blas) == CUBLAS_STATUS_SUCCESS);
    REQUIRE(cusolverDnCreate(&solver) == CUSOLVER_STATUS_SUCCESS);
  }
  ~Handles() {
    cublasDestroy(blas);
    cusolverDnDestroy(solver);
  }
};

struct GpuSqResult {
  Status status;
  std::vector<float> values;
  std::vector<std::int8_t> codes;
  std::vector<std::uint8_t> mask;
  std::vector<float> scale_low, scale_high;
  gp::InverseFactorReport report;
};

template <class C>
GpuSqResult gpu_sq(Handles& h, const std::vector<float>& w, std::size_t n, std::size_t k,
                   const std::vector<double>& hess, const gp::SqGptqOptions& opt) {
  Dev<float> dw(w);
  Dev<double> dh(hess);
  Dev<std::int8_t> codes(n * k);
  Dev<std::uint8_t> mask(n * k);
  Dev<float> sl(n * k / C::bank), sh(n * k / C::bank);
  std::size_t bytes = 0;
  REQUIRE(gp::sq_gptq_workspace_bytes(h.solver, n, k, &bytes) == Status::success);
  Dev<char> ws(bytes);
  GpuSqResult r;
  r.status = gp::quantize_weights_sq_gptq<C>(h.blas, h.solver, dw.p, n, k, dh.p, opt,
                                             {codes.p, mask.p, sl.p, sh.p}, ws.p, bytes, &r.report,
                                             nullptr);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  r.values = dw.get(n * k);
  r.codes = codes.get(n * k);
  r.mask = mask.get(n * k);
  r.scale_low = sl.get(n * k / C::bank);
  r.scale_high = sh.get(n * k / C::bank);
  return r;
}
} // namespace

TEST_CASE("GPU Hessian accumulation matches the float64 host statistics", "[gpu][ptq]") {
  const std::uint64_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const std::size_t k = 384, m = 3000;
  const std::vector<float> x = activations(m, k, rng);
  hp::CalibrationStats stats(k);
  stats.add(x.data(), m);
  const std::vector<double> h_host = stats.hessian();

  Handles hd;
  Dev<float> dx(x), scratch(k * k);
  Dev<int> flag(1);
  Dev<double> gram(k * k), h(k * k);
  REQUIRE(cudaMemset(gram.p, 0, k * k * sizeof(double)) == cudaSuccess);
  std::size_t t = 0;
  for (std::size_t batch : {1000u, 1999u, 1u}) {
    REQUIRE(gp::accumulate_gram(hd.blas, dx.p + t * k, batch, k, scratch.p, flag.p, gram.p,
                                nullptr) == Status::success);
    t += batch;
  }
  REQUIRE(gp::finalize_hessian(gram.p, k, m, h.p, nullptr) == Status::success);
  const std::vector<double> h_gpu = h.get(k * k);
  double worst = 0.0;
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = 0; j < k; ++j) {
      const double scale = std::sqrt(h_host[i * k + i] * h_host[j * k + j]);
      worst = std::max(worst, std::fabs(h_gpu[i * k + j] - h_host[i * k + j]) / scale);
    }
  CAPTURE(worst);
  CHECK(worst < 1e-5);

  std::vector<float> bad = x;
  bad[77 * k + 5] = std::numeric_limits<float>::quiet_NaN();
  Dev<float> dbad(bad);
  CHECK(gp::accumulate_gram(hd.blas, dbad.p, m, k, scratch.p, flag.p, gram.p, nullptr) ==
        Status::non_finite_input);
  CHECK(gram.get(k * k) != std::vector<double>(k * k, 0.0)); // earlier sums untouched
}

using GpuConfigs = std::tuple<SqConfig<64, 8>, SqConfig<16, 4, 4, 2>, SqConfig<128, 32, 8, 3>>;

TEMPLATE_LIST_TEST_CASE("GPU GPTQ-SQ agrees with the host path", "[gpu][ptq]", GpuConfigs) {
  using C = TestType;
  const std::uint64_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const std::size_t m = 2048, n = 192, k = 512;
  const std::vector<float> x = activations(m, k, rng);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> w(n * k);
  for (float& v : w)
    v = g(rng);
  hp::CalibrationStats stats(k);
  stats.add(x.data(), m);
  const std::vector<double> hess = stats.hessian();

  Handles hd;
  for (bool chol : {false, true}) {
    CAPTURE(chol);
    gp::SqGptqOptions opt;
    opt.cholesky_saliency = chol;
    const GpuSqResult gr = gpu_sq<C>(hd, w, n, k, hess, opt);
    REQUIRE(gr.status == Status::success);
    CHECK(gr.report.attempts == 1);

    const hp::InverseHessianFactor f = hp::factor_inverse_hessian(hess.data(), k);
    const hp::SqWeights<C> hr = hp::quantize_weights_sq_gptq<C>(
        w.data(), n, k, f, chol ? hp::Saliency::cholesky_diagonal : hp::Saliency::inverse_diagonal);

    // The GPU's codes and scales pack into a valid tensor that dequantizes to its values.
    const ref::SqTensor<C> t = hp::assemble_sq_tensor<C>(n, k, gr.codes.data(), gr.mask.data(),
                                                         gr.scale_low.data(), gr.scale_high.data());
    std::vector<float> deq(n * k);
    ref::dequantize(t, deq.data());
    CHECK(std::memcmp(deq.data(), gr.values.data(), deq.size() * sizeof(float)) == 0);

    // Codes and masks agree except where float rounding (cuBLAS vs host summation order in the
    // block updates, cuSOLVER vs host factor) flips a near-tie. Values after the first block
    // also carry scales rounded from slightly different weights, so only the first block's
    // values are compared bit for bit.
    std::size_t same_mask = 0, same_code = 0, same_first_block = 0;
    for (std::size_t i = 0; i < n * k; ++i) {
      same_mask += gr.mask[i] == hr.high_mask[i];
      if (i % k < 128)
        same_first_block += gr.values[i] == hr.values[i];
    }
    std::vector<std::int8_t> host_low(k), host_high(k), gpu_low(k), gpu_high(k);
    for (std::size_t r = 0; r < n; ++r) {
      ref::unpack_sq_row(hr.tensor, r, host_low.data(), host_high.data());
      ref::unpack_sq_row(t, r, gpu_low.data(), gpu_high.data());
      for (std::size_t c = 0; c < k; ++c)
        same_code += host_low[c] == gpu_low[c] && host_high[c] == gpu_high[c];
    }
    const double mask_agree = double(same_mask) / double(n * k);
    const double code_agree = double(same_code) / double(n * k);
    const double first_block_agree = double(same_first_block) / double(n * 128);
    const double e_gpu = hp::hessian_weighted_error(hess, w.data(), gr.values.data(), n, k);
    const double e_host = hp::hessian_weighted_error(hess, w.data(), hr.values.data(), n, k);
    CAPTURE(mask_agree, code_agree, first_block_agree, e_gpu, e_host);
    CHECK(mask_agree > 0.999);
    CHECK(code_agree > 0.995);
    CHECK(first_block_agree > 0.99);
    CHECK(e_gpu == Catch::Approx(e_host).epsilon(0.01));
  }
}

TEST_CASE("GPU GPTQ-SQ dampens a singular Hessian automatically and checks arguments",
          "[gpu][ptq]") {
  using C = SqConfig<16, 4>;
  std::mt19937_64 rng(5);
  const std::size_t m = 8, n = 32, k = 128;
  const std::vector<float> x = activations(m, k, rng);
  std::vector<float> w(n * k);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (float& v : w)
    v = g(rng);
  hp::CalibrationStats stats(k);
  stats.add(x.data(), m);
  Handles hd;
  gp::SqGptqOptions opt;
  opt.damping.percent = 0.0;
  const GpuSqResult gr = gpu_sq<C>(hd, w, n, k, stats.hessian(), opt);
  REQUIRE(gr.status == Status::success);
  CHECK(gr.report.attempts >= 2);
  for (float v : gr.values)
    CHECK(std::isfinite(v));

  opt.damping.max_attempts = 1; // 0% only: the factorization must fail cleanly
  CHECK(gpu_sq<C>(hd, w, n, k, stats.hessian(), opt).status == Status::numerical_failure);

  Dev<float> dw(w);
  Dev<std::int8_t> codes(n * k);
  Dev<std::uint8_t> mask(n * k);
  Dev<float> s(n * k);
  Dev<char> ws(gp::gptq_loop_workspace_bytes(n));
  Dev<float> u(k * k);
  Dev<double> d(k);
  using Big = SqConfig<256, 32>;
  CHECK(gp::gptq_sq_loop<Big>(hd.blas, dw.p, n, k * 2, u.p, d.p, {codes.p, mask.p, s.p, s.p}, ws.p,
                              gp::gptq_loop_workspace_bytes(n),
                              nullptr) == Status::invalid_argument);
  CHECK(gp::gptq_sq_loop<C>(hd.blas, dw.p, n, k + 8, u.p, d.p, {codes.p, mask.p, s.p, s.p}, ws.p,
                            gp::gptq_loop_workspace_bytes(n),
                            nullptr) == Status::k_not_multiple_of_bank);
  CHECK(gp::gptq_sq_loop<C>(hd.blas, dw.p, n, k, u.p, d.p, {codes.p, mask.p, s.p, s.p}, ws.p, 16,
                            nullptr) == Status::insufficient_workspace);
}

// SQ weights by Algorithm 1: importance masks, GPTQ compensation vs round-to-nearest, exact
// packing of what GPTQ decided, determinism and misuse.
#include "ptq_test_data.hpp"
#include "sq_catch.hpp"

#include <sqformat/config.hpp>
#include <sqformat/ptq/calibration_stats.hpp>
#include <sqformat/ptq/layer_error.hpp>
#include <sqformat/ptq/sq_weights.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>

using namespace sqformat::ptq;
using sqformat::SqConfig;
namespace ref = sqformat::ref;

namespace {
struct Layer {
  std::size_t m, n, k;
  std::vector<float> x, w;
  std::vector<double> h;
};

Layer correlated_layer(std::size_t m, std::size_t n, std::size_t k, std::mt19937_64& rng) {
  Layer l{m, n, k, ptq_test::correlated_activations(m, k, rng), ptq_test::gaussian(n * k, rng), {}};
  CalibrationStats s(k);
  s.add(l.x.data(), m);
  l.h = s.hessian();
  return l;
}
} // namespace

using Configs = std::tuple<SqConfig<64, 8>, SqConfig<16, 8>, SqConfig<32, 8, 8, 2>,
                           SqConfig<16, 4, 4, 2>, SqConfig<128, 16, 8, 3>>;

TEMPLATE_LIST_TEST_CASE("GPTQ-SQ packs exactly what it decided, deterministically",
                        "[ptq][sq_weights]", Configs) {
  using C = TestType;
  const std::uint64_t seed = ptq_test::fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const Layer l = correlated_layer(512, 24, 256, rng);
  const InverseHessianFactor f = factor_inverse_hessian(l.h.data(), l.k);
  for (Saliency sal : {Saliency::inverse_diagonal, Saliency::cholesky_diagonal}) {
    const SqWeights<C> a = quantize_weights_sq_gptq<C>(l.w.data(), l.n, l.k, f, sal);
    ref::validate(a.tensor);
    CHECK(ref::high_mask_of(a.tensor) == a.high_mask);
    std::vector<float> deq(l.n * l.k);
    ref::dequantize(a.tensor, deq.data());
    CHECK(std::memcmp(deq.data(), a.values.data(), deq.size() * sizeof(float)) == 0);
    const SqWeights<C> b = quantize_weights_sq_gptq<C>(l.w.data(), l.n, l.k, f, sal);
    CHECK(a.tensor.low == b.tensor.low);
    CHECK(a.tensor.high == b.tensor.high);
    CHECK(a.tensor.scale_low == b.tensor.scale_low);
    CHECK(a.tensor.scale_high == b.tensor.scale_high);
  }
}

TEMPLATE_LIST_TEST_CASE("planted outlier weights end up high", "[ptq][sq_weights]", Configs) {
  using C = TestType;
  const std::uint64_t seed = ptq_test::fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  Layer l = correlated_layer(512, 16, 256, rng);
  std::uniform_int_distribution<std::size_t> pos(0, C::bank - 1);
  std::vector<std::size_t> planted;
  for (std::size_t r = 0; r < l.n; ++r) {
    for (std::size_t bank = 0; bank < l.k / C::bank; ++bank) {
      const std::size_t c = bank * C::bank + pos(rng);
      l.w[r * l.k + c] = (r % 2 ? 40.0f : -40.0f) * float(1 + bank % 3);
      planted.push_back(r * l.k + c);
    }
  }
  const InverseHessianFactor f = factor_inverse_hessian(l.h.data(), l.k);
  const SqWeights<C> g = quantize_weights_sq_gptq<C>(l.w.data(), l.n, l.k, f);
  const SqWeights<C> r = quantize_weights_sq_rtn<C>(l.w.data(), l.n, l.k, f);
  for (std::size_t i : planted) {
    CAPTURE(i);
    CHECK(g.high_mask[i] == 1);
    CHECK(r.high_mask[i] == 1);
  }
}

TEMPLATE_LIST_TEST_CASE("GPTQ-SQ has a clearly lower layer-output error than RTN-SQ",
                        "[ptq][sq_weights]", Configs) {
  using C = TestType;
  const std::uint64_t seed = ptq_test::fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  // 2048 tokens of one distribution: the first half calibrates, the second half is held out.
  const std::size_t m = 1024, n = 32, k = 256;
  const std::vector<float> x = ptq_test::correlated_activations(2 * m, k, rng);
  const std::vector<float> w = ptq_test::gaussian(n * k, rng);
  CalibrationStats s(k);
  s.add(x.data(), m);
  const std::vector<double> h = s.hessian();
  const InverseHessianFactor f = factor_inverse_hessian(h.data(), k);
  const SqWeights<C> g = quantize_weights_sq_gptq<C>(w.data(), n, k, f);
  const SqWeights<C> r = quantize_weights_sq_rtn<C>(w.data(), n, k, f);
  const float* held_out = x.data() + m * k;
  const double e_gptq = output_error(x.data(), m, k, w.data(), g.values.data(), n);
  const double e_rtn = output_error(x.data(), m, k, w.data(), r.values.data(), n);
  const double e_gptq_held = output_error(held_out, m, k, w.data(), g.values.data(), n);
  const double e_rtn_held = output_error(held_out, m, k, w.data(), r.values.data(), n);
  // The same measure from the statistics: ||X dW^T||^2 = (M/2) sum dW H dW^T.
  const double e_h = hessian_weighted_error(h, w.data(), g.values.data(), n, k);
  CHECK(std::sqrt(e_h * m / 2) == Catch::Approx(e_gptq).epsilon(1e-6));
  const double ratio = e_gptq / e_rtn;
  const double ratio_held = e_gptq_held / e_rtn_held;
  CAPTURE(e_gptq, e_rtn, ratio, ratio_held);
  // Measured over 5 configurations x 10 seeds: calibration ratio 0.14-0.28, held-out 0.14-0.28.
  // The bounds leave room for other seeds and still demand a clear gain.
  CHECK(ratio < 0.5);
  CHECK(ratio_held < 0.6);
}

TEST_CASE("SQ weight quantization rejects bad shapes and non-finite weights", "[ptq][sq_weights]") {
  using C = SqConfig<16, 4>;
  std::mt19937_64 rng(3);
  const Layer l = correlated_layer(64, 4, 32, rng);
  const InverseHessianFactor f = factor_inverse_hessian(l.h.data(), l.k);
  // K not a multiple of the bank
  const Layer odd = correlated_layer(64, 4, 40, rng);
  const InverseHessianFactor fo = factor_inverse_hessian(odd.h.data(), odd.k);
  try {
    (void)quantize_weights_sq_gptq<C>(odd.w.data(), odd.n, odd.k, fo);
    FAIL("K % b != 0 accepted");
  } catch (const sqformat::Error& e) {
    CHECK(e.code() == sqformat::ErrorCode::k_not_multiple_of_bank);
  }
  // Hessian of another K
  try {
    (void)quantize_weights_sq_gptq<C>(l.w.data(), l.n / 2, l.k * 2, f);
    FAIL("mismatched Hessian accepted");
  } catch (const sqformat::Error& e) {
    CHECK(e.code() == sqformat::ErrorCode::shape_mismatch);
  }
  CHECK_THROWS_AS(quantize_weights_sq_gptq<C>(l.w.data(), l.n, l.k, std::vector<double>(5)),
                  sqformat::Error);
  std::vector<float> bad = l.w;
  bad[17] = std::numeric_limits<float>::infinity();
  try {
    (void)quantize_weights_sq_gptq<C>(bad.data(), l.n, l.k, f);
    FAIL("Inf accepted");
  } catch (const sqformat::Error& e) {
    CHECK(e.code() == sqformat::ErrorCode::non_finite_input);
  }
  CHECK_THROWS_AS(quantize_weights_sq_rtn<C>(bad.data(), l.n, l.k, f), sqformat::Error);
}

TEST_CASE("GPTQ-SQ on a singular Hessian uses automatic dampening", "[ptq][sq_weights]") {
  using C = SqConfig<16, 4>;
  std::mt19937_64 rng(11);
  // 8 tokens for 64 channels: X^T X has rank 8; with 0% dampening the first factorization fails.
  const Layer l = correlated_layer(8, 8, 64, rng);
  SqWeightOptions opt;
  opt.damping.percent = 0.0;
  const SqWeights<C> g = quantize_weights_sq_gptq<C>(l.w.data(), l.n, l.k, l.h, opt);
  CHECK(g.damping_attempts >= 2);
  CHECK(g.damping_percent > 0.0);
  ref::validate(g.tensor);
  for (float v : g.values)
    CHECK(std::isfinite(v));
}

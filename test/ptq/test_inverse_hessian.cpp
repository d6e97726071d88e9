// Cholesky, SPD inverse and the dampened inverse-Hessian factor (with automatic dampening).
#include "ptq_test_data.hpp"
#include "sq_catch.hpp"

#include <sqformat/ptq/calibration_stats.hpp>
#include <sqformat/ptq/inverse_hessian.hpp>

#include <cmath>

using namespace sqformat::ptq;
using sqformat::Error;
using sqformat::ErrorCode;

namespace {
std::vector<double> hessian_of(std::size_t m, std::size_t k, std::mt19937_64& rng) {
  const std::vector<float> x = ptq_test::correlated_activations(m, k, rng);
  CalibrationStats s(k);
  s.add(x.data(), m);
  return s.hessian();
}
} // namespace

TEST_CASE("the factor satisfies U^T U = (H + lambda I)^{-1}", "[ptq][linalg]") {
  const std::uint64_t seed = ptq_test::fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const std::size_t k = 96;
  const std::vector<double> h = hessian_of(400, k, rng);
  const InverseHessianFactor f = factor_inverse_hessian(h.data(), k);
  REQUIRE(f.attempts == 1);
  double mean_diag = 0.0;
  for (std::size_t i = 0; i < k; ++i)
    mean_diag += h[i * k + i] / k;
  CHECK(f.damping == Catch::Approx(0.01 * mean_diag));
  // (H + lambda I) * (U^T U) = I
  std::vector<double> inv(k * k, 0.0);
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = 0; j < k; ++j) {
      double s = 0.0;
      for (std::size_t p = 0; p < k; ++p)
        s += f.upper[p * k + i] * f.upper[p * k + j];
      inv[i * k + j] = s;
      if (j < i)
        CHECK(f.upper[i * k + j] == 0.0); // upper triangular
    }
  double worst = 0.0;
  for (std::size_t i = 0; i < k; ++i) {
    CHECK(f.inverse_diagonal[i] == Catch::Approx(inv[i * k + i]).epsilon(1e-9));
    for (std::size_t j = 0; j < k; ++j) {
      double s = 0.0;
      for (std::size_t p = 0; p < k; ++p)
        s += (h[i * k + p] + (i == p ? f.damping : 0.0)) * inv[p * k + j];
      worst = std::max(worst, std::fabs(s - (i == j ? 1.0 : 0.0)));
    }
  }
  CHECK(worst < 1e-8);
}

TEST_CASE("a singular Hessian gets more dampening automatically", "[ptq][linalg]") {
  // Two identical channels and a duplicated block: rank deficient, and 0% dampening fails.
  const std::size_t k = 4;
  const std::vector<double> h = {2, 2, 0, 0, //
                                 2, 2, 0, 0, //
                                 0, 0, 1, 0, //
                                 0, 0, 0, 1};
  DampingOptions opt;
  opt.percent = 0.0;
  const InverseHessianFactor f = factor_inverse_hessian(h.data(), k, opt);
  CHECK(f.attempts == 2);
  CHECK(f.damping_percent == 1e-4);
  CHECK(f.damping == Catch::Approx(1e-4 * 1.5));

  // Fewer tokens than channels: X^T X is singular; the default dampening copes.
  std::mt19937_64 rng(7);
  const std::vector<double> h2 = hessian_of(20, 64, rng);
  const InverseHessianFactor f2 = factor_inverse_hessian(h2.data(), 64);
  CHECK(f2.upper.size() == 64u * 64u);
  for (std::size_t i = 0; i < 64; ++i)
    CHECK(std::isfinite(f2.upper[i * 64 + i]));
}

TEST_CASE("a Hessian dampening cannot repair is a numerical failure", "[ptq][linalg]") {
  const std::vector<double> indefinite = {1, 2, 2, 1}; // eigenvalues 3 and -1
  DampingOptions opt;
  opt.max_attempts = 2; // 1% and 10% of the mean diagonal: still indefinite
  try {
    (void)factor_inverse_hessian(indefinite.data(), 2, opt);
    FAIL("indefinite matrix factored");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::numerical_failure);
  }
  opt.max_attempts = 4; // 100% + 1000%: lambda = 1 fails (singular), lambda = 10 works
  CHECK(factor_inverse_hessian(indefinite.data(), 2, opt).attempts == 4);
  const std::vector<double> nan_h = {1, 0, 0, std::nan("")};
  CHECK_THROWS_AS(factor_inverse_hessian(nan_h.data(), 2), Error);
}

TEST_CASE("dead channels get a unit diagonal", "[ptq][linalg]") {
  const std::vector<double> h = {4, 0, 1, //
                                 0, 0, 0, //
                                 1, 0, 3};
  const InverseHessianFactor f = factor_inverse_hessian(h.data(), 3);
  CHECK(f.dead_channels == 1);
  CHECK(f.upper[0 * 3 + 1] == 0.0);
  CHECK(f.upper[1 * 3 + 2] == 0.0);
}

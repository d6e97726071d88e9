// SmoothQuant factors: X W^T unchanged up to rounding, zero cases defined, Hessian transform.
#include "ptq_test_data.hpp"
#include "sq_catch.hpp"

#include <sqformat/ptq/calibration_stats.hpp>
#include <sqformat/ptq/smoothing.hpp>

#include <cmath>

using namespace sqformat::ptq;

namespace {
std::vector<double> matmul_nt(const std::vector<float>& x, const std::vector<float>& w,
                              std::size_t m, std::size_t n, std::size_t k) {
  std::vector<double> y(m * n, 0.0);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t r = 0; r < n; ++r)
      for (std::size_t j = 0; j < k; ++j)
        y[i * n + r] += double(x[i * k + j]) * double(w[r * k + j]);
  return y;
}
} // namespace

TEST_CASE("smoothing leaves X W^T unchanged up to rounding", "[ptq][smoothing]") {
  const std::uint64_t seed = ptq_test::fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const std::size_t m = 40, n = 24, k = 64;
  std::vector<float> x = ptq_test::correlated_activations(m, k, rng);
  x[3 * k + 7] = 80.0f; // an activation outlier channel
  std::vector<float> w = ptq_test::gaussian(n * k, rng, 0.05f);
  CalibrationStats s(k);
  s.add(x.data(), m);
  for (double alpha : {0.0, 0.5, 0.85, 1.0}) {
    CAPTURE(alpha);
    const std::vector<float> t = smoothing_factors(s.max_abs().data(), w.data(), n, k, alpha);
    for (std::size_t j = 0; j < k; ++j) {
      double wmax = 0.0;
      for (std::size_t r = 0; r < n; ++r)
        wmax = std::max(wmax, std::fabs(double(w[r * k + j])));
      const double expect = std::pow(double(s.max_abs()[j]), alpha) / std::pow(wmax, 1.0 - alpha);
      CHECK(t[j] == Catch::Approx(expect).epsilon(1e-6));
    }
    std::vector<float> xs = x, ws = w;
    smooth_activations(xs.data(), m, k, t);
    smooth_weights(ws.data(), n, k, t);
    const auto y0 = matmul_nt(x, w, m, n, k);
    const auto y1 = matmul_nt(xs, ws, m, n, k);
    double num = 0, den = 0;
    for (std::size_t i = 0; i < y0.size(); ++i) {
      num += (y0[i] - y1[i]) * (y0[i] - y1[i]);
      den += y0[i] * y0[i];
    }
    CHECK(std::sqrt(num / den) < 1e-6);
    if (alpha == 0.5) {
      // The outlier channel's activation range shrinks toward the weights'.
      CHECK(t[7] > 10.0f);
      // Hessian of the smoothed inputs from the unsmoothed one.
      std::vector<double> h = s.hessian();
      smooth_hessian(h, t);
      CalibrationStats s2(k);
      s2.add(xs.data(), m);
      const auto h2 = s2.hessian();
      // float32 rounding of X/t perturbs each entry by ~1e-7 of the diagonal scale.
      for (std::size_t i = 0; i < k; ++i) {
        for (std::size_t j = 0; j < k; ++j) {
          const double tol = 1e-5 * std::sqrt(h2[i * k + i] * h2[j * k + j]);
          CHECK(std::fabs(h[i * k + j] - h2[i * k + j]) <= tol);
        }
      }
    }
  }
}

TEST_CASE("smoothing zero cases and misuse", "[ptq][smoothing]") {
  const std::size_t n = 2, k = 4;
  const std::vector<float> xmax = {0.0f, 2.0f, 3.0f, 4.0f};
  const std::vector<float> w = {1.0f,  0.0f, 0.5f,  2.0f, //
                                -3.0f, 0.0f, 0.25f, 1.0f};
  const auto t = smoothing_factors(xmax.data(), w.data(), n, k, 0.5);
  CHECK(t[0] == 1.0f); // dead activation channel
  CHECK(t[1] == 1.0f); // all-zero weight column
  CHECK(t[2] == Catch::Approx(std::sqrt(3.0) / std::sqrt(0.5)));
  CHECK(t[3] == Catch::Approx(std::sqrt(4.0) / std::sqrt(2.0)));
  CHECK_THROWS_AS(smoothing_factors(xmax.data(), w.data(), n, k, 1.5), sqformat::Error);
  CHECK_THROWS_AS(smoothing_factors(xmax.data(), w.data(), n, k, -0.1), sqformat::Error);
  std::vector<float> bad = w;
  bad[5] = std::nanf("");
  CHECK_THROWS_AS(smoothing_factors(xmax.data(), bad.data(), n, k, 0.5), sqformat::Error);
  std::vector<float> ww = w;
  CHECK_THROWS_AS(smooth_weights(ww.data(), n, k, std::vector<float>(3, 1.0f)), sqformat::Error);
}

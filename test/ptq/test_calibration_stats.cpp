// CalibrationStats: H = 2 X^T X / n, mean|X_j|, max|X_j| streamed over batches.
#include "ptq_test_data.hpp"
#include "sq_catch.hpp"

#include <sqformat/ptq/calibration_stats.hpp>

#include <cmath>
#include <limits>

using sqformat::Error;
using sqformat::ErrorCode;
using sqformat::ptq::CalibrationStats;

TEST_CASE("calibration statistics match a direct float64 computation", "[ptq][calibration]") {
  const std::uint64_t seed = ptq_test::fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const std::size_t k = 48, n = 301;
  const std::vector<float> x = ptq_test::gaussian(n * k, rng, 3.0f);
  CalibrationStats s(k);
  s.add(x.data(), n);
  REQUIRE(s.tokens() == n);
  const std::vector<double> h = s.hessian();
  const std::vector<double> mean = s.mean_abs();
  for (std::size_t i = 0; i < k; ++i) {
    double sum_abs = 0.0;
    float mx = 0.0f;
    for (std::size_t t = 0; t < n; ++t) {
      sum_abs += std::fabs(double(x[t * k + i]));
      mx = std::max(mx, std::fabs(x[t * k + i]));
    }
    CHECK(mean[i] == Catch::Approx(sum_abs / n).epsilon(1e-12));
    CHECK(s.max_abs()[i] == mx);
    for (std::size_t j = 0; j < k; ++j) {
      double g = 0.0;
      for (std::size_t t = 0; t < n; ++t) {
        g += double(x[t * k + i]) * double(x[t * k + j]);
      }
      CHECK(h[i * k + j] == Catch::Approx(2.0 * g / n).epsilon(1e-12).margin(1e-12));
      CHECK(h[i * k + j] == h[j * k + i]);
    }
  }
}

#if !defined(SQFORMAT_PTQ_USE_CBLAS)
// The plain path adds token by token; the CBLAS path sums a block first (checked below).
TEST_CASE("streaming in uneven batches gives bit-identical statistics", "[ptq][calibration]") {
  const std::uint64_t seed = ptq_test::fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const std::size_t k = 32, n = 200;
  const std::vector<float> x = ptq_test::gaussian(n * k, rng);
  CalibrationStats one(k), many(k);
  one.add(x.data(), n);
  std::size_t t = 0;
  for (std::size_t batch : {1u, 7u, 33u, 64u, 95u}) {
    many.add(x.data() + t * k, batch, k);
    t += batch;
  }
  REQUIRE(t == n);
  CHECK(one.hessian() == many.hessian());
  CHECK(one.mean_abs() == many.mean_abs());
  CHECK(one.max_abs() == many.max_abs());
}
#else
TEST_CASE("streaming in uneven batches gives the same statistics up to float64 rounding",
          "[ptq][calibration]") {
  const std::uint64_t seed = ptq_test::fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const std::size_t k = 32, n = 700;
  const std::vector<float> x = ptq_test::gaussian(n * k, rng);
  CalibrationStats one(k), many(k);
  one.add(x.data(), n);
  std::size_t t = 0;
  for (std::size_t batch : {1u, 7u, 33u, 64u, 300u, 295u}) {
    many.add(x.data() + t * k, batch, k);
    t += batch;
  }
  REQUIRE(t == n);
  const auto a = one.hessian(), b = many.hessian();
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i] == Catch::Approx(b[i]).epsilon(1e-12).margin(1e-12));
  }
  CHECK(one.mean_abs() == many.mean_abs());
  CHECK(one.max_abs() == many.max_abs());
}
#endif

TEST_CASE("calibration rejects non-finite input and bad shapes without changing state",
          "[ptq][calibration]") {
  const std::size_t k = 8;
  CalibrationStats s(k);
  std::vector<float> x(3 * k, 1.0f);
  s.add(x.data(), 3);
  const auto h_before = s.hessian();
  x[2 * k + 5] = std::numeric_limits<float>::quiet_NaN();
  try {
    s.add(x.data(), 3);
    FAIL("NaN accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::non_finite_input);
  }
  x[2 * k + 5] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(s.add(x.data(), 3), Error);
  CHECK(s.tokens() == 3);
  CHECK(s.hessian() == h_before);
  try {
    s.add(x.data(), 3, k + 1);
    FAIL("wrong K accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::shape_mismatch);
  }
  CHECK_THROWS_AS(s.add(nullptr, 2), Error);
  CHECK_THROWS_AS(CalibrationStats(0), Error);
  CalibrationStats empty(4);
  CHECK_THROWS_AS(empty.hessian(), Error);
  CHECK_THROWS_AS(empty.mean_abs(), Error);
}

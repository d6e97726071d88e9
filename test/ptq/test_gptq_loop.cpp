// The GPTQ loop (Cholesky / lazy-batch form) against the textbook OBQ update that re-inverts
// the Hessian after each column, with a pluggable quantizer (a fixed grid here).
#include "ptq_test_data.hpp"
#include "sq_catch.hpp"

#include <sqformat/ptq/calibration_stats.hpp>
#include <sqformat/ptq/gptq_loop.hpp>
#include <sqformat/ptq/inverse_hessian.hpp>
#include <sqformat/ptq/layer_error.hpp>

#include <cmath>

using namespace sqformat::ptq;

namespace {
struct GridQuantizer { // round to a multiple of `step`, one group per row
  float step;
  std::size_t k;
  std::size_t groups_started = 0;
  std::size_t group() const { return k; }
  void begin_group(std::size_t, std::size_t, const float*, std::size_t) { ++groups_started; }
  float quantize(std::size_t, std::size_t, float w) { return std::nearbyint(w / step) * step; }
};

/// OBQ in its original form: H^{-1} of the remaining columns updated after every column.
std::vector<float> textbook_gptq(std::vector<float> w, std::size_t n, std::size_t k,
                                 std::vector<double> hinv, float step) {
  std::vector<double> hi = hinv;
  for (std::size_t c = 0; c < k; ++c) {
    for (std::size_t r = 0; r < n; ++r) {
      const float x = w[r * k + c];
      const float q = std::nearbyint(x / step) * step;
      const double e = (double(x) - q) / hi[c * k + c];
      for (std::size_t j = c + 1; j < k; ++j)
        w[r * k + j] -= float(e * hi[c * k + j]);
      w[r * k + c] = q;
    }
    const double d = hi[c * k + c];
    std::vector<double> row(hi.begin() + c * k, hi.begin() + (c + 1) * k);
    for (std::size_t i = 0; i < k; ++i)
      for (std::size_t j = 0; j < k; ++j)
        hi[i * k + j] -= row[i] * row[j] / d;
  }
  return w;
}
} // namespace

TEST_CASE("lazy-batch Cholesky GPTQ equals the textbook OBQ update", "[ptq][gptq]") {
  const std::uint64_t seed = ptq_test::fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const std::size_t m = 512, n = 16, k = 64;
  const std::vector<float> x = ptq_test::correlated_activations(m, k, rng);
  CalibrationStats s(k);
  s.add(x.data(), m);
  const std::vector<double> h = s.hessian();
  const InverseHessianFactor f = factor_inverse_hessian(h.data(), k);
  const std::vector<float> w = ptq_test::gaussian(n * k, rng);
  const float step = 0.25f;

  // Full inverse of the dampened H, for the textbook form.
  std::vector<double> hinv(k * k, 0.0);
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = 0; j < k; ++j)
      for (std::size_t p = 0; p < k; ++p)
        hinv[i * k + j] += f.upper[p * k + i] * f.upper[p * k + j];
  const std::vector<float> expect = textbook_gptq(w, n, k, hinv, step);

  const std::vector<float> u = to_float(f.upper);
  for (std::size_t block : {1u, 16u, 128u}) {
    CAPTURE(block);
    std::vector<float> got = w;
    GridQuantizer q{step, k};
    gptq_quantize(got.data(), n, k, u.data(), block, q);
    CHECK(q.groups_started == n);
    std::size_t same = 0;
    for (std::size_t i = 0; i < n * k; ++i)
      same += got[i] == expect[i];
    // Float rounding may flip a rare near-tie; everything else must agree.
    CHECK(same >= n * k * 99 / 100);
    const double e_got = hessian_weighted_error(h, w.data(), got.data(), n, k);
    const double e_expect = hessian_weighted_error(h, w.data(), expect.data(), n, k);
    CHECK(e_got == Catch::Approx(e_expect).epsilon(0.02));
  }
  // And it beats plain rounding on correlated inputs.
  std::vector<float> rtn = w;
  for (float& v : rtn)
    v = std::nearbyint(v / step) * step;
  CHECK(hessian_weighted_error(h, w.data(), expect.data(), n, k) <
        0.9 * hessian_weighted_error(h, w.data(), rtn.data(), n, k));
}

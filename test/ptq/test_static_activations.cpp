// Static activation masks (Algorithm 2), the permutation, and the calibrate-then-quantize
// interface in static and dynamic mode.
#include "ptq_test_data.hpp"
#include "sq_catch.hpp"

#include <sqformat/config.hpp>
#include <sqformat/ptq/activation_quantizer.hpp>
#include <sqformat/ptq/calibration_stats.hpp>
#include <sqformat/ptq/static_activation_mask.hpp>
#include <sqformat/reference/static_split.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

using namespace sqformat::ptq;
using sqformat::SqConfig;
namespace ref = sqformat::ref;

TEST_CASE("planted outlier channels are high and the permutation is a bijection",
          "[ptq][static_mask]") {
  using C = SqConfig<32, 4>;
  const std::uint64_t seed = ptq_test::fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const std::size_t m = 256, n = 48, k = 256;
  std::vector<float> x = ptq_test::gaussian(m * k, rng);
  std::vector<float> w = ptq_test::gaussian(n * k, rng, 0.1f);
  // Per bank: 3 channels with large activations and weights of one sign (large |I_j|).
  std::uniform_int_distribution<std::size_t> pos(0, C::bank - 1);
  std::vector<std::size_t> planted;
  for (std::size_t bank = 0; bank < k / C::bank; ++bank) {
    while (planted.size() < 3 * (bank + 1)) {
      const std::size_t c = bank * C::bank + pos(rng);
      if (std::find(planted.begin(), planted.end(), c) == planted.end())
        planted.push_back(c);
    }
  }
  for (std::size_t c : planted) {
    for (std::size_t t = 0; t < m; ++t)
      x[t * k + c] *= 30.0f;
    for (std::size_t r = 0; r < n; ++r)
      w[r * k + c] = std::fabs(w[r * k + c]) + 0.05f;
  }
  CalibrationStats s(k);
  s.add(x.data(), m);
  const StaticActivationPlan<C> p = plan_static_activations<C>(s, w.data(), n, k);
  for (std::size_t c : planted) {
    CAPTURE(c);
    CHECK(p.channel_mask[c] == 1);
  }
  // Bijection, inverse, bank structure, and the reordered weights.
  ref::check_static_permutation<C>(p.perm, k);
  const std::vector<std::uint32_t> inv = ref::inverse_permutation(p.perm);
  for (std::size_t i = 0; i < k; ++i) {
    CHECK(inv[p.perm[i]] == i);
    CHECK(p.perm[inv[i]] == i);
  }
  CHECK(ref::channel_mask_of<C>(p.perm) == p.channel_mask);
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t kp = 0; kp < k; ++kp)
      CHECK(p.weights_permuted[r * k + kp] == w[r * k + p.perm[kp]]);
  // X W^T is unchanged when both operands are permuted.
  const std::vector<float> xp = ref::permute_columns(x.data(), m, k, p.perm);
  // The permuted Hessian is the Hessian of the permuted inputs (same float64 sums, reordered).
  CalibrationStats sp(k);
  sp.add(xp.data(), m);
  const std::vector<double> hp = permute_hessian(s.hessian(), p.perm);
  const std::vector<double> hp_direct = sp.hessian();
  for (std::size_t i = 0; i < k * k; ++i)
    CHECK(hp[i] == Catch::Approx(hp_direct[i]).epsilon(1e-12).margin(1e-12));
  CHECK_THROWS_AS(permute_hessian(s.hessian(), std::vector<std::uint32_t>(k, 0)), sqformat::Error);
  for (std::size_t t = 0; t < 4; ++t)
    for (std::size_t r = 0; r < n; ++r) {
      double y0 = 0, y1 = 0;
      for (std::size_t j = 0; j < k; ++j) {
        y0 += double(x[t * k + j]) * w[r * k + j];
        y1 += double(xp[t * k + j]) * p.weights_permuted[r * k + j];
      }
      CHECK(y1 == Catch::Approx(y0).epsilon(1e-12).margin(1e-12));
    }
}

TEST_CASE("the paper's ranking differs from the mean|X| ablation where weights cancel",
          "[ptq][static_mask]") {
  using C = SqConfig<4, 1>;
  const std::size_t m = 8, n = 2, k = 4;
  // Channel 0: large activations, weights that cancel (sum 0). Channel 1: smaller activations,
  // weights of one sign.
  std::vector<float> x(m * k, 0.1f);
  for (std::size_t t = 0; t < m; ++t) {
    x[t * k + 0] = 10.0f;
    x[t * k + 1] = 2.0f;
  }
  const std::vector<float> w = {1.0f,  1.0f, 0.5f, 0.5f, //
                                -1.0f, 1.0f, 0.5f, 0.5f};
  CalibrationStats s(k);
  s.add(x.data(), m);
  const auto paper = plan_static_activations<C>(s, w.data(), n, k, ChannelRanking::paper);
  const auto ablation = plan_static_activations<C>(s, w.data(), n, k, ChannelRanking::mean_abs);
  CHECK(paper.channel_mask == std::vector<std::uint8_t>{0, 1, 0, 0});
  CHECK(ablation.channel_mask == std::vector<std::uint8_t>{1, 0, 0, 0});
  const auto score = channel_importance(s.mean_abs(), w.data(), n, k, ChannelRanking::paper);
  CHECK(score[0] == 0.0f);
  CHECK(score[1] == Catch::Approx(4.0));
}

TEST_CASE("calibrate-then-quantize switches between static and dynamic selection",
          "[ptq][activation_quantizer]") {
  using C = SqConfig<16, 4>;
  const std::uint64_t seed = ptq_test::fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const std::size_t m = 64, n = 16, k = 128;
  const std::vector<float> x = ptq_test::correlated_activations(m, k, rng);
  const std::vector<float> w = ptq_test::gaussian(n * k, rng);
  CalibrationStats s(k);
  s.add(x.data(), m);

  ActivationQuantizer<C> st(ActivationSelection::static_mask);
  CHECK_THROWS_AS(st.quantize_static(x.data(), m, k), sqformat::Error); // not calibrated
  st.calibrate(s, w.data(), n, k);
  const StaticActivationPlan<C> p = plan_static_activations<C>(s, w.data(), n, k);
  CHECK(st.weight_column_order() == p.perm);
  CHECK(st.channel_mask() == p.channel_mask);
  const ref::StaticSplit<C> split = st.quantize_static(x.data(), m, k);
  const ref::StaticSplit<C> expect =
      ref::split_static<C>(x.data(), m, k, p.perm, ref::ActScale::per_token);
  CHECK(split.x_high == expect.x_high);
  CHECK(split.x_low == expect.x_low);
  std::vector<float> fq(m * k), fe(m * k);
  st.fake_quantize(x.data(), m, k, fq.data());
  ref::dequantize(expect, fe.data());
  CHECK(fq == fe);
  CHECK_THROWS_AS(st.quantize_static(x.data(), m / 2, k / 2), sqformat::Error);

  ActivationQuantizer<C> dy(ActivationSelection::dynamic);
  dy.calibrate(s, w.data(), n, k);
  for (std::size_t i = 0; i < k; ++i)
    CHECK(dy.weight_column_order()[i] == i);
  CHECK_THROWS_AS(dy.quantize_static(x.data(), m, k), sqformat::Error);
  dy.fake_quantize(x.data(), m, k, fq.data());
  ref::dequantize(ref::quantize_dynamic<C>(x.data(), m, k), fe.data());
  CHECK(fq == fe);

  std::vector<float> bad = x;
  bad[5] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(st.fake_quantize(bad.data(), m, k, fq.data()), sqformat::Error);
  CHECK_THROWS_AS(dy.fake_quantize(bad.data(), m, k, fq.data()), sqformat::Error);
  CalibrationStats other(k * 2);
  other.add(std::vector<float>(k * 2, 1.0f).data(), 1);
  CHECK_THROWS_AS(st.calibrate(other, w.data(), n, k), sqformat::Error);
}

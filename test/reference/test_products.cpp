// Reference products: exact per-path integer sums (checked against an independent walk of the
// codes) and float32 results within the derived bound of the float64 oracle.
#include "ref_test_util.hpp"
#include "sq_catch.hpp"

#include <sqformat/reference/products.hpp>
#include <sqformat/reference/selection.hpp>

using namespace sqformat;
using namespace sqformat::ref;

namespace {

// |y - oracle| <= the epilogue's bound + the oracle's own float64 rounding (gamma64(K+1) times
// the sum of |terms|).
void check_against_oracle(const ProductResult& r, const std::vector<double>& xd,
                          const std::vector<double>& wd, std::size_t M, std::size_t N,
                          std::size_t K) {
  const auto oracle = oracle_matmul(xd.data(), wd.data(), M, N, K);
  std::vector<double> xa(xd.size()), wa(wd.size());
  for (std::size_t i = 0; i < xd.size(); ++i) {
    xa[i] = std::fabs(xd[i]);
  }
  for (std::size_t i = 0; i < wd.size(); ++i) {
    wa[i] = std::fabs(wd[i]);
  }
  const auto magnitude = oracle_matmul(xa.data(), wa.data(), M, N, K);
  REQUIRE(r.y.size() == M * N);
  for (std::size_t i = 0; i < M * N; ++i) {
    const double err = std::fabs(double(r.y[i]) - oracle[i]);
    const double bound = r.bound[i] + gamma64(K + 1) * magnitude[i];
    CAPTURE(i, r.y[i], oracle[i], err, bound);
    REQUIRE(err <= bound);
    // The bound is tight enough to mean something: a few hundred ulps of the magnitude.
    REQUIRE(bound <= 1e-4 * magnitude[i] + 1e-30);
  }
}

// Independent per-segment sums of an SQ operand (rows rs) against uniform codes (rows ru),
// walking the packed codes directly: high codes are consumed in order while scanning K.
template <class C>
std::int64_t walk_sum(const SqTensor<C>& t, std::size_t rs, const std::int8_t* uc,
                      const Segment& g) {
  std::size_t hj = 0;
  std::int64_t s = 0;
  for (std::size_t k = 0; k < t.cols; ++k) {
    const bool high = t.low_code(rs, k) == C::low_sentinel;
    const int q = high ? t.high_code(rs, hj++) : t.low_code(rs, k);
    if (k >= g.k_begin && k < g.k_end && high == (g.path == Path::high)) {
      s += static_cast<std::int64_t>(q) * uc[k];
    }
  }
  return s;
}

template <class C>
std::vector<float> scaled_rows(std::size_t rows, std::size_t cols, std::mt19937& rng) {
  auto x = sqtest::random_matrix(rows, cols, rng);
  // Rows of very different magnitudes (tiny x tiny rows make subnormal scale products, huge x
  // huge rows stay below FLT_MAX for these K) and one all-zero bank.
  const float factors[4] = {1e-19f, 1e-3f, 1.0f, 1e15f};
  for (std::size_t r = 0; r < rows; ++r) {
    const float f = factors[r % 4];
    for (std::size_t k = 0; k < cols; ++k) {
      x[r * cols + k] *= f;
    }
  }
  std::fill(x.begin(), x.begin() + C::bank, 0.0f);
  return x;
}

} // namespace

TEMPLATE_LIST_TEST_CASE("W(SQ) . A: integer sums exact, results within the bound", "[products]",
                        sqtest::Configs) {
  using C = TestType;
  const auto seed = sqtest::fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const std::size_t M = 5, N = 7;
  for (std::size_t K : {std::size_t(C::bank), std::size_t(C::bank < 128 ? 512 : 1024)}) {
    CAPTURE(K);
    const auto wf = scaled_rows<C>(N, K, rng);
    const auto mask = sqtest::random_mask(N, K, C::bank, C::high_per_bank, rng);
    const auto w = pack_sq<C>(wf.data(), N, K, mask.data());
    const auto xf = scaled_rows<C>(M, K, rng);
    for (auto [bits, group] : {std::pair<int, std::size_t>{8, K}, {4, K}, {8, 128}}) {
      if (K % group != 0) {
        continue;
      }
      CAPTURE(bits, group);
      const auto x = quantize_uniform(xf.data(), M, K, bits, group);
      const auto r = sq_weight_times_uniform_detailed(w, x);
      for (std::size_t m = 0; m < M; ++m) {
        for (std::size_t n = 0; n < N; ++n) {
          for (std::size_t s = 0; s < r.sums.segments.size(); ++s) {
            REQUIRE(r.sums.at(m, n, s) ==
                    walk_sum(w, n, x.codes.data() + m * K, r.sums.segments[s]));
          }
        }
      }
      REQUIRE(r.sums.segments.size() == 2 * K / std::min<std::size_t>(C::bank, group));
      check_against_oracle(r, dequantize_double(x), dequantize_double(w), M, N, K);
      REQUIRE(sq_weight_times_uniform(w, x) == r.y);
    }
    const auto rf = sq_weight_times_float_detailed(w, xf.data(), M);
    std::vector<double> xd(xf.begin(), xf.end());
    check_against_oracle(rf, xd, dequantize_double(w), M, N, K);
  }
  const auto wf = sqtest::random_matrix(N, 2 * C::bank, rng);
  const auto mask = sqtest::random_mask(N, 2 * C::bank, C::bank, C::high_per_bank, rng);
  const auto w = pack_sq<C>(wf.data(), N, 2 * C::bank, mask.data());
  const auto xf = sqtest::random_matrix(M, C::bank, rng);
  const auto x = quantize_uniform(xf.data(), M, C::bank, 8, C::bank);
  REQUIRE(sqtest::error_code_of([&] { sq_weight_times_uniform(w, x); }) ==
          ErrorCode::shape_mismatch);
}

TEMPLATE_LIST_TEST_CASE("W4 . A(SQ) static and dynamic: sums exact, results within the bound",
                        "[products]", sqtest::Configs) {
  using C = TestType;
  const auto seed = sqtest::fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const std::size_t M = 6, N = 5;
  for (std::size_t K : {std::size_t(C::bank), std::size_t(C::bank < 128 ? 512 : 1024)}) {
    CAPTURE(K);
    const auto xf = scaled_rows<C>(M, K, rng);
    const auto wf = scaled_rows<C>(N, K, rng);
    const auto cmask = sqtest::random_mask(1, K, C::bank, C::high_per_bank, rng);
    const auto perm = permutation_from_channel_mask<C>(cmask.data(), K);
    const auto wp = permute_columns(wf.data(), N, K, perm);
    for (std::size_t group : {K, std::size_t(128)}) {
      if (K % group != 0) {
        continue;
      }
      CAPTURE(group);
      const auto wq = quantize_uniform(wp.data(), N, K, 4, group);
      for (ActScale g : {ActScale::per_token, ActScale::per_token_bank}) {
        CAPTURE(static_cast<int>(g));
        const auto x = split_static<C>(xf.data(), M, K, perm, g);
        const auto r = uniform_weight_times_static_detailed(wq, x);
        for (std::size_t m = 0; m < M; ++m) {
          for (std::size_t n = 0; n < N; ++n) {
            for (std::size_t s = 0; s < r.sums.segments.size(); ++s) {
              const Segment& seg = r.sums.segments[s];
              REQUIRE((seg.path == Path::high) == (seg.k_begin < x.high_cols()));
              std::int64_t expect = 0;
              for (std::size_t k = seg.k_begin; k < seg.k_end; ++k) {
                expect += static_cast<std::int64_t>(x.code(m, k)) * wq.codes[n * K + k];
              }
              REQUIRE(r.sums.at(m, n, s) == expect);
            }
          }
        }
        check_against_oracle(r, dequantize_double_permuted(x), dequantize_double(wq), M, N, K);
      }
      // Dynamic: W in the original channel order, X as an SQ tensor.
      const auto wo = quantize_uniform(wf.data(), N, K, 4, group);
      const auto xs = quantize_dynamic<C>(xf.data(), M, K);
      const auto r = uniform_weight_times_sq_detailed(wo, xs);
      for (std::size_t m = 0; m < M; ++m) {
        for (std::size_t n = 0; n < N; ++n) {
          for (std::size_t s = 0; s < r.sums.segments.size(); ++s) {
            REQUIRE(r.sums.at(m, n, s) ==
                    walk_sum(xs, m, wo.codes.data() + n * K, r.sums.segments[s]));
          }
        }
      }
      check_against_oracle(r, dequantize_double(xs), dequantize_double(wo), M, N, K);
    }
  }
}

TEST_CASE("the epilogue order is the documented one", "[products]") {
  // Two segments whose float32 sum depends on the order: the reference must add low then high
  // within a bank, banks in increasing K.
  using C = SqConfig<4, 2, 8, 4>;
  const float wf[8] = {1.0f, 1.0f, 7.0f, 7.0f, 1.0f, 1.0f, 7.0f, 7.0f};
  const std::uint8_t mask[8] = {0, 0, 1, 1, 0, 0, 1, 1};
  const auto w = pack_sq<C>(wf, 1, 8, mask);
  const float xf[8] = {127, 127, 127, 127, 127, 127, 127, 127};
  const auto x = quantize_uniform(xf, 1, 8, 8, 8);
  const auto r = sq_weight_times_uniform_detailed(w, x);
  REQUIRE(r.sums.segments.size() == 4);
  float acc = 0.0f;
  for (std::size_t s = 0; s < 4; ++s) {
    const Segment& g = r.sums.segments[s];
    REQUIRE(g.path == (s % 2 == 0 ? Path::low : Path::high));
    REQUIRE(g.k_begin == s / 2 * 4);
    const float sw = g.path == Path::low ? w.scale_low[s / 2] : w.scale_high[s / 2];
    acc += (x.scales[0] * sw) * static_cast<float>(r.sums.at(0, 0, s));
  }
  REQUIRE(r.y[0] == acc);
  REQUIRE(r.y[0] == 4064.0f); // 127 * (1 + 1 + 7 + 7) * 2 banks, exact here
}

TEST_CASE("W(SQ) . A float rejects non-finite activations", "[products][errors]") {
  using C = SqConfig<16, 4>;
  std::mt19937 rng(std::random_device{}());
  const std::size_t N = 3, K = 32, M = 2;
  const auto w = sqtest::random_matrix(N, K, rng);
  const auto mask = select_top_h_abs<C>(w.data(), N, K);
  const auto t = pack_sq<C>(w.data(), N, K, mask.data());
  auto x = sqtest::random_matrix(M, K, rng);
  REQUIRE_NOTHROW(sq_weight_times_float(t, x.data(), M));
  for (const float bad : {std::nanf(""), HUGE_VALF, -HUGE_VALF}) {
    x[K + 5] = bad;
    CAPTURE(bad);
    try {
      (void)sq_weight_times_float(t, x.data(), M);
      FAIL("a non-finite activation was accepted");
    } catch (const Error& e) {
      REQUIRE(e.code() == ErrorCode::non_finite_input);
    }
  }
}

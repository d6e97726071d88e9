// SQ tensors: packing from float + mask, round trips, top-H selection, dynamic activations.
#include "ref_test_util.hpp"
#include "sq_catch.hpp"

#include <sqformat/reference/selection.hpp>
#include <sqformat/reference/sq_tensor.hpp>

#include <cfloat>
#include <limits>
#include <numeric>

using namespace sqformat;
using namespace sqformat::ref;

namespace {

// Independent check of one packed tensor against its source: mask recovered exactly, exactly H
// high per bank, every code equal to a fresh quantization of its set with the bank's scale,
// dequantization within half a step.
template <class C>
void check_pack(const std::vector<float>& x, const std::vector<std::uint8_t>& mask,
                const SqTensor<C>& t) {
  REQUIRE(high_mask_of(t) == mask);
  std::vector<float> xhat(x.size());
  dequantize(t, xhat.data());
  std::vector<std::int8_t> lo(t.cols), hi(t.cols);
  for (std::size_t r = 0; r < t.rows; ++r) {
    unpack_sq_row(t, r, lo.data(), hi.data());
    std::size_t hj = 0;
    for (std::size_t bank = 0; bank < t.banks(); ++bank) {
      float amax_lo = 0, amax_hi = 0;
      int count = 0;
      for (int i = 0; i < C::bank; ++i) {
        const std::size_t k = bank * C::bank + i;
        const float a = std::fabs(x[r * t.cols + k]);
        if (mask[r * t.cols + k]) {
          ++count;
          amax_hi = std::max(amax_hi, a);
        } else {
          amax_lo = std::max(amax_lo, a);
        }
      }
      REQUIRE(count == C::high_per_bank);
      const float s_lo = t.scale_low[r * t.banks() + bank];
      const float s_hi = t.scale_high[r * t.banks() + bank];
      REQUIRE(s_lo == amax_lo / static_cast<float>(C::low_qmax));
      REQUIRE(s_hi == amax_hi / static_cast<float>(C::high_qmax));
      for (int i = 0; i < C::bank; ++i) {
        const std::size_t k = bank * C::bank + i;
        const float v = x[r * t.cols + k];
        const bool high = mask[r * t.cols + k] != 0;
        const float s = high ? s_hi : s_lo;
        const int q = high ? hi[k] : lo[k];
        CAPTURE(r, k, v, s, q, high);
        REQUIRE(q == quantize_value(v, s, high ? C::high_qmax : C::low_qmax));
        REQUIRE(q != (high ? -(C::high_qmax + 1) : C::low_sentinel));
        if (high) {
          REQUIRE(t.high_code(r, hj++) == q);
        } else {
          REQUIRE(t.low_code(r, k) == q);
        }
        REQUIRE(sqtest::within_half_step(v, xhat[r * t.cols + k], s));
      }
    }
  }
  validate(t);
}

// Brute-force top-H: stable sort of the bank's indices by key, descending (stable = lower
// index first among equals).
template <class C>
std::vector<std::uint8_t> brute_top_h(const std::vector<float>& key, std::size_t rows,
                                      std::size_t cols) {
  std::vector<std::uint8_t> m(rows * cols, 0);
  std::vector<int> idx(C::bank);
  for (std::size_t base = 0; base < rows * cols; base += C::bank) {
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(),
                     [&](int a, int b) { return key[base + a] > key[base + b]; });
    for (int i = 0; i < C::high_per_bank; ++i) {
      m[base + idx[i]] = 1;
    }
  }
  return m;
}

} // namespace

TEMPLATE_LIST_TEST_CASE("pack_sq round trip: codes, masks, scales, half-step error", "[sq]",
                        sqtest::Configs) {
  using C = TestType;
  const auto seed = sqtest::fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const std::size_t b = C::bank;
  for (auto [rows, banks] :
       {std::pair<std::size_t, std::size_t>{1, 1}, {3, 5}, {7, 2}, {2, 4096 / b + 3}}) {
    CAPTURE(rows, banks);
    const std::size_t cols = banks * b;
    const auto x = sqtest::random_matrix(rows, cols, rng);
    const auto mask = sqtest::random_mask(rows, cols, C::bank, C::high_per_bank, rng);
    check_pack(x, mask, pack_sq<C>(x.data(), rows, cols, mask.data()));
  }
}

TEMPLATE_LIST_TEST_CASE("pack_sq adversarial inputs", "[sq]", sqtest::Configs) {
  using C = TestType;
  const auto seed = sqtest::fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const std::size_t rows = 3, cols = 4 * C::bank;
  auto x = sqtest::random_matrix(rows, cols, rng);
  const auto mask = sqtest::random_mask(rows, cols, C::bank, C::high_per_bank, rng);
  SECTION("all-zero banks give zero scales, zero codes, exact zeros") {
    std::fill(x.begin() + C::bank, x.begin() + 2 * C::bank, 0.0f);
    std::fill(x.begin() + cols, x.begin() + 2 * cols, -0.0f); // a whole row of negative zeros
    const auto t = pack_sq<C>(x.data(), rows, cols, mask.data());
    check_pack(x, mask, t);
    REQUIRE(t.scale_low[1] == 0.0f);
    REQUIRE(t.scale_high[1] == 0.0f);
    std::vector<float> xhat(x.size());
    dequantize(t, xhat.data());
    for (std::size_t k = 0; k < cols; ++k) {
      REQUIRE(xhat[cols + k] == 0.0f);
    }
  }
  SECTION("one huge outlier per bank") {
    for (std::size_t base = 0; base < x.size(); base += C::bank) {
      x[base + rng() % C::bank] = (rng() % 2 ? 1.0f : -1.0f) * 1e30f;
    }
    check_pack(x, mask, pack_sq<C>(x.data(), rows, cols, mask.data()));
  }
  SECTION("maximum magnitudes") {
    for (auto& v : x) {
      v = v > 0 ? FLT_MAX / 2 : -FLT_MAX / 4;
    }
    check_pack(x, mask, pack_sq<C>(x.data(), rows, cols, mask.data()));
  }
  SECTION("misuse is rejected") {
    auto bad = mask;
    bad[0] ^= 1; // H-1 or H+1 high in bank 0
    REQUIRE(sqtest::error_code_of([&] { pack_sq<C>(x.data(), rows, cols, bad.data()); }) ==
            ErrorCode::bad_mask);
    bad = mask;
    bad[cols + C::bank + 1] = bad[cols + C::bank + 1] ? 2 : 0; // a value other than 0/1
    if (bad != mask) {
      REQUIRE(sqtest::error_code_of([&] { pack_sq<C>(x.data(), rows, cols, bad.data()); }) ==
              ErrorCode::bad_mask);
    }
    REQUIRE(sqtest::error_code_of([&] { pack_sq<C>(x.data(), 1, cols - 1, mask.data()); }) ==
            ErrorCode::k_not_multiple_of_bank);
    REQUIRE(sqtest::error_code_of([&] { pack_sq<C>(x.data(), 0, cols, mask.data()); }) ==
            ErrorCode::invalid_argument);
    for (float v : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
      auto y = x;
      y[y.size() - 1] = v;
      REQUIRE(sqtest::error_code_of([&] { pack_sq<C>(y.data(), rows, cols, mask.data()); }) ==
              ErrorCode::non_finite_input);
      REQUIRE(sqtest::error_code_of([&] { quantize_dynamic<C>(y.data(), rows, cols); }) ==
              ErrorCode::non_finite_input);
    }
  }
}

TEMPLATE_LIST_TEST_CASE("top-H selection matches brute force, ties to the lower index", "[sq]",
                        sqtest::Configs) {
  using C = TestType;
  const auto seed = sqtest::fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const std::size_t rows = 5, cols = 3 * C::bank;
  SECTION("few distinct values: many ties straddle the threshold") {
    std::uniform_int_distribution<int> level(-2, 2);
    std::vector<float> x(rows * cols);
    for (auto& v : x) {
      v = static_cast<float>(level(rng));
    }
    REQUIRE(select_top_h<C>(x.data(), rows, cols) == brute_top_h<C>(x, rows, cols));
    std::vector<float> ax(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      ax[i] = std::fabs(x[i]);
    }
    const auto mask = select_top_h_abs<C>(x.data(), rows, cols);
    REQUIRE(mask == brute_top_h<C>(ax, rows, cols));
    const auto t = quantize_dynamic<C>(x.data(), rows, cols);
    REQUIRE(high_mask_of(t) == mask);
    check_pack(x, mask, t);
  }
  SECTION("all equal: the first H positions of every bank win, -0 equals +0") {
    std::vector<float> x(rows * cols, 1.5f);
    for (std::size_t i = 0; i < x.size(); i += 2) {
      x[i] = -1.5f;
    }
    auto mask = select_top_h_abs<C>(x.data(), rows, cols);
    for (std::size_t i = 0; i < x.size(); ++i) {
      REQUIRE(mask[i] == ((i % C::bank) < static_cast<std::size_t>(C::high_per_bank) ? 1 : 0));
    }
    std::vector<float> z(rows * cols, 0.0f);
    for (std::size_t i = 0; i < z.size(); i += 3) {
      z[i] = -0.0f;
    }
    REQUIRE(select_top_h_abs<C>(z.data(), rows, cols) == mask);
  }
  SECTION("random data with exact duplicates around the H-th value") {
    auto x = sqtest::random_matrix(rows, cols, rng);
    for (std::size_t base = 0; base < x.size(); base += C::bank) { // copy one value many times
      const float v = x[base + rng() % C::bank];
      for (int i = 0; i < C::bank; i += 3) {
        x[base + i] = v;
      }
    }
    REQUIRE(select_top_h<C>(x.data(), rows, cols) == brute_top_h<C>(x, rows, cols));
  }
}

TEST_CASE("packing a 4096 x 14336 SQ tensor completes (speed check, not timed)", "[sq][large]") {
  using C = SqConfig<64, 8, 8, 4>;
  const std::size_t rows = 4096, cols = 14336;
  std::vector<float> x(rows * cols);
  std::uint32_t state = sqtest::fresh_seed() | 1u;
  for (auto& v : x) { // xorshift: cheap enough for 58.7M values
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    v = static_cast<float>(static_cast<std::int32_t>(state)) * 1e-9f;
  }
  const auto t = quantize_dynamic<C>(x.data(), rows, cols);
  REQUIRE(t.low.size() == rows * cols / 2);
  REQUIRE(t.high.size() == rows * cols / 8);
  REQUIRE(t.high_code(rows - 1, 0) != 0);
}

// Static activation split (permutation, split, scales) and the uniform baselines.
#include "ref_test_util.hpp"
#include "sq_catch.hpp"

#include <sqformat/reference/config_name.hpp>
#include <sqformat/reference/selection.hpp>
#include <sqformat/reference/static_split.hpp>
#include <sqformat/reference/uniform.hpp>

#include <limits>

using namespace sqformat;
using namespace sqformat::ref;

TEMPLATE_LIST_TEST_CASE("permutation from a channel mask has the documented structure", "[static]",
                        sqtest::Configs) {
  using C = TestType;
  const auto seed = sqtest::fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const std::size_t K = 6 * C::bank;
  const auto mask = sqtest::random_mask(1, K, C::bank, C::high_per_bank, rng);
  const auto perm = permutation_from_channel_mask<C>(mask.data(), K);
  const std::size_t kh = K / C::bank * C::high_per_bank;
  for (std::size_t k = 0; k < K; ++k) {
    REQUIRE(mask[perm[k]] == (k < kh ? 1 : 0));
    const std::size_t bank = k < kh ? k / C::high_per_bank : (k - kh) / C::low_per_bank;
    REQUIRE(perm[k] / C::bank == bank);
    const bool same_run =
        k + 1 != kh && k + 1 < K &&
        (k + 1 < kh ? (k + 1) % C::high_per_bank != 0 : (k + 1 - kh) % C::low_per_bank != 0);
    if (same_run) {
      REQUIRE(perm[k] < perm[k + 1]); // increasing channel order inside each run
    }
  }
  const auto inv = inverse_permutation(perm);
  for (std::size_t k = 0; k < K; ++k) {
    REQUIRE(perm[inv[k]] == k);
  }
  REQUIRE(channel_mask_of<C>(perm) == mask);
  auto bad = mask;
  bad[K - 1] ^= 1;
  REQUIRE(sqtest::error_code_of([&] { permutation_from_channel_mask<C>(bad.data(), K); }) ==
          ErrorCode::bad_mask);
  auto swapped = perm; // a high channel of bank 0 moved into bank 1's slots
  std::swap(swapped[0], swapped[C::high_per_bank]);
  if (K / C::bank > 1) {
    REQUIRE(sqtest::error_code_of([&] { check_static_permutation<C>(swapped, K); }) ==
            ErrorCode::invalid_argument);
  }
  REQUIRE(sqtest::error_code_of([&] { permutation_from_channel_mask<C>(mask.data(), K - 1); }) ==
          ErrorCode::k_not_multiple_of_bank);
  std::vector<float> x(2 * K, 1.0f);
  REQUIRE(sqtest::error_code_of([&] {
            split_static<C>(x.data(), 2, K - 2, perm, ActScale::per_token);
          }) == ErrorCode::k_not_multiple_of_bank);
  REQUIRE(sqtest::error_code_of([&] { select_top_h<C>(x.data(), 1, K + 2); }) ==
          ErrorCode::k_not_multiple_of_bank);
  if (C::high_per_bank > 1) { // two high channels of bank 0 in decreasing order
    auto reversed = perm;
    std::swap(reversed[0], reversed[1]);
    REQUIRE(sqtest::error_code_of([&] { check_static_permutation<C>(reversed, K); }) ==
            ErrorCode::invalid_argument);
  }
  if (C::low_per_bank > 1) { // two low channels of the last bank in decreasing order
    auto reversed = perm;
    std::swap(reversed[K - 1], reversed[K - 2]);
    REQUIRE(sqtest::error_code_of([&] { check_static_permutation<C>(reversed, K); }) ==
            ErrorCode::invalid_argument);
  }
  auto dup = perm;
  dup[1] = dup[0];
  REQUIRE(sqtest::error_code_of([&] { (void)inverse_permutation(dup); }) ==
          ErrorCode::invalid_argument);
}

TEMPLATE_LIST_TEST_CASE("split_static quantizes each block with its scales", "[static]",
                        sqtest::Configs) {
  using C = TestType;
  const auto seed = sqtest::fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  for (auto [M, banks] : {std::pair<std::size_t, std::size_t>{1, 1}, {5, 3}, {3, 2048 / C::bank}}) {
    CAPTURE(M, banks);
    const std::size_t K = banks * C::bank;
    auto x = sqtest::random_matrix(M, K, rng);
    if (M > 1) {
      std::fill(x.begin() + K, x.begin() + 2 * K, -0.0f); // an all-zero token
    }
    const auto mask = sqtest::random_mask(1, K, C::bank, C::high_per_bank, rng);
    const auto perm = permutation_from_channel_mask<C>(mask.data(), K);
    for (ActScale g : {ActScale::per_token, ActScale::per_token_bank}) {
      CAPTURE(static_cast<int>(g));
      const auto s = split_static<C>(x.data(), M, K, perm, g);
      REQUIRE(s.high_cols() + s.low_cols() == K);
      std::vector<float> xhat(M * K), xhat_p(M * K);
      dequantize(s, xhat.data());
      dequantize_permuted(s, xhat_p.data());
      for (std::size_t m = 0; m < M; ++m) {
        for (std::size_t kp = 0; kp < K; ++kp) {
          const bool high = kp < s.high_cols();
          // The scale covers exactly the elements of its block (or bank part).
          std::size_t first = high ? 0 : s.high_cols();
          std::size_t last = high ? s.high_cols() : K;
          if (g == ActScale::per_token_bank) {
            const std::size_t run = high ? C::high_per_bank : C::low_per_bank;
            first += (kp - first) / run * run;
            last = first + run;
          }
          float amax = 0;
          for (std::size_t j = first; j < last; ++j) {
            amax = std::max(amax, std::fabs(x[m * K + perm[j]]));
          }
          const int qmax = high ? C::high_qmax : C::low_qmax;
          const float v = x[m * K + perm[kp]];
          CAPTURE(m, kp, v);
          REQUIRE(s.scale(m, kp) == symmetric_scale(amax, qmax));
          REQUIRE(s.code(m, kp) == quantize_value(v, s.scale(m, kp), qmax));
          REQUIRE(xhat[m * K + perm[kp]] == xhat_p[m * K + kp]);
          REQUIRE(sqtest::within_half_step(v, xhat_p[m * K + kp], s.scale(m, kp)));
        }
      }
    }
    x[0] = std::numeric_limits<float>::quiet_NaN();
    REQUIRE(sqtest::error_code_of([&] {
              split_static<C>(x.data(), M, K, perm, ActScale::per_token);
            }) == ErrorCode::non_finite_input);
  }
}

TEST_CASE("uniform baselines per token, per channel and per group", "[uniform]") {
  const auto seed = sqtest::fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const std::size_t rows = 5, cols = 512;
  auto x = sqtest::random_matrix(rows, cols, rng);
  std::fill(x.begin() + 128, x.begin() + 256, 0.0f); // one all-zero group
  for (int bits : {8, 4, 3, 2}) {
    for (std::size_t group : {cols, std::size_t(128)}) {
      CAPTURE(bits, group);
      const auto u = quantize_uniform(x.data(), rows, cols, bits, group);
      REQUIRE(u.scales.size() == rows * cols / group);
      std::vector<float> xhat(x.size());
      dequantize(u, xhat.data());
      const int qmax = qmax_of_bits(bits);
      for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t k = 0; k < cols; ++k) {
          const std::size_t g0 = r * cols + k / group * group;
          float amax = 0;
          for (std::size_t j = 0; j < group; ++j) {
            amax = std::max(amax, std::fabs(x[g0 + j]));
          }
          REQUIRE(u.scale(r, k) == symmetric_scale(amax, qmax));
          REQUIRE(u.codes[r * cols + k] == quantize_value(x[r * cols + k], u.scale(r, k), qmax));
          REQUIRE(sqtest::within_half_step(x[r * cols + k], xhat[r * cols + k], u.scale(r, k)));
        }
      }
      const auto packed = pack_rows(u);
      std::vector<std::int8_t> back(cols);
      for (std::size_t r = 0; r < rows; ++r) {
        unpack_codes(packed.data() + r * packed_bytes(cols, bits), cols, bits, back.data());
        REQUIRE(std::equal(back.begin(), back.end(), u.codes.begin() + r * cols));
      }
    }
  }
  REQUIRE(sqtest::error_code_of([&] { quantize_uniform(x.data(), rows, cols, 4, 100); }) ==
          ErrorCode::shape_mismatch);
  REQUIRE(sqtest::error_code_of([&] { quantize_uniform(x.data(), rows, cols, 5, 128); }) ==
          ErrorCode::invalid_argument);
  x[7] = -std::numeric_limits<float>::infinity();
  REQUIRE(sqtest::error_code_of([&] { quantize_uniform(x.data(), rows, cols, 8, cols); }) ==
          ErrorCode::non_finite_input);
}

TEST_CASE("config_name spells the paper's naming", "[config]") {
  REQUIRE(config_name<SqConfig<64, 8, 8, 4>>() == "B64-(8/4)-0.875");
  REQUIRE(config_name<SqConfig<16, 8, 4, 2>>() == "B16-(4/2)-0.5");
  REQUIRE(config_name<SqConfig<1024, 1, 8, 3>>() == "B1024-(8/3)-0.9990234375");
}

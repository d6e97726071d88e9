// Scalar quantizer and bit packing: ties to even, no sentinel, exact stream layout.
#include "ref_test_util.hpp"
#include "sq_catch.hpp"

#include <sqformat/reference/bitpack.hpp>
#include <sqformat/reference/quantize.hpp>

#include <cfloat>
#include <cmath>
#include <limits>

using namespace sqformat;
using namespace sqformat::ref;

TEST_CASE("quantize_value rounds ties to even at exact .5 points", "[quantize]") {
  for (int bits : {8, 4, 3, 2}) {
    CAPTURE(bits);
    const int qmax = qmax_of_bits(bits);
    // amax = qmax * 0.25 gives scale exactly 0.25; x = (j + 0.5) * 0.25 is an exact tie.
    const float scale = symmetric_scale(static_cast<float>(qmax) * 0.25f, qmax);
    REQUIRE(scale == 0.25f);
    for (int j = -qmax; j < qmax; ++j) {
      const float x = (static_cast<float>(j) + 0.5f) * 0.25f;
      const int even = (j % 2 == 0) ? j : j + 1;
      CAPTURE(j, x);
      REQUIRE(quantize_value(x, scale, qmax) == even);
    }
  }
  REQUIRE(quantize_value(2.5f, 1.0f, 127) == 2);
  REQUIRE(quantize_value(3.5f, 1.0f, 127) == 4);
  REQUIRE(quantize_value(-2.5f, 1.0f, 127) == -2);
  REQUIRE(quantize_value(-0.5f, 1.0f, 7) == 0);
}

TEST_CASE("quantizer never produces the sentinel and clamps to [-qmax, qmax]", "[quantize]") {
  const auto seed = sqtest::fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-4.0f, 4.0f);
  for (int bits : {8, 4, 3, 2}) {
    const int qmax = qmax_of_bits(bits);
    for (int i = 0; i < 2000; ++i) {
      const float x = u(rng);
      const float s = symmetric_scale(std::fabs(u(rng)) + 0.01f, qmax);
      const int q = quantize_value(x, s, qmax);
      REQUIRE(q >= -qmax);
      REQUIRE(q <= qmax);
    }
    REQUIRE(quantize_value(1e30f, 1.0f, qmax) == qmax);
    REQUIRE(quantize_value(-1e30f, 1.0f, qmax) == -qmax);
  }
}

TEST_CASE("zero groups, tiny and huge magnitudes", "[quantize]") {
  REQUIRE(symmetric_scale(0.0f, 7) == 0.0f);
  REQUIRE(quantize_value(0.0f, 0.0f, 7) == 0);
  REQUIRE(quantize_value(-0.0f, 0.5f, 7) == 0);
  // amax far below FLT_MIN: the scale underflows to 0 and the group quantizes like zeros.
  const float tiny = std::numeric_limits<float>::denorm_min();
  REQUIRE(symmetric_scale(tiny, 127) == 0.0f);
  REQUIRE(quantize_value(tiny, symmetric_scale(tiny, 127), 127) == 0);
  for (int bits : {8, 4, 3, 2}) {
    const int qmax = qmax_of_bits(bits);
    const float amax = FLT_MAX / 2;
    const float s = symmetric_scale(amax, qmax);
    REQUIRE(std::isfinite(s));
    REQUIRE(quantize_value(amax, s, qmax) == qmax);
    REQUIRE(quantize_value(-amax, s, qmax) == -qmax);
    REQUIRE(std::isfinite(dequantize_value(qmax, s)));
    REQUIRE(sqtest::within_half_step(amax, dequantize_value(qmax, s), s));
  }
}

TEST_CASE("checked_absmax rejects NaN and infinities", "[quantize]") {
  float v[4] = {1.0f, -3.0f, 2.0f, 0.0f};
  REQUIRE(checked_absmax(v, 4) == 3.0f);
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    v[2] = bad;
    REQUIRE(sqtest::error_code_of([&] { (void)checked_absmax(v, 4); }) ==
            ErrorCode::non_finite_input);
  }
}

TEST_CASE("bit packing matches the documented stream layout", "[bitpack]") {
  // 4-bit: code 0 in the low nibble.
  const std::int8_t c4[3] = {1, -8, 7};
  std::uint8_t p4[2];
  pack_codes(c4, 3, 4, p4);
  REQUIRE(p4[0] == 0x81);
  REQUIRE(p4[1] == 0x07); // trailing nibble is zero
  // 3-bit: codes 1, 2, 3, -4 (100b), -1 (111b) -> stream bits 001 010 011 100 111.
  const std::int8_t c3[5] = {1, 2, 3, -4, -1};
  std::uint8_t p3[2];
  pack_codes(c3, 5, 3, p3);
  REQUIRE(packed_bytes(5, 3) == 2);
  REQUIRE(p3[0] == 0xD1); // 11 011 010 001 -> bits 7..0 = 1101 0001
  REQUIRE(p3[1] == 0x78); // stream bits 15..8 = 0 111 100 0 (code 2 carries bit 8 = 0)
  // 2-bit: four codes per byte.
  const std::int8_t c2[4] = {-1, 0, 1, -2};
  std::uint8_t p2[1];
  pack_codes(c2, 4, 2, p2);
  REQUIRE(p2[0] == 0x93); // 10 01 00 11
  REQUIRE(sqtest::error_code_of([&] {
            const std::int8_t bad[1] = {8};
            pack_codes(bad, 1, 4, p4);
          }) == ErrorCode::invalid_argument);
  REQUIRE(sqtest::error_code_of([] { (void)packed_bytes(4, 5); }) == ErrorCode::invalid_argument);
}

TEST_CASE("pack/unpack round trip is exact for every width and length", "[bitpack]") {
  const auto seed = sqtest::fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  for (int bits : {2, 3, 4, 8}) {
    std::uniform_int_distribution<int> code(-(1 << (bits - 1)), (1 << (bits - 1)) - 1);
    for (std::size_t n : {std::size_t(1), std::size_t(7), std::size_t(8), std::size_t(13),
                          std::size_t(64), std::size_t(1001)}) {
      CAPTURE(bits, n);
      std::vector<std::int8_t> codes(n), back(n);
      for (auto& c : codes) {
        c = static_cast<std::int8_t>(code(rng));
      }
      std::vector<std::uint8_t> packed(packed_bytes(n, bits) + 1, 0xAB);
      pack_codes(codes.data(), n, bits, packed.data());
      REQUIRE(packed.back() == 0xAB); // nothing written past packed_bytes
      unpack_codes(packed.data(), n, bits, back.data());
      REQUIRE(back == codes);
      for (std::size_t i = 0; i < n; ++i) {
        REQUIRE(get_code(packed.data(), i, bits) == codes[i]);
      }
      const std::size_t used = n * static_cast<std::size_t>(bits) % 8;
      if (used != 0) { // unused trailing bits are zero
        REQUIRE((packed[packed_bytes(n, bits) - 1] >> used) == 0);
      }
    }
  }
}

TEST_CASE("put_code replaces one code and keeps its neighbours", "[bitpack]") {
  const auto seed = sqtest::fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  for (int bits : {2, 3, 4, 8}) {
    std::uniform_int_distribution<int> code(-(1 << (bits - 1)), (1 << (bits - 1)) - 1);
    const std::size_t n = 37;
    std::vector<std::int8_t> codes(n);
    for (auto& c : codes) {
      c = static_cast<std::int8_t>(code(rng));
    }
    std::vector<std::uint8_t> packed(packed_bytes(n, bits));
    pack_codes(codes.data(), n, bits, packed.data());
    for (int trial = 0; trial < 200; ++trial) {
      const std::size_t i = rng() % n;
      // All ones and all zeros as well as random codes: a put that only ORs or only ANDs fails.
      const int c = trial % 3 == 0 ? -1 : trial % 3 == 1 ? 0 : code(rng);
      CAPTURE(bits, trial, i, c);
      put_code(packed.data(), i, c, bits);
      codes[i] = static_cast<std::int8_t>(c);
      for (std::size_t j = 0; j < n; ++j) {
        REQUIRE(get_code(packed.data(), j, bits) == codes[j]);
      }
    }
  }
}

TEST_CASE("quantize_value equals clamp(std::nearbyint(x / scale))", "[quantize]") {
  const auto seed = sqtest::fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
  std::uniform_int_distribution<int> expo(-30, 30);
  for (int bits : {8, 4, 3, 2}) {
    const int qmax = qmax_of_bits(bits);
    for (int i = 0; i < 20000; ++i) {
      const float s = std::ldexp(std::fabs(mant(rng)) + 0.01f, expo(rng));
      // Half the time an exact tie (j + 0.5) * s where that product is exact.
      const float x = (i % 2) ? std::ldexp(mant(rng), expo(rng))
                              : (static_cast<float>(static_cast<int>(rng() % 300) - 150) + 0.5f) *
                                    std::ldexp(1.0f, expo(rng));
      const float sc = (i % 2) ? s : std::ldexp(1.0f, 0);
      const float r = std::nearbyint(x / sc);
      const int expect = r >= qmax ? qmax : (r <= -qmax ? -qmax : static_cast<int>(r));
      CAPTURE(bits, x, sc);
      REQUIRE(quantize_value(x, sc, qmax) == expect);
    }
  }
}

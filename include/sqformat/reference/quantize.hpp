// sqformat/reference/quantize.hpp: the symmetric scalar quantizer of every width (docs/layouts.md,
// "Quantizer").
//
// One group of float32 values shares one scale: scale = amax / qmax in float32, and each value
// becomes q = clamp(rint(x / scale), -qmax, qmax) with ties to even. The sentinel code -(qmax+1)
// is never produced. All arithmetic is float32 IEEE (round to nearest) so that device code gets
// the same codes bit for bit. rint rounds under the default rounding mode (FE_TONEAREST, ties to
// even), which is what the host reference assumes (device code: __float2int_rn or rintf).
#pragma once

#include <sqformat/error.hpp>

#include <cmath>
#include <cstddef>
#include <string>

namespace sqformat::ref {

/// Largest code magnitude of a `bits`-wide symmetric format: 127, 7, 3 or 1.
constexpr int qmax_of_bits(int bits) { return (1 << (bits - 1)) - 1; }

/// Scale of a group whose largest magnitude is `amax`: amax / qmax in float32. Returns 0 for an
/// all-zero group; a quotient that underflows to 0 is returned as 0 too, and the group is then
/// quantized like an all-zero group (every code 0).
inline float symmetric_scale(float amax, int qmax) {
  if (!(amax > 0.0f)) {
    return 0.0f;
  }
  return amax / static_cast<float>(qmax);
}

/// Code of `x` for `scale`: clamp(rint(x / scale), -qmax, qmax), ties to even; 0 when scale is 0.
inline int quantize_value(float x, float scale, int qmax) {
  if (scale == 0.0f) {
    return 0;
  }
  const float v = x / scale;
  const float limit = static_cast<float>(qmax);
  if (v >= limit) {
    return qmax;
  }
  if (v <= -limit) {
    return -qmax;
  }
  // |v| < 128 here: adding and subtracting 1.5 * 2^23 rounds to an integer with the current
  // rounding mode (to nearest, ties to even), exactly what std::nearbyint does, without a call.
  constexpr float round_magic = 12582912.0f;
  const float r = (v + round_magic) - round_magic;
  return static_cast<int>(r);
}

/// Value of code `q` at `scale`: q * scale in float32.
inline float dequantize_value(int q, float scale) { return static_cast<float>(q) * scale; }

namespace detail {
/// Throws Error(non_finite_input) for the non-finite value v found at flat index `index`.
[[noreturn]] inline void throw_non_finite(float v, std::size_t index, const char* who) {
  throw Error(ErrorCode::non_finite_input,
              std::string(who) + ": input element " + std::to_string(index) + " is " +
                  (std::isnan(v) ? std::string("NaN") : std::string("infinite")) +
                  "; quantized inputs must be finite");
}
} // namespace detail

/// max |x_i| over n values; throws Error(non_finite_input) if any value is NaN or +-Inf.
inline float checked_absmax(const float* x, std::size_t n) {
  float amax = 0.0f;
  for (std::size_t i = 0; i < n; ++i) {
    const float v = x[i];
    if (!std::isfinite(v)) {
      detail::throw_non_finite(v, i, "checked_absmax");
    }
    const float a = std::fabs(v);
    amax = a > amax ? a : amax;
  }
  return amax;
}

/// Throws Error(non_finite_input) if any of the n values is NaN or +-Inf.
inline void check_finite(const float* x, std::size_t n) { (void)checked_absmax(x, n); }

} // namespace sqformat::ref

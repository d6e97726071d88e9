// sqformat/reference/uniform.hpp: uniform symmetric baselines (docs/layouts.md "Uniform
// baselines"): a rows x K matrix at one width with one scale per row and group of g consecutive
// K elements. g = K is per token (activations) or per channel (weights); g = 128 is per group.
#pragma once

#include <sqformat/error.hpp>
#include <sqformat/reference/bitpack.hpp>
#include <sqformat/reference/detail/checks.hpp>
#include <sqformat/reference/quantize.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sqformat::ref {

struct UniformTensor {
  std::size_t rows = 0;
  std::size_t cols = 0;
  int bits = 8;
  std::size_t group = 0;          ///< g, divides cols
  std::vector<std::int8_t> codes; ///< rows x cols, one code per byte (unpacked)
  std::vector<float> scales;      ///< rows x groups_per_row()

  std::size_t groups_per_row() const { return cols / group; }
  float scale(std::size_t r, std::size_t k) const {
    return scales[r * groups_per_row() + k / group];
  }
};

/// Quantizes a row-major rows x cols matrix at `bits` (8, 4, 3 or 2) with groups of `group`
/// columns (cols % group == 0, else Error(shape_mismatch)).
inline UniformTensor quantize_uniform(const float* x, std::size_t rows, std::size_t cols, int bits,
                                      std::size_t group) {
  detail::check_pointer(x, "quantize_uniform", "x");
  detail::check_nonempty(rows, cols, "quantize_uniform");
  detail::check_bits(bits, "quantize_uniform");
  if (group == 0 || cols % group != 0) {
    throw Error(ErrorCode::shape_mismatch, "quantize_uniform: group " + std::to_string(group) +
                                               " does not divide K = " + std::to_string(cols) +
                                               "; use a divisor of K (K itself for per token)");
  }
  UniformTensor u;
  u.rows = rows;
  u.cols = cols;
  u.bits = bits;
  u.group = group;
  u.codes.assign(rows * cols, 0);
  u.scales.assign(rows * u.groups_per_row(), 0.0f);
  const int qmax = qmax_of_bits(bits);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t g = 0; g < u.groups_per_row(); ++g) {
      const std::size_t base = r * cols + g * group;
      float amax = 0.0f;
      for (std::size_t i = 0; i < group; ++i) {
        const float v = x[base + i];
        if (!std::isfinite(v)) {
          detail::throw_non_finite(v, base + i, "quantize_uniform");
        }
        const float a = std::fabs(v);
        amax = a > amax ? a : amax;
      }
      const float s = symmetric_scale(amax, qmax);
      u.scales[r * u.groups_per_row() + g] = s;
      for (std::size_t i = 0; i < group; ++i) {
        u.codes[base + i] = static_cast<std::int8_t>(quantize_value(x[base + i], s, qmax));
      }
    }
  }
  return u;
}

/// Dequantizes to a row-major rows x cols float32 matrix.
inline void dequantize(const UniformTensor& u, float* out) {
  for (std::size_t r = 0; r < u.rows; ++r) {
    for (std::size_t k = 0; k < u.cols; ++k) {
      out[r * u.cols + k] = dequantize_value(u.codes[r * u.cols + k], u.scale(r, k));
    }
  }
}

/// Exact float64 dequantization (the oracle's input).
inline std::vector<double> dequantize_double(const UniformTensor& u) {
  std::vector<double> out(u.rows * u.cols);
  for (std::size_t r = 0; r < u.rows; ++r) {
    for (std::size_t k = 0; k < u.cols; ++k) {
      out[r * u.cols + k] = double(u.codes[r * u.cols + k]) * double(u.scale(r, k));
    }
  }
  return out;
}

/// The codes packed row by row at u.bits (row stride packed_bytes(cols, bits)), as device
/// kernels read them.
inline std::vector<std::uint8_t> pack_rows(const UniformTensor& u) {
  const std::size_t stride = packed_bytes(u.cols, u.bits);
  std::vector<std::uint8_t> out(u.rows * stride);
  for (std::size_t r = 0; r < u.rows; ++r) {
    pack_codes(u.codes.data() + r * u.cols, u.cols, u.bits, out.data() + r * stride);
  }
  return out;
}

} // namespace sqformat::ref

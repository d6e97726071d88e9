// sqformat/reference/product_common.hpp: what every reference product shares: scale segments,
// exact per-path integer sums, the float32 epilogue and its error bound (docs/layouts.md,
// "Products and the order scales are applied").
//
// Y[m, n] = sum_k X[m, k] * W[n, k], an M x N float32 matrix. An integer product splits K into
// *segments*: maximal K ranges over which every scale involved is constant. Each segment carries
// one *path*: for an SQ operand, every K range appears twice, first with the low path (its low
// elements) then with the high path; for a static split, segments of the high block are high and
// those of the low block low. Per (m, n, segment) the integer sum is exact (int64 here; device
// kernels accumulate the same sums in int32). The epilogue, in float32:
//
//   acc = 0;  for s in segments (in order):  acc += (s_x * s_w) * float(int_sum[m, n, s]);
#pragma once

#include <sqformat/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sqformat::ref {

/// Which elements of a segment a sum covers: the low or the high ones.
enum class Path : std::uint8_t { low = 0, high = 1 };

/// One scale-constant K range of one path. For static splits k is the PERMUTED column index.
struct Segment {
  std::size_t k_begin = 0;
  std::size_t k_end = 0;
  Path path = Path::low;
};

/// Exact integer sums of one product, per (m, n, segment).
struct PathSums {
  std::size_t rows = 0; ///< M
  std::size_t cols = 0; ///< N
  std::vector<Segment> segments;
  std::vector<std::int64_t> sums; ///< index (m * N + n) * segments.size() + s

  std::int64_t at(std::size_t m, std::size_t n, std::size_t s) const {
    return sums[(m * cols + n) * segments.size() + s];
  }
};

/// A reference product: its result, the exact sums it came from (integer paths only) and a
/// bound on |y - exact product of the quantized operands| that the float32 epilogue guarantees.
struct ProductResult {
  PathSums sums;             ///< empty for the float-activation path
  std::vector<float> y;      ///< M x N
  std::vector<double> bound; ///< M x N
};

/// gamma_n = n u / (1 - n u), the classic bound of n float32 roundings, u = 2^-24.
inline double gamma32(std::size_t n) {
  const double nu = static_cast<double>(n) * std::ldexp(1.0, -24);
  return nu / (1.0 - nu);
}

/// The same for float64, u = 2^-53 (used for the float64 oracle's own rounding).
inline double gamma64(std::size_t n) {
  const double nu = static_cast<double>(n) * std::ldexp(1.0, -53);
  return nu / (1.0 - nu);
}

namespace detail {

/// Sorted, de-duplicated union of cut points.
inline std::vector<std::size_t> merge_cuts(std::vector<std::size_t> a,
                                           const std::vector<std::size_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end());
  a.erase(std::unique(a.begin(), a.end()), a.end());
  return a;
}

/// begin, begin + period, ..., end.
inline std::vector<std::size_t> regular_cuts(std::size_t begin, std::size_t end,
                                             std::size_t period) {
  std::vector<std::size_t> c;
  for (std::size_t k = begin; k < end; k += period) {
    c.push_back(k);
  }
  c.push_back(end);
  return c;
}

/// Applies the epilogue to sums. scales(m, n, segment) returns the two float32 scales (x side
/// first) of that segment. Fills y and the bound: every term is rounded three times (scale product,
/// int -> float, product) and the float32 sum of S terms adds gamma_{S-1}; a scale product in the
/// subnormal range is off by up to one denormal unit absolute, times |int_sum|.
template <class Scales> ProductResult epilogue(PathSums sums, Scales scales) {
  ProductResult r;
  const std::size_t S = sums.segments.size();
  r.y.assign(sums.rows * sums.cols, 0.0f);
  r.bound.assign(sums.rows * sums.cols, 0.0);
  const double g = gamma32(S + 3); // +1 over S+2 absorbs the float64 rounding of |terms|
  const double denorm = std::ldexp(1.0, -149);
  for (std::size_t m = 0; m < sums.rows; ++m) {
    for (std::size_t n = 0; n < sums.cols; ++n) {
      float acc = 0.0f;
      double magnitude = 0.0;
      double underflow = 0.0;
      for (std::size_t s = 0; s < S; ++s) {
        const auto [sx, sw] = scales(m, n, sums.segments[s]);
        const std::int64_t isum = sums.at(m, n, s);
        acc += (sx * sw) * static_cast<float>(isum);
        magnitude += std::fabs(double(sx) * double(sw) * double(isum));
        // A subnormal scale product is off by up to one denormal unit, scaled by the sum.
        underflow += (std::fabs(double(isum)) + 2.0) * denorm;
      }
      r.y[m * sums.cols + n] = acc;
      r.bound[m * sums.cols + n] = g * magnitude + underflow;
    }
  }
  r.sums = std::move(sums);
  return r;
}

/// Exact sum over k in [k0, k1) of a[k] * b[k].
inline std::int64_t dot_codes(const std::int8_t* a, const std::int8_t* b, std::size_t k0,
                              std::size_t k1) {
  std::int64_t s = 0;
  for (std::size_t k = k0; k < k1; ++k) {
    s += static_cast<std::int64_t>(a[k]) * static_cast<std::int64_t>(b[k]);
  }
  return s;
}

[[noreturn]] inline void throw_k_mismatch(std::size_t kx, std::size_t kw, const char* who) {
  throw Error(ErrorCode::shape_mismatch, std::string(who) + ": X has K = " + std::to_string(kx) +
                                             " columns but W has K = " + std::to_string(kw));
}

} // namespace detail

/// Float64 oracle: Y[m, n] = sum_k x[m, k] * w[n, k] for row-major x (M x K) and w (N x K).
inline std::vector<double> oracle_matmul(const double* x, const double* w, std::size_t M,
                                         std::size_t N, std::size_t K) {
  std::vector<double> y(M * N, 0.0);
  for (std::size_t m = 0; m < M; ++m) {
    for (std::size_t n = 0; n < N; ++n) {
      double acc = 0.0;
      for (std::size_t k = 0; k < K; ++k) {
        acc += x[m * K + k] * w[n * K + k];
      }
      y[m * N + n] = acc;
    }
  }
  return y;
}

} // namespace sqformat::ref

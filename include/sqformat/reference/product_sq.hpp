// sqformat/reference/product_sq.hpp: products with one SQ-tensor operand.
//
//   W(SQ) . A_float    sq_weight_times_float    (spec 1.1, activations kept in float)
//   W(SQ) . A_int      sq_weight_times_uniform  (A uniform INT8 / INT4, per token or per group)
//   W_int . A(SQ)      uniform_weight_times_sq  (spec 1.3, dynamic SQ activations)
//
// Integer paths: segments are the banks intersected with the uniform operand's groups, in
// increasing K; every K range contributes its low path, then its high path. The low path reads
// the dense low codes with the sentinels (high positions) as 0; the high path reads the H high
// codes of the bank at their positions.
#pragma once

#include <sqformat/reference/detail/checks.hpp>
#include <sqformat/reference/product_common.hpp>
#include <sqformat/reference/sq_tensor.hpp>
#include <sqformat/reference/uniform.hpp>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace sqformat::ref {

namespace detail {

/// Dense low / high code planes of an SQ tensor: low[r, k] is 0 at high positions, high[r, k] is
/// 0 at low positions.
template <class C> struct SqPlanes {
  std::vector<std::int8_t> low, high;
  explicit SqPlanes(const SqTensor<C>& t) : low(t.rows * t.cols), high(t.rows * t.cols) {
    for (std::size_t r = 0; r < t.rows; ++r) {
      unpack_sq_row(t, r, low.data() + r * t.cols, high.data() + r * t.cols);
    }
  }
};

/// Exact sums and epilogue of an SQ operand against a uniform operand. sq_is_weight says which
/// side the SQ tensor is on (its rows are N if true, M otherwise).
template <class C>
ProductResult sq_times_uniform(const SqTensor<C>& sq, const UniformTensor& u, bool sq_is_weight,
                               const char* who) {
  if (sq.cols != u.cols) {
    throw_k_mismatch(sq_is_weight ? u.cols : sq.cols, sq_is_weight ? sq.cols : u.cols, who);
  }
  const std::size_t K = sq.cols;
  const std::vector<std::size_t> cuts =
      merge_cuts(regular_cuts(0, K, C::bank), regular_cuts(0, K, u.group));
  PathSums ps;
  ps.rows = sq_is_weight ? u.rows : sq.rows;
  ps.cols = sq_is_weight ? sq.rows : u.rows;
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    ps.segments.push_back({cuts[i], cuts[i + 1], Path::low});
    ps.segments.push_back({cuts[i], cuts[i + 1], Path::high});
  }
  const std::size_t S = ps.segments.size();
  ps.sums.assign(ps.rows * ps.cols * S, 0);
  const SqPlanes<C> planes(sq);
  for (std::size_t m = 0; m < ps.rows; ++m) {
    for (std::size_t n = 0; n < ps.cols; ++n) {
      const std::size_t rs = sq_is_weight ? n : m; // row of the SQ operand
      const std::size_t ru = sq_is_weight ? m : n; // row of the uniform operand
      const std::int8_t* uc = u.codes.data() + ru * K;
      for (std::size_t s = 0; s < S; ++s) {
        const Segment& g = ps.segments[s];
        const auto& plane = g.path == Path::low ? planes.low : planes.high;
        ps.sums[(m * ps.cols + n) * S + s] =
            dot_codes(plane.data() + rs * K, uc, g.k_begin, g.k_end);
      }
    }
  }
  const std::size_t banks = sq.banks();
  return epilogue(std::move(ps), [&](std::size_t m, std::size_t n, const Segment& g) {
    const std::size_t rs = sq_is_weight ? n : m;
    const std::size_t ru = sq_is_weight ? m : n;
    const std::size_t bi = rs * banks + g.k_begin / C::bank;
    const float s_sq = g.path == Path::low ? sq.scale_low[bi] : sq.scale_high[bi];
    const float s_u = u.scale(ru, g.k_begin);
    return sq_is_weight ? std::pair<float, float>{s_u, s_sq} : std::pair<float, float>{s_sq, s_u};
  });
}

} // namespace detail

/// W(SQ) . A_int with all details: W an N x K SqTensor, X an M x K uniform tensor (INT8 or INT4,
/// any group dividing K). Y is M x N.
template <class C>
ProductResult sq_weight_times_uniform_detailed(const SqTensor<C>& w, const UniformTensor& x) {
  return detail::sq_times_uniform(w, x, true, "sq_weight_times_uniform");
}
/// W(SQ) . A_int: the M x N float32 result.
template <class C>
std::vector<float> sq_weight_times_uniform(const SqTensor<C>& w, const UniformTensor& x) {
  return sq_weight_times_uniform_detailed(w, x).y;
}
/// W(SQ) . A_int: the exact per-path sums (what a device kernel's int32 accumulators must hold).
template <class C> PathSums sq_weight_int_sums(const SqTensor<C>& w, const UniformTensor& x) {
  return sq_weight_times_uniform_detailed(w, x).sums;
}

/// W_int . A(SQ) dynamic with all details: W an N x K uniform tensor (INT4 per channel or per
/// group), X an M x K SqTensor from quantize_dynamic. Y is M x N.
template <class C>
ProductResult uniform_weight_times_sq_detailed(const UniformTensor& w, const SqTensor<C>& x) {
  return detail::sq_times_uniform(x, w, false, "uniform_weight_times_sq");
}
template <class C>
std::vector<float> uniform_weight_times_sq(const UniformTensor& w, const SqTensor<C>& x) {
  return uniform_weight_times_sq_detailed(w, x).y;
}
template <class C>
PathSums uniform_weight_sq_int_sums(const UniformTensor& w, const SqTensor<C>& x) {
  return uniform_weight_times_sq_detailed(w, x).sums;
}

/// W(SQ) . A_float with its bound: X row-major M x K float32 (not quantized). Per (m, n) and
/// bank: term = s_low * sum_low(x * q) + s_high * sum_high(x * q) evaluated in float64 and rounded
/// once to float32; acc (float32) += term, banks in increasing K. A non-finite x throws
/// Error(non_finite_input): the product would be NaN or Inf, never a meaningful result.
template <class C>
ProductResult sq_weight_times_float_detailed(const SqTensor<C>& w, const float* x, std::size_t M) {
  detail::check_pointer(x, "sq_weight_times_float", "x");
  detail::check_nonempty(M, w.cols, "sq_weight_times_float");
  check_finite(x, M * w.cols);
  const std::size_t K = w.cols, N = w.rows, banks = w.banks();
  const detail::SqPlanes<C> planes(w);
  ProductResult r;
  r.y.assign(M * N, 0.0f);
  r.bound.assign(M * N, 0.0);
  const double g32 = gamma32(banks + 1);
  const double g64 = gamma64(C::bank + 3);
  for (std::size_t m = 0; m < M; ++m) {
    const float* xr = x + m * K;
    for (std::size_t n = 0; n < N; ++n) {
      const std::int8_t* lo = planes.low.data() + n * K;
      const std::int8_t* hi = planes.high.data() + n * K;
      float acc = 0.0f;
      double magnitude = 0.0;
      for (std::size_t bank = 0; bank < banks; ++bank) {
        double sum_lo = 0.0, sum_hi = 0.0, abs_lo = 0.0, abs_hi = 0.0;
        for (std::size_t k = bank * C::bank; k < (bank + 1) * C::bank; ++k) {
          sum_lo += double(xr[k]) * lo[k];
          sum_hi += double(xr[k]) * hi[k];
          abs_lo += std::fabs(double(xr[k]) * lo[k]);
          abs_hi += std::fabs(double(xr[k]) * hi[k]);
        }
        const double s_lo = w.scale_low[n * banks + bank];
        const double s_hi = w.scale_high[n * banks + bank];
        acc += static_cast<float>(s_lo * sum_lo + s_hi * sum_hi);
        magnitude += s_lo * abs_lo + s_hi * abs_hi;
      }
      r.y[m * N + n] = acc;
      r.bound[m * N + n] = (g32 + g64) * magnitude + double(banks) * std::ldexp(1.0, -149);
    }
  }
  return r;
}
template <class C>
std::vector<float> sq_weight_times_float(const SqTensor<C>& w, const float* x, std::size_t M) {
  return sq_weight_times_float_detailed(w, x, M).y;
}

} // namespace sqformat::ref

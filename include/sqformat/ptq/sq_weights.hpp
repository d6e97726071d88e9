// sqformat/ptq/sq_weights.hpp: SQ weights by Algorithm 1 (spec section 2), with GPTQ error
// compensation or plain round-to-nearest.
//
// Importance of weight (n, k): I = w^2 / d_k, ranked per (row, bank); the top H are high.
//   Saliency::inverse_diagonal   d_k = ([H^{-1}]_kk)^2, the paper's formula (default)
//   Saliency::cholesky_diagonal  d_k = U_kk^2 = [H_{k:,k:}^{-1}]_kk, the OBS saliency of column k
//                                once the columns before it are fixed (SparseGPT's form)
//
// GPTQ-SQ (Decision, documented in docs/ptq.md): columns are quantized in K order in lazy blocks
// (gptq_loop.hpp). When a bank of a row is reached, its mask is chosen from the row's CURRENT
// weights (all errors of earlier columns applied), and the two scales are computed from the same
// current weights: scale_high = amax(high)/high_qmax, scale_low = amax(low)/low_qmax. The bank's
// columns are then rounded in order with those fixed scales; a later column of the bank that grew
// past its scale's range is clamped, and its error is compensated like any other.
//
// The result is an ref::SqTensor<C> built from the exact codes and scales GPTQ chose, so
// ref::dequantize gives back exactly the values GPTQ decided (no re-quantization).
#pragma once

#include <sqformat/error.hpp>
#include <sqformat/ptq/gptq_loop.hpp>
#include <sqformat/ptq/inverse_hessian.hpp>
#include <sqformat/reference/bitpack.hpp>
#include <sqformat/reference/quantize.hpp>
#include <sqformat/reference/selection.hpp>
#include <sqformat/reference/sq_tensor.hpp>

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sqformat::ptq {

enum class Saliency { inverse_diagonal, cholesky_diagonal };

struct SqWeightOptions {
  std::size_t block = 128; ///< GPTQ lazy-batch block (columns)
  DampingOptions damping;
  Saliency saliency = Saliency::inverse_diagonal;
};

template <class C> struct SqWeights {
  ref::SqTensor<C> tensor;
  std::vector<std::uint8_t> high_mask; ///< N x K, 1 = high
  std::vector<float> values;           ///< N x K, the dequantized weights (= ref::dequantize)
  double damping_percent = 0.0;        ///< dampening that was used (after automatic increases)
  int damping_attempts = 0;
};

/// d_k of the importance I = w^2 / d_k for the chosen saliency.
inline std::vector<double> saliency_denominators(const InverseHessianFactor& f, Saliency s) {
  std::vector<double> d(f.k);
  for (std::size_t i = 0; i < f.k; ++i) {
    const double v = s == Saliency::inverse_diagonal ? f.inverse_diagonal[i] : f.upper[i * f.k + i];
    d[i] = v * v;
  }
  return d;
}

/// Importance w^2 / d as a finite float score (overflow clamps to FLT_MAX).
inline float importance_score(float w, double d) {
  const double v = static_cast<double>(w) * static_cast<double>(w) / d;
  return v < static_cast<double>(FLT_MAX) ? static_cast<float>(v) : FLT_MAX;
}

/// Packs exact codes into an SqTensor: `codes` (N x K) holds each element's code in its own set
/// (high or low, per `mask`), scales are N x (K/b). Nothing is re-rounded.
template <class C>
ref::SqTensor<C> assemble_sq_tensor(std::size_t n, std::size_t k, const std::int8_t* codes,
                                    const std::uint8_t* mask, const float* scale_low,
                                    const float* scale_high) {
  ref::SqTensor<C> t = ref::make_sq_tensor<C>(n, k);
  std::vector<std::int8_t> low(k), high(t.high_cols());
  for (std::size_t r = 0; r < n; ++r) {
    std::size_t hj = 0;
    for (std::size_t c = 0; c < k; ++c) {
      const std::int8_t q = codes[r * k + c];
      if (mask[r * k + c]) {
        low[c] = static_cast<std::int8_t>(C::low_sentinel);
        if (hj == t.high_cols()) {
          throw Error(ErrorCode::bad_mask,
                      "assemble_sq_tensor: too many high elements in row " + std::to_string(r));
        }
        high[hj++] = q;
      } else {
        low[c] = q;
      }
    }
    ref::pack_codes(low.data(), k, C::low_bits, t.low.data() + r * t.low_row_bytes);
    ref::pack_codes(high.data(), t.high_cols(), C::high_bits, t.high.data() + r * t.high_row_bytes);
  }
  for (std::size_t i = 0; i < n * t.banks(); ++i) {
    t.scale_low[i] = scale_low[i];
    t.scale_high[i] = scale_high[i];
  }
  ref::validate(t);
  return t;
}

namespace detail {

inline void check_weights(const float* w, std::size_t n, std::size_t k, std::size_t hk,
                          const char* who) {
  if (w == nullptr || n == 0 || k == 0) {
    throw Error(ErrorCode::invalid_argument, std::string(who) + ": weights are null or empty");
  }
  if (hk != k) {
    throw Error(ErrorCode::shape_mismatch, std::string(who) +
                                               ": the Hessian is for K = " + std::to_string(hk) +
                                               " but W has K = " + std::to_string(k));
  }
  ref::check_finite(w, n * k);
}

/// GPTQ quantizer of SQ banks: mask + scales at bank start, then per-column rounding.
template <class C> class SqBankQuantizer {
public:
  SqBankQuantizer(std::size_t n, std::size_t k, const std::vector<double>& denom)
      : k_(k), denom_(denom), mask_(n * k), codes_(n * k), scale_low_(n * k / C::bank),
        scale_high_(n * k / C::bank) {}

  std::size_t group() const { return C::bank; }

  void begin_group(std::size_t r, std::size_t k0, const float* w, std::size_t) {
    float score[C::bank];
    for (int i = 0; i < C::bank; ++i) {
      score[i] = importance_score(w[i], denom_[k0 + i]);
    }
    const std::vector<std::uint8_t> m = ref::select_top_h<C>(score, 1, C::bank);
    float amax_high = 0.0f, amax_low = 0.0f;
    for (int i = 0; i < C::bank; ++i) {
      mask_[r * k_ + k0 + i] = m[i];
      const float a = std::fabs(w[i]);
      float& amax = m[i] ? amax_high : amax_low;
      amax = a > amax ? a : amax;
    }
    const std::size_t s = (r * k_ + k0) / C::bank;
    scale_high_[s] = ref::symmetric_scale(amax_high, C::high_qmax);
    scale_low_[s] = ref::symmetric_scale(amax_low, C::low_qmax);
  }

  float quantize(std::size_t r, std::size_t c, float w) {
    const std::size_t s = (r * k_ + c) / C::bank;
    const bool high = mask_[r * k_ + c] != 0;
    const float scale = high ? scale_high_[s] : scale_low_[s];
    const int q = ref::quantize_value(w, scale, high ? C::high_qmax : C::low_qmax);
    codes_[r * k_ + c] = static_cast<std::int8_t>(q);
    return ref::dequantize_value(q, scale);
  }

  std::size_t k_;
  const std::vector<double>& denom_;
  std::vector<std::uint8_t> mask_;
  std::vector<std::int8_t> codes_;
  std::vector<float> scale_low_, scale_high_;
};

} // namespace detail

/// GPTQ-compensated SQ weights from an already factored inverse Hessian.
template <class C>
SqWeights<C> quantize_weights_sq_gptq(const float* w, std::size_t n, std::size_t k,
                                      const InverseHessianFactor& f,
                                      Saliency saliency = Saliency::inverse_diagonal,
                                      std::size_t block = 128) {
  detail::check_weights(w, n, k, f.k, "quantize_weights_sq_gptq");
  if (k % C::bank != 0) {
    throw Error(ErrorCode::k_not_multiple_of_bank,
                "quantize_weights_sq_gptq: K = " + std::to_string(k) +
                    " is not a multiple of the bank size " + std::to_string(C::bank));
  }
  const std::vector<double> denom = saliency_denominators(f, saliency);
  const std::vector<float> u = to_float(f.upper);
  std::vector<float> work(w, w + n * k);
  detail::SqBankQuantizer<C> q(n, k, denom);
  gptq_quantize(work.data(), n, k, u.data(), block, q);
  SqWeights<C> out;
  out.tensor = assemble_sq_tensor<C>(n, k, q.codes_.data(), q.mask_.data(), q.scale_low_.data(),
                                     q.scale_high_.data());
  out.high_mask = std::move(q.mask_);
  out.values = std::move(work);
  out.damping_percent = f.damping_percent;
  out.damping_attempts = f.attempts;
  return out;
}

/// GPTQ-compensated SQ weights from the Hessian H (K x K, e.g. CalibrationStats::hessian()).
template <class C>
SqWeights<C> quantize_weights_sq_gptq(const float* w, std::size_t n, std::size_t k,
                                      const std::vector<double>& h,
                                      const SqWeightOptions& opt = {}) {
  if (h.size() != k * k) {
    throw Error(ErrorCode::shape_mismatch, "quantize_weights_sq_gptq: H is not K x K");
  }
  const InverseHessianFactor f = factor_inverse_hessian(h.data(), k, opt.damping);
  return quantize_weights_sq_gptq<C>(w, n, k, f, opt.saliency, opt.block);
}

/// The importance mask of Algorithm 1 on the ORIGINAL weights (no compensation).
template <class C>
std::vector<std::uint8_t> weight_importance_mask(const float* w, std::size_t n, std::size_t k,
                                                 const InverseHessianFactor& f, Saliency saliency) {
  detail::check_weights(w, n, k, f.k, "weight_importance_mask");
  const std::vector<double> denom = saliency_denominators(f, saliency);
  std::vector<float> score(n * k);
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t c = 0; c < k; ++c) {
      score[r * k + c] = importance_score(w[r * k + c], denom[c]);
    }
  }
  return ref::select_top_h<C>(score.data(), n, k);
}

/// Round-to-nearest SQ weights with the same importance masks (the comparison for GPTQ-SQ).
template <class C>
SqWeights<C> quantize_weights_sq_rtn(const float* w, std::size_t n, std::size_t k,
                                     const InverseHessianFactor& f,
                                     Saliency saliency = Saliency::inverse_diagonal) {
  SqWeights<C> out;
  out.high_mask = weight_importance_mask<C>(w, n, k, f, saliency);
  out.tensor = ref::pack_sq<C>(w, n, k, out.high_mask.data());
  out.values.resize(n * k);
  ref::dequantize(out.tensor, out.values.data());
  out.damping_percent = f.damping_percent;
  out.damping_attempts = f.attempts;
  return out;
}

} // namespace sqformat::ptq

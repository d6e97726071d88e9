// sqformat/ptq/smoothing.hpp: SmoothQuant smoothing (spec section 2, Algorithm 1 step 1).
//
// Per input channel j: t_j = max|X_j|^alpha / max|W_j|^(1-alpha), with max|W_j| over the output
// rows of the layer. X <- X / t and W <- W * t leave X W^T unchanged up to rounding, and move the
// activation outliers into the weights. The caller folds 1/t into the op that produces X (the
// LayerNorm/RMSNorm gain and bias, or the previous linear layer's output rows), so inference pays
// nothing for it.
//
// Zero cases (Decision): a channel with max|X_j| = 0 or max|W_j| = 0 gets t_j = 1 (nothing to
// balance; any other value would be 0 or infinite). A factor that is not a positive finite float
// (overflow/underflow of extreme ranges) is also replaced by 1.
#pragma once

#include <sqformat/error.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

namespace sqformat::ptq {

/// Smoothing factors t (length K). `act_max_abs`: max|X_j| from calibration (length K);
/// `w`: N x K row-major weights. alpha in [0, 1], else Error(invalid_argument).
inline std::vector<float> smoothing_factors(const float* act_max_abs, const float* w, std::size_t n,
                                            std::size_t k, double alpha) {
  if (act_max_abs == nullptr || w == nullptr) {
    throw Error(ErrorCode::invalid_argument, "smoothing_factors: a pointer is null");
  }
  if (n == 0 || k == 0) {
    throw Error(ErrorCode::shape_mismatch, "smoothing_factors: N and K must be positive");
  }
  if (!(alpha >= 0.0 && alpha <= 1.0)) {
    throw Error(ErrorCode::invalid_argument,
                "smoothing_factors: alpha must lie in [0, 1] (0.5 is the usual choice)");
  }
  std::vector<double> w_max(k, 0.0);
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t j = 0; j < k; ++j) {
      const float v = w[r * k + j];
      if (!std::isfinite(v)) {
        throw Error(ErrorCode::non_finite_input, "smoothing_factors: weight (" + std::to_string(r) +
                                                     ", " + std::to_string(j) +
                                                     ") is NaN or infinite");
      }
      w_max[j] = std::fmax(w_max[j], std::fabs(static_cast<double>(v)));
    }
  }
  std::vector<float> t(k, 1.0f);
  for (std::size_t j = 0; j < k; ++j) {
    const double a = act_max_abs[j];
    if (!std::isfinite(a) || a < 0.0) {
      throw Error(ErrorCode::non_finite_input, "smoothing_factors: max|X_" + std::to_string(j) +
                                                   "| is negative, NaN or infinite");
    }
    if (a == 0.0 || w_max[j] == 0.0) {
      continue;
    }
    const double f = std::pow(a, alpha) / std::pow(w_max[j], 1.0 - alpha);
    const float ff = static_cast<float>(f);
    if (std::isfinite(ff) && ff >= std::numeric_limits<float>::min()) {
      t[j] = ff;
    }
  }
  return t;
}

/// W <- W * t (column j of the N x K weights scaled by t_j), in place.
inline void smooth_weights(float* w, std::size_t n, std::size_t k, const std::vector<float>& t) {
  if (t.size() != k) {
    throw Error(ErrorCode::shape_mismatch, "smooth_weights: t has " + std::to_string(t.size()) +
                                               " factors, K = " + std::to_string(k));
  }
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t j = 0; j < k; ++j) {
      w[r * k + j] *= t[j];
    }
  }
}

/// X <- X / t (channel j of the M x K activations divided by t_j), in place. In a model this
/// division is folded into the producer of X; this function is for tests and offline studies.
inline void smooth_activations(float* x, std::size_t m, std::size_t k,
                               const std::vector<float>& t) {
  if (t.size() != k) {
    throw Error(ErrorCode::shape_mismatch, "smooth_activations: t has " + std::to_string(t.size()) +
                                               " factors, K = " + std::to_string(k));
  }
  for (std::size_t r = 0; r < m; ++r) {
    for (std::size_t j = 0; j < k; ++j) {
      x[r * k + j] /= t[j];
    }
  }
}

/// The Hessian of the smoothed inputs from the unsmoothed one: H'_ij = H_ij / (t_i t_j), so
/// calibration does not have to run again after smoothing. Also apply to mean/max |X_j| (÷ t_j).
inline void smooth_hessian(std::vector<double>& h, const std::vector<float>& t) {
  const std::size_t k = t.size();
  if (h.size() != k * k) {
    throw Error(ErrorCode::shape_mismatch,
                "smooth_hessian: H is not K x K for K = " + std::to_string(k));
  }
  for (std::size_t i = 0; i < k; ++i) {
    for (std::size_t j = 0; j < k; ++j) {
      h[i * k + j] /= static_cast<double>(t[i]) * static_cast<double>(t[j]);
    }
  }
}

} // namespace sqformat::ptq

// sqformat/ptq/inverse_hessian.hpp: the dampened Hessian's inverse in the form GPTQ consumes.
//
// GPTQ (Frantar et al. 2023) quantizes columns in K order; the inverse Hessian of the columns not
// yet quantized, after column k is fixed, is read off the upper Cholesky factor U of H^{-1}
// (H^{-1} = U^T U): row k of U, divided by U_kk, is exactly how column k's rounding error spreads
// over columns > k, and U_kk^2 is the OBS denominator [H_{k:,k:}^{-1}]_kk.
//
// Dampening: H + lambda I with lambda = percent * mean(diag H) (percent 0.01 by default). If a
// Cholesky factorization fails (H singular or ill-conditioned, e.g. fewer tokens than channels),
// percent is multiplied by `growth` (x10) and tried again, up to `max_attempts` times; a zero
// percent restarts at 1e-4. If every attempt fails: Error(numerical_failure).
// Dead channels (H_kk = 0: the channel was never non-zero in calibration) get H_kk = 1 first,
// as in GPTQ; their weights are still quantized, they just receive no error compensation.
#pragma once

#include <sqformat/error.hpp>
#include <sqformat/ptq/spd_matrix.hpp>

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

namespace sqformat::ptq {

struct DampingOptions {
  double percent = 0.01; ///< lambda = percent * mean(diag H) on the first attempt
  double growth = 10.0;  ///< factor applied to percent after a failed attempt
  int max_attempts = 6;  ///< attempts before Error(numerical_failure)
};

struct InverseHessianFactor {
  std::size_t k = 0;
  std::vector<double> upper;            ///< U (k x k, row-major, upper): H_damped^{-1} = U^T U
  std::vector<double> inverse_diagonal; ///< [H_damped^{-1}]_kk (the full inverse's diagonal)
  double damping_percent = 0.0;         ///< the percent that succeeded
  double damping = 0.0;                 ///< the lambda added to the diagonal
  int attempts = 0;                     ///< 1 if the first dampening worked
  std::size_t dead_channels = 0;        ///< channels with H_kk = 0 (set to 1)
};

/// Factors H (k x k, row-major, symmetric, float64) for GPTQ. See the header comment.
inline InverseHessianFactor factor_inverse_hessian(const double* h, std::size_t k,
                                                   const DampingOptions& opt = {}) {
  if (h == nullptr || k == 0) {
    throw Error(ErrorCode::invalid_argument, "factor_inverse_hessian: H is null or empty");
  }
  if (!(opt.percent >= 0.0) || !(opt.growth > 1.0) || opt.max_attempts < 1) {
    throw Error(ErrorCode::invalid_argument,
                "factor_inverse_hessian: need percent >= 0, growth > 1, max_attempts >= 1");
  }
  std::vector<double> base(h, h + k * k);
  InverseHessianFactor f;
  f.k = k;
  double diag_sum = 0.0;
  for (std::size_t i = 0; i < k * k; ++i) {
    if (!std::isfinite(base[i])) {
      throw Error(ErrorCode::non_finite_input,
                  "factor_inverse_hessian: H has a NaN or infinite entry at (" +
                      std::to_string(i / k) + ", " + std::to_string(i % k) + ")");
    }
  }
  for (std::size_t i = 0; i < k; ++i) {
    if (base[i * k + i] == 0.0) {
      base[i * k + i] = 1.0;
      ++f.dead_channels;
    }
    diag_sum += base[i * k + i];
  }
  const double mean_diag = diag_sum / static_cast<double>(k);
  double percent = opt.percent;
  std::vector<double> a(k * k);
  double last_tried = percent;
  for (int attempt = 1; attempt <= opt.max_attempts; ++attempt) {
    const double lambda = percent * mean_diag;
    // An element loop, not `a = base`: g++ 13 -O3 reports a false stringop-overflow on the
    // vector copy-assignment here.
    for (std::size_t i = 0; i < k * k; ++i) {
      a[i] = base[i];
    }
    for (std::size_t i = 0; i < k; ++i) {
      a[i * k + i] += lambda;
    }
    if (lambda >= 0.0 && cholesky_lower_in_place(a.data(), k)) {
      std::vector<double> inv = spd_inverse_from_cholesky(a.data(), k);
      f.inverse_diagonal.resize(k);
      for (std::size_t i = 0; i < k; ++i) {
        f.inverse_diagonal[i] = inv[i * k + i];
      }
      // Lower Cholesky of H^{-1} = L2 L2^T, so U = L2^T.
      if (cholesky_lower_in_place(inv.data(), k)) {
        f.upper.assign(k * k, 0.0);
        for (std::size_t i = 0; i < k; ++i) {
          for (std::size_t j = 0; j <= i; ++j) {
            f.upper[j * k + i] = inv[i * k + j];
          }
        }
        f.damping_percent = percent;
        f.damping = lambda;
        f.attempts = attempt;
        return f;
      }
    }
    last_tried = percent;
    percent = percent > 0.0 ? percent * opt.growth : 1e-4;
  }
  throw Error(ErrorCode::numerical_failure,
              "factor_inverse_hessian: H + lambda*I is not positive definite even with " +
                  std::to_string(opt.max_attempts) +
                  " dampening attempts (last percent of the mean diagonal tried: " +
                  std::to_string(last_tried) +
                  "); check the calibration data or raise DampingOptions::percent");
}

} // namespace sqformat::ptq

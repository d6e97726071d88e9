// sqformat/ptq/layer_error.hpp: the error measures PTQ minimizes, in float64.
//
//   output_error:            || X W^T - X What^T ||_F         (M x K inputs, N x K weights)
//   hessian_weighted_error:  sum_n (w_n - what_n) H (w_n - what_n)^T = (2/M) ||X (W - What)^T||_F^2
//                            for H = 2 X^T X / M: the same measure from calibration statistics.
#pragma once

#include <sqformat/error.hpp>

#include <cmath>
#include <cstddef>
#include <vector>

namespace sqformat::ptq {

inline double output_error(const float* x, std::size_t m, std::size_t k, const float* w,
                           const float* w_hat, std::size_t n) {
  if (x == nullptr || w == nullptr || w_hat == nullptr) {
    throw Error(ErrorCode::invalid_argument, "output_error: a pointer is null");
  }
  std::vector<double> d(k);
  double sum = 0.0;
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t j = 0; j < k; ++j) {
      d[j] = static_cast<double>(w[r * k + j]) - static_cast<double>(w_hat[r * k + j]);
    }
    for (std::size_t t = 0; t < m; ++t) {
      double y = 0.0;
      for (std::size_t j = 0; j < k; ++j) {
        y += static_cast<double>(x[t * k + j]) * d[j];
      }
      sum += y * y;
    }
  }
  return std::sqrt(sum);
}

inline double hessian_weighted_error(const std::vector<double>& h, const float* w,
                                     const float* w_hat, std::size_t n, std::size_t k) {
  if (h.size() != k * k || w == nullptr || w_hat == nullptr) {
    throw Error(ErrorCode::shape_mismatch, "hessian_weighted_error: H is not K x K or null W");
  }
  std::vector<double> d(k);
  double sum = 0.0;
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t j = 0; j < k; ++j) {
      d[j] = static_cast<double>(w[r * k + j]) - static_cast<double>(w_hat[r * k + j]);
    }
    for (std::size_t i = 0; i < k; ++i) {
      double hd = 0.0;
      for (std::size_t j = 0; j < k; ++j) {
        hd += h[i * k + j] * d[j];
      }
      sum += d[i] * hd;
    }
  }
  return sum;
}

} // namespace sqformat::ptq

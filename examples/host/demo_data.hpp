// Synthetic operands and error metrics of the host demo.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace demo {

/// One linear layer's operands, row-major: X is M x K activations, W is N x K weights.
struct Problem {
  std::size_t M = 0, N = 0, K = 0;
  std::vector<float> x, w;
};

/// Weights: Gaussian with a slightly heavier tail (0.1% of entries 4x larger). Activations:
/// Gaussian per channel with a log-normal channel magnitude, and 1% outlier channels 20x larger,
/// the structure that makes a few input channels worth keeping in high precision.
inline Problem make_problem(std::size_t M, std::size_t N, std::size_t K, std::uint64_t seed) {
  Problem p{M, N, K, std::vector<float>(M * K), std::vector<float>(N * K)};
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> channel(K);
  for (auto& c : channel) {
    c = std::exp(0.5f * gauss(rng)) * (unit(rng) < 0.01f ? 20.0f : 1.0f);
  }
  for (std::size_t i = 0; i < M * K; ++i) {
    p.x[i] = gauss(rng) * channel[i % K];
  }
  const float w_std = 1.0f / std::sqrt(static_cast<float>(K));
  for (auto& v : p.w) {
    v = gauss(rng) * w_std * (unit(rng) < 0.001f ? 4.0f : 1.0f);
  }
  return p;
}

/// Y = X * W^T in float64 for row-major X (M x K) and the first n rows of W (N x K); Y is M x n.
/// Either operand may be float or double.
template <class TX, class TW>
std::vector<double> matmul_f64(const TX* x, const TW* w, std::size_t M, std::size_t n,
                               std::size_t K) {
  std::vector<double> y(M * n);
  std::vector<double> xr(K);
  for (std::size_t m = 0; m < M; ++m) {
    for (std::size_t k = 0; k < K; ++k) {
      xr[k] = static_cast<double>(x[m * K + k]);
    }
    for (std::size_t j = 0; j < n; ++j) {
      const TW* wr = w + j * K;
      // Four partial sums: independent chains keep the float64 units busy.
      double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
      std::size_t k = 0;
      for (; k + 4 <= K; k += 4) {
        a0 += xr[k] * static_cast<double>(wr[k]);
        a1 += xr[k + 1] * static_cast<double>(wr[k + 1]);
        a2 += xr[k + 2] * static_cast<double>(wr[k + 2]);
        a3 += xr[k + 3] * static_cast<double>(wr[k + 3]);
      }
      for (; k < K; ++k) {
        a0 += xr[k] * static_cast<double>(wr[k]);
      }
      y[m * n + j] = (a0 + a1) + (a2 + a3);
    }
  }
  return y;
}

/// ||y - ref||_F / ||ref||_F, with y float or double. NaN if the sizes differ.
template <class T>
double relative_frobenius(const std::vector<T>& y, const std::vector<double>& ref) {
  if (y.size() != ref.size()) {
    return std::nan("");
  }
  double diff = 0.0, norm = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double d = static_cast<double>(y[i]) - ref[i];
    diff += d * d;
    norm += ref[i] * ref[i];
  }
  return std::sqrt(diff / norm);
}

} // namespace demo

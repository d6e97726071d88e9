// Test data for the PTQ tests: random seeds, correlated activations, weights with outliers.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace ptq_test {

/// A fresh seed per run (printed by the tests with CAPTURE so a failure can be replayed).
inline std::uint64_t fresh_seed() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

inline std::vector<float> gaussian(std::size_t count, std::mt19937_64& rng, float sigma = 1.0f) {
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(count);
  for (float& x : v) {
    x = d(rng);
  }
  return v;
}

/// M x K activations with strongly correlated channels, as LLM activations are: a rank-`factors`
/// common part plus independent noise, and per-channel magnitudes spread over ~an order of
/// magnitude.
inline std::vector<float> correlated_activations(std::size_t m, std::size_t k, std::mt19937_64& rng,
                                                 std::size_t factors = 8, float noise = 0.3f) {
  const std::vector<float> mix = gaussian(factors * k, rng);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> scale(k);
  for (float& s : scale) {
    s = std::exp(0.6f * g(rng));
  }
  std::vector<float> x(m * k);
  std::vector<float> f(factors);
  for (std::size_t t = 0; t < m; ++t) {
    for (float& v : f) {
      v = g(rng);
    }
    for (std::size_t j = 0; j < k; ++j) {
      float v = noise * g(rng);
      for (std::size_t r = 0; r < factors; ++r) {
        v += f[r] * mix[r * k + j];
      }
      x[t * k + j] = scale[j] * v;
    }
  }
  return x;
}

} // namespace ptq_test

// Shared helpers of the reference tests: the configuration list, seeded generators and
// adversarial inputs.
#pragma once

#include <sqformat/config.hpp>
#include <sqformat/error.hpp>

#include <algorithm>
#include <cmath>
#include <optional>

#include <cstddef>
#include <cstdint>
#include <random>
#include <tuple>
#include <vector>

namespace sqtest {

// (b, H, high, low) configurations every templated test runs over.
using Configs = std::tuple<sqformat::SqConfig<4, 2, 8, 4>, sqformat::SqConfig<16, 4, 8, 4>,
                           sqformat::SqConfig<32, 8, 8, 4>, sqformat::SqConfig<64, 8, 8, 4>,
                           sqformat::SqConfig<128, 8, 8, 4>, sqformat::SqConfig<64, 16, 8, 2>,
                           sqformat::SqConfig<64, 32, 8, 3>, sqformat::SqConfig<16, 8, 4, 2>>;

/// A fresh seed per call (std::random_device); tests CAPTURE it so a failure can be replayed.
inline std::uint32_t fresh_seed() {
  std::random_device rd;
  return rd();
}

/// Gaussian values with a few large outliers, the shape of LLM activations.
inline std::vector<float> random_matrix(std::size_t rows, std::size_t cols, std::mt19937& rng,
                                        float sigma = 1.0f) {
  std::normal_distribution<float> normal(0.0f, sigma);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> x(rows * cols);
  for (auto& v : x) {
    v = normal(rng);
    if (u(rng) < 0.01f) {
      v *= 30.0f;
    }
  }
  return x;
}

/// A random mask with exactly H ones per (row, bank).
inline std::vector<std::uint8_t> random_mask(std::size_t rows, std::size_t cols, int bank, int h,
                                             std::mt19937& rng) {
  std::vector<std::uint8_t> m(rows * cols, 0);
  std::vector<int> idx(bank);
  for (std::size_t base = 0; base < rows * cols; base += bank) {
    for (int i = 0; i < bank; ++i) {
      idx[i] = i;
    }
    std::shuffle(idx.begin(), idx.end(), rng);
    for (int i = 0; i < h; ++i) {
      m[base + idx[i]] = 1;
    }
  }
  return m;
}

/// The ErrorCode thrown by f, or nullopt if it returns normally.
template <class F> std::optional<sqformat::ErrorCode> error_code_of(F&& f) {
  try {
    f();
  } catch (const sqformat::Error& e) {
    return e.code();
  }
  return std::nullopt;
}

/// |x - xhat| <= half a quantization step, with the slack of float32 division and
/// dequantization: q = rint(fl(x/s)) is off x/s by at most 1/2 + u|x/s| and fl(q*s) adds
/// u|q*s|, u = 2^-24. Valid for normal scales (all tests use them).
inline bool within_half_step(float x, float xhat, float s) {
  const double u = std::ldexp(1.0, -24);
  const double bound = 0.5 * double(s) * (1.0 + 2 * u) + 3 * u * std::fabs(double(x));
  return std::fabs(double(x) - double(xhat)) <= bound;
}

} // namespace sqtest

// sqformat/ptq/calibration_stats.hpp: per-layer calibration statistics (spec section 2), streamed
// over any number of token batches without keeping the tokens.
//
// For a linear layer with K input channels, every batch X (tokens x K, row-major float32) adds to
//   S = X^T X          (K x K, float64, accumulated in blocks of tokens)
//   sum_j |X_j|        (float64)
//   max_j |X_j|        (exact: a maximum has no rounding)
// From them: the GPTQ Hessian H = 2 S / n, mean |X_j| = sum_j / n, max |X_j|.
//
// Why float64: with n ~ 10^5 tokens a float32 running sum loses about log2(n) bits of the early
// batches; float64 keeps the Hessian accurate to ~1e-12 relative, far below any quantization error.
//
// With SQFORMAT_PTQ_USE_CBLAS defined (and a CBLAS linked), each block of tokens is added with one
// cblas_dsyrk (float64) instead of plain loops: tens of times faster on a real model. The plain
// path adds token by token, so its result does not depend on how tokens are split into batches;
// the CBLAS path sums within a block first, so a different batching may change the last bits.
#pragma once

#include <sqformat/error.hpp>

#if defined(SQFORMAT_PTQ_USE_CBLAS)
#include <cblas.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

namespace sqformat::ptq {

class CalibrationStats {
public:
  /// Statistics of a layer with `channels` (K) input channels; K must be positive.
  explicit CalibrationStats(std::size_t channels) : k_(channels) {
    if (channels == 0) {
      throw Error(ErrorCode::invalid_argument,
                  "CalibrationStats: the layer needs at least one input channel (K > 0)");
    }
    gram_.assign(k_ * k_, 0.0);
    sum_abs_.assign(k_, 0.0);
    max_abs_.assign(k_, 0.0f);
  }

  /// Adds a batch of `tokens` rows of K channels (row-major). The whole batch is checked first:
  /// a NaN/Inf anywhere throws Error(non_finite_input) and leaves the statistics unchanged.
  void add(const float* x, std::size_t tokens) {
    if (tokens == 0) {
      return;
    }
    if (x == nullptr) {
      throw Error(ErrorCode::invalid_argument, "CalibrationStats::add: x is null");
    }
    for (std::size_t i = 0; i < tokens * k_; ++i) {
      if (!std::isfinite(x[i])) {
        throw Error(ErrorCode::non_finite_input,
                    "CalibrationStats::add: token " + std::to_string(i / k_) + ", channel " +
                        std::to_string(i % k_) +
                        " is NaN or infinite; calibration inputs must be finite");
      }
    }
    // Tokens in blocks, converted to float64 once; the Gram update then runs over contiguous
    // rows of the upper triangle (i <= j), mirrored when the Hessian is read.
#if defined(SQFORMAT_PTQ_USE_CBLAS)
    constexpr std::size_t block = 256;
#else
    constexpr std::size_t block = 32;
#endif
    std::vector<double> xb(block * k_);
    for (std::size_t t0 = 0; t0 < tokens; t0 += block) {
      const std::size_t nt = std::min(block, tokens - t0);
      for (std::size_t t = 0; t < nt; ++t) {
        for (std::size_t j = 0; j < k_; ++j) {
          const float v = x[(t0 + t) * k_ + j];
          xb[t * k_ + j] = v;
          sum_abs_[j] += std::fabs(static_cast<double>(v));
          max_abs_[j] = std::max(max_abs_[j], std::fabs(v));
        }
      }
#if defined(SQFORMAT_PTQ_USE_CBLAS)
      // Upper triangle of the row-major K x K Gram += Xb^T Xb (Xb: nt x K, row-major).
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(k_), static_cast<int>(nt),
                  1.0, xb.data(), static_cast<int>(k_), 1.0, gram_.data(), static_cast<int>(k_));
#else
      for (std::size_t t = 0; t < nt; ++t) {
        const double* r = xb.data() + t * k_;
        for (std::size_t i = 0; i < k_; ++i) {
          const double xi = r[i];
          if (xi == 0.0) {
            continue;
          }
          double* g = gram_.data() + i * k_;
          for (std::size_t j = i; j < k_; ++j) {
            g[j] += xi * r[j];
          }
        }
      }
#endif
    }
    tokens_ += tokens;
  }

  /// Same as add, with the shape stated: throws Error(shape_mismatch) if `channels` != K.
  void add(const float* x, std::size_t tokens, std::size_t channels) {
    if (channels != k_) {
      throw Error(ErrorCode::shape_mismatch,
                  "CalibrationStats::add: batch has " + std::to_string(channels) +
                      " channels, the layer has K = " + std::to_string(k_));
    }
    add(x, tokens);
  }

  std::size_t channels() const { return k_; }
  std::size_t tokens() const { return tokens_; }

  /// H = 2 X^T X / n (K x K, row-major, symmetric, float64). Throws if no token was added.
  std::vector<double> hessian() const {
    require_tokens("hessian");
    std::vector<double> h(k_ * k_);
    const double f = 2.0 / static_cast<double>(tokens_);
    for (std::size_t i = 0; i < k_; ++i) {
      for (std::size_t j = i; j < k_; ++j) {
        const double v = f * gram_[i * k_ + j];
        h[i * k_ + j] = v;
        h[j * k_ + i] = v;
      }
    }
    return h;
  }

  /// mean over tokens of |X_j| (length K, float64).
  std::vector<double> mean_abs() const {
    require_tokens("mean_abs");
    std::vector<double> m(k_);
    for (std::size_t j = 0; j < k_; ++j) {
      m[j] = sum_abs_[j] / static_cast<double>(tokens_);
    }
    return m;
  }

  /// max over tokens of |X_j| (length K).
  const std::vector<float>& max_abs() const {
    require_tokens("max_abs");
    return max_abs_;
  }

private:
  void require_tokens(const char* who) const {
    if (tokens_ == 0) {
      throw Error(ErrorCode::invalid_argument,
                  std::string("CalibrationStats::") + who + ": no calibration tokens were added");
    }
  }

  std::size_t k_;
  std::size_t tokens_ = 0;
  std::vector<double> gram_; // upper triangle of X^T X
  std::vector<double> sum_abs_;
  std::vector<float> max_abs_;
};

} // namespace sqformat::ptq

// sqformat/eval/linear_backend.hpp: the pluggable product of every linear layer of the model.
//
// The forward pass never multiplies by a weight itself: for linear layer `index` (see
// llama_model.hpp) it hands the M x K input to a LinearBackend, which returns Y = X * W^T
// (M x N). The float backend uses BLAS; the quantized backends (quantized_linear.hpp) quantize
// weights and activations with the library's reference numerics. A LinearObserver, when given,
// sees every input before the product: calibration streams statistics through it.
#pragma once

#include <sqformat/eval/llama_model.hpp>

#include <cblas.h>
#include <cstddef>

namespace sqformat::eval {

class LinearBackend {
public:
  virtual ~LinearBackend() = default;
  /// y (m x N) = x (m x K) * W^T for linear layer `index`.
  virtual void forward(std::size_t index, const float* x, std::size_t m, float* y) = 0;
};

class LinearObserver {
public:
  virtual ~LinearObserver() = default;
  /// Called with the m x k input of linear layer `index` before its product.
  virtual void observe(std::size_t index, const float* x, std::size_t m, std::size_t k) = 0;
};

/// y (m x n) = x (m x k) * w^T (w: n x k), float32 BLAS.
inline void matmul_nt(const float* x, const float* w, std::size_t m, std::size_t n, std::size_t k,
                      float* y) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0f, x, static_cast<int>(k), w, static_cast<int>(k), 0.0f, y,
              static_cast<int>(n));
}

/// The unquantized model: float32 weights as dequantized from the GGUF, float32 activations.
class FloatLinear : public LinearBackend {
public:
  explicit FloatLinear(const LlamaWeights& model) : model_(model) {}
  void forward(std::size_t index, const float* x, std::size_t m, float* y) override {
    const LinearWeight& lw = model_.linears.at(index);
    matmul_nt(x, lw.w.data(), m, lw.rows, lw.cols, y);
  }

private:
  const LlamaWeights& model_;
};

} // namespace sqformat::eval

// Helpers of the W(SQ) kernel tests: random and adversarial SQ weights built with the host
// reference, device copies, 16-bit conversions.
#pragma once

#include <sqformat/gpu/wsq/weights_view.hpp>
#include <sqformat/reference/products.hpp>
#include <sqformat/reference/sq_tensor.hpp>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

namespace wsq_test {

/// Owning device buffer (tests only: throws on failure so a test fails loudly).
template <class T> struct DeviceBuffer {
  T* ptr = nullptr;
  std::size_t count = 0;
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) : count(n) {
    if (cudaMalloc(&ptr, std::max<std::size_t>(n, 1) * sizeof(T)) != cudaSuccess)
      throw std::runtime_error("cudaMalloc failed");
  }
  explicit DeviceBuffer(const std::vector<T>& h) : DeviceBuffer(h.size()) {
    if (cudaMemcpy(ptr, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice) != cudaSuccess)
      throw std::runtime_error("cudaMemcpy to device failed");
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(ptr); }
  std::vector<T> to_host() const {
    std::vector<T> h(count);
    if (cudaMemcpy(h.data(), ptr, count * sizeof(T), cudaMemcpyDeviceToHost) != cudaSuccess)
      throw std::runtime_error("cudaMemcpy to host failed");
    return h;
  }
};

enum class MaskKind { random, bank_start, bank_end };

/// N x K weights with exactly H high elements per bank. Values are normal; high positions get a
/// larger magnitude (outliers) so that both scales matter. bank_start / bank_end put all high
/// elements at one end of every bank (adversarial for the rank computation).
template <class C>
sqformat::ref::SqTensor<C> make_weights(std::size_t n, std::size_t k, std::mt19937& rng,
                                        MaskKind kind) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> w(n * k);
  std::vector<std::uint8_t> mask(n * k, 0);
  std::vector<int> idx(C::bank);
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t b0 = 0; b0 < k; b0 += C::bank) {
      std::iota(idx.begin(), idx.end(), 0);
      if (kind == MaskKind::random)
        std::shuffle(idx.begin(), idx.end(), rng);
      if (kind == MaskKind::bank_end)
        std::reverse(idx.begin(), idx.end());
      for (int i = 0; i < C::high_per_bank; ++i)
        mask[r * k + b0 + idx[i]] = 1;
      const float bank_scale = std::ldexp(1.0f, int(rng() % 9) - 4); // 2^-4 .. 2^4
      for (int i = 0; i < C::bank; ++i) {
        const std::size_t e = r * k + b0 + i;
        w[e] = normal(rng) * bank_scale * (mask[e] ? 8.0f : 1.0f);
      }
    }
  }
  return sqformat::ref::pack_sq<C>(w.data(), n, k, mask.data());
}

/// Device copy of an SqTensor and the view the kernels take.
template <class C> struct DeviceWeights {
  DeviceBuffer<std::uint8_t> low, high;
  DeviceBuffer<float> scale_low, scale_high;
  sqformat::gpu::WsqWeightsView<C> view;
  explicit DeviceWeights(const sqformat::ref::SqTensor<C>& t)
      : low(t.low), high(t.high), scale_low(t.scale_low), scale_high(t.scale_high) {
    view.low = low.ptr;
    view.high = high.ptr;
    view.scale_low = scale_low.ptr;
    view.scale_high = scale_high.ptr;
    view.n = int(t.rows);
    view.k = int(t.cols);
  }
};

inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
inline float to_float(__half v) { return __half2float(v); }
template <class T> T from_float(float v);
template <> inline __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <> inline __half from_float<__half>(float v) { return __float2half_rn(v); }

/// Random M x K activations in T (and the same values as float for the reference).
template <class T>
void make_activations(std::size_t m, std::size_t k, std::mt19937& rng, std::vector<T>& x,
                      std::vector<float>& xf) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  x.resize(m * k);
  xf.resize(m * k);
  for (std::size_t i = 0; i < m * k; ++i) {
    x[i] = from_float<T>(normal(rng) * (i % 97 == 0 ? 30.0f : 1.0f));
    xf[i] = to_float(x[i]);
  }
}

/// sum_k |x[m,k] * w[n,k]| with w dequantized exactly (float64): the scale of every error bound.
template <class C>
std::vector<double> magnitudes(const sqformat::ref::SqTensor<C>& w, const std::vector<float>& xf,
                               std::size_t m) {
  const std::vector<double> wd = sqformat::ref::dequantize_double(w);
  const std::size_t n = w.rows, k = w.cols;
  std::vector<double> mag(m * n, 0.0);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (std::size_t e = 0; e < k; ++e)
        s += std::fabs(double(xf[i * k + e]) * wd[j * k + e]);
      mag[i * n + j] = s;
    }
  return mag;
}

} // namespace wsq_test

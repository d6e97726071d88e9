// sqformat/ptq/uniform_weights.hpp: uniform GPTQ weights (INT4 by default), per output channel
// (group = K) or per group of g columns (g = 128 usual). The W of W4A8 / W4A(SQ) baselines.
//
// Scales (GPTQ's usual choice): per channel, from the row's original weights (the group starts at
// k = 0, before any compensation); per group, from the row's current weights when the group is
// reached. Output is an ref::UniformTensor holding exactly the codes and scales GPTQ chose.
#pragma once

#include <sqformat/error.hpp>
#include <sqformat/ptq/gptq_loop.hpp>
#include <sqformat/ptq/inverse_hessian.hpp>
#include <sqformat/reference/quantize.hpp>
#include <sqformat/reference/uniform.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sqformat::ptq {

namespace detail {
class UniformGroupQuantizer {
public:
  UniformGroupQuantizer(ref::UniformTensor& t) : t_(t), qmax_(ref::qmax_of_bits(t.bits)) {}
  std::size_t group() const { return t_.group; }
  void begin_group(std::size_t r, std::size_t k0, const float* w, std::size_t len) {
    float amax = 0.0f;
    for (std::size_t i = 0; i < len; ++i) {
      const float a = std::fabs(w[i]);
      amax = a > amax ? a : amax;
    }
    t_.scales[r * t_.groups_per_row() + k0 / t_.group] = ref::symmetric_scale(amax, qmax_);
  }
  float quantize(std::size_t r, std::size_t c, float w) {
    const float s = t_.scale(r, c);
    const int q = ref::quantize_value(w, s, qmax_);
    t_.codes[r * t_.cols + c] = static_cast<std::int8_t>(q);
    return ref::dequantize_value(q, s);
  }

private:
  ref::UniformTensor& t_;
  int qmax_;
};
} // namespace detail

/// GPTQ uniform weights at `bits` with groups of `group` columns (group = k: per channel).
inline ref::UniformTensor quantize_weights_uniform_gptq(const float* w, std::size_t n,
                                                        std::size_t k,
                                                        const InverseHessianFactor& f, int bits,
                                                        std::size_t group,
                                                        std::size_t block = 128) {
  if (w == nullptr || n == 0 || k == 0) {
    throw Error(ErrorCode::invalid_argument, "quantize_weights_uniform_gptq: empty weights");
  }
  if (f.k != k) {
    throw Error(ErrorCode::shape_mismatch,
                "quantize_weights_uniform_gptq: the Hessian is for K = " + std::to_string(f.k) +
                    ", W has K = " + std::to_string(k));
  }
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8) {
    throw Error(ErrorCode::invalid_argument,
                "quantize_weights_uniform_gptq: bits must be 2, 3, 4 or 8");
  }
  if (group == 0 || k % group != 0) {
    throw Error(ErrorCode::shape_mismatch, "quantize_weights_uniform_gptq: group " +
                                               std::to_string(group) +
                                               " does not divide K = " + std::to_string(k));
  }
  ref::check_finite(w, n * k);
  ref::UniformTensor t;
  t.rows = n;
  t.cols = k;
  t.bits = bits;
  t.group = group;
  t.codes.assign(n * k, 0);
  t.scales.assign(n * (k / group), 0.0f);
  const std::vector<float> u = to_float(f.upper);
  std::vector<float> work(w, w + n * k);
  detail::UniformGroupQuantizer q(t);
  gptq_quantize(work.data(), n, k, u.data(), block, q);
  return t;
}

} // namespace sqformat::ptq

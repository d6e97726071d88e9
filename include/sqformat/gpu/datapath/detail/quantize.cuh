// sqformat/gpu/datapath/detail/quantize.cuh: the symmetric quantizer of docs/layouts.md on the
// device, bit for bit the host reference's: float32 IEEE division (round to nearest) for the
// scale and for x/scale, rint with ties to even, clamp to [-qmax, qmax]; a zero scale (all-zero
// group, or amax so small that amax/qmax rounds to 0) gives code 0.
//
// The explicit __fdiv_rn keeps the division IEEE even if a consumer builds with -use_fast_math.
#pragma once

#include <cstdint>

namespace sqformat::gpu::datapath::detail {

__device__ __forceinline__ float symmetric_scale(float amax, int qmax) {
  return __fdiv_rn(amax, static_cast<float>(qmax));
}

__device__ __forceinline__ int quantize_code(float x, float scale, int qmax) {
  if (scale == 0.0f)
    return 0;
  const float q = rintf(__fdiv_rn(x, scale));
  const float limit = static_cast<float>(qmax);
  return static_cast<int>(fminf(fmaxf(q, -limit), limit));
}

/// quantize_code out of line, for the rare exact paths that unrolled loops would otherwise
/// copy at every element: one copy of the IEEE division a kernel (code size: the lane kernels
/// measured instruction-fetch stalls).
__device__ __noinline__ inline int quantize_code_outlined(float x, float scale, int qmax) {
  return quantize_code(x, scale, qmax);
}

/// The same quantizer for a whole group, cheaper per element: y = x · (1/scale) with the
/// reciprocal correctly rounded. For |x/scale| <= 128 the product is within 2^-16 of the exact
/// quotient and the IEEE quotient within 2^-17, so whenever y is at least 2^-13 away from a
/// half-integer both round to the same integer. Otherwise (and when 1/scale overflows, which
/// makes y non-finite) it falls back to the exact division. Results are identical to
/// quantize_code for every input.
__device__ __forceinline__ int quantize_code_by_inverse(float x, float scale, float inverse,
                                                        int qmax) {
  // scale == 0 comes with inverse == 0: y = 0 -> code 0, as quantize_code (x is finite here;
  // non-finite inputs are flagged and their outputs unspecified).
  const float y = x * inverse;
  float q = rintf(y);
  if (!(fabsf(y - q) <= 0.5f - 0x1p-13f))
    q = rintf(__fdiv_rn(x, scale)); // near .5, or y inf/NaN
  const float limit = static_cast<float>(qmax);
  return static_cast<int>(fminf(fmaxf(q, -limit), limit));
}

/// 1/scale correctly rounded, and 0 for a zero scale.
__device__ __forceinline__ float inverse_scale(float scale) {
  return scale == 0.0f ? 0.0f : __fdiv_rn(1.0f, scale);
}

struct GroupQuantizer {
  float scale;
  float inverse;
  int qmax;
  __device__ __forceinline__ GroupQuantizer() : scale(0.0f), inverse(0.0f), qmax(1) {}
  __device__ __forceinline__ GroupQuantizer(float s, int q) : scale(s), inverse(0.0f), qmax(q) {
    inverse = inverse_scale(s);
  }
  __device__ __forceinline__ int operator()(float x) const {
    return quantize_code_by_inverse(x, scale, inverse, qmax);
  }
};

/// Bits of the device status word in the workspace. Kernels only ever set bits (atomicOr); the
/// bits are sticky until read_status or a synchronous launch reads and clears them
/// (status_word.cuh).
enum StatusFlag : unsigned {
  flag_non_finite = 1u,      ///< NaN or Inf in the input
  flag_bad_permutation = 2u, ///< a permutation entry >= K, or a static split's permutation
                             ///< without the structure of docs/layouts.md
  flag_bad_mask = 4u,        ///< a high mask without exactly H high elements in a bank
};

__device__ __forceinline__ void raise_flag(unsigned* status_word, unsigned flag) {
  atomicOr(status_word, flag);
}

} // namespace sqformat::gpu::datapath::detail

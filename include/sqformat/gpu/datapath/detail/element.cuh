// sqformat/gpu/datapath/detail/element.cuh: what the data-path kernels need to know about an
// input element type (bf16, fp16, fp32): exact conversion to float32, and the bits of |x| as an
// unsigned integer whose order is the order of |x| (used as a selection key).
#pragma once

#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <type_traits>

namespace sqformat::gpu::datapath::detail {

template <class T> struct Element;

/// The element types of the public entry points (an integer type of the same size would
/// otherwise be read as float bits).
template <class T>
inline constexpr bool is_half16_v = std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __half>;

template <> struct Element<__nv_bfloat16> {
  using bits_type = std::uint16_t;
  static constexpr int magnitude_bits = 15;
  static __device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
  /// |x| as bits: clearing the sign makes -0 and +0 equal and keeps the order of magnitudes.
  static __device__ __forceinline__ std::uint32_t magnitude(__nv_bfloat16 v) {
    return __bfloat16_as_ushort(v) & 0x7fffu;
  }
  static __device__ __forceinline__ __nv_bfloat16 from_float(float v) {
    return __float2bfloat16_rn(v);
  }
  /// Magnitude bits at and above which a value is ±Inf or NaN.
  static constexpr std::uint32_t non_finite_magnitude = 0x7f80u;
  static __device__ __forceinline__ float from_magnitude(std::uint32_t m) {
    return __uint_as_float(m << 16);
  }
};

template <> struct Element<__half> {
  using bits_type = std::uint16_t;
  static constexpr int magnitude_bits = 15;
  static __device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
  static __device__ __forceinline__ std::uint32_t magnitude(__half v) {
    return __half_as_ushort(v) & 0x7fffu;
  }
  static __device__ __forceinline__ __half from_float(float v) { return __float2half_rn(v); }
  static constexpr std::uint32_t non_finite_magnitude = 0x7c00u;
  static __device__ __forceinline__ float from_magnitude(std::uint32_t m) {
    return __half2float(__ushort_as_half(static_cast<unsigned short>(m)));
  }
};

template <> struct Element<float> {
  using bits_type = std::uint32_t;
  static constexpr int magnitude_bits = 31;
  static __device__ __forceinline__ float to_float(float v) { return v; }
  static __device__ __forceinline__ std::uint32_t magnitude(float v) {
    return __float_as_uint(v) & 0x7fffffffu;
  }
  static __device__ __forceinline__ float from_float(float v) { return v; }
};

/// True for NaN and ±Inf.
__device__ __forceinline__ bool is_non_finite(float v) { return !(fabsf(v) <= 3.402823466e38f); }

/// Loads N consecutive elements, as one vector when the address allows it.
template <int N, class T> __device__ __forceinline__ void load_elements(const T* src, T (&out)[N]) {
  constexpr int bytes = N * static_cast<int>(sizeof(T));
  const auto address = reinterpret_cast<std::uintptr_t>(src);
  if constexpr (bytes == 16 || bytes == 8 || bytes == 4) {
    if (address % bytes == 0) {
      using V =
          std::conditional_t<bytes == 16, uint4, std::conditional_t<bytes == 8, uint2, uint32_t>>;
      const V v = *reinterpret_cast<const V*>(src);
      memcpy(out, &v, bytes);
      return;
    }
  }
  if constexpr (bytes == 32) {
    if (address % 16 == 0) {
      const uint4 a = reinterpret_cast<const uint4*>(src)[0];
      const uint4 b = reinterpret_cast<const uint4*>(src)[1];
      memcpy(out, &a, 16);
      memcpy(reinterpret_cast<char*>(out) + 16, &b, 16);
      return;
    }
  }
#pragma unroll
  for (int i = 0; i < N; ++i)
    out[i] = src[i];
}

} // namespace sqformat::gpu::datapath::detail

// sqformat/gpu/datapath/detail/static_split_staging.cuh: what the persistent static-split
// kernels (streaming and bank) share: staging a token row of X in shared memory with cp.async,
// reading 16-bit elements as floats, and the rounding constant of their quantizer.
#pragma once

#include <cfloat>
#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "sqformat/config.hpp"

namespace sqformat::gpu::datapath::detail {

/// Bytes of shared memory one staged row of X takes (padded to 16 for cp.async).
template <class T> SQFORMAT_HD constexpr std::int64_t stream_row_bytes(std::int64_t k) {
  return (k * static_cast<std::int64_t>(sizeof(T)) + 15) / 16 * 16;
}

/// Float value of the 16-bit element in half `half` (0: low, 1: high) of `pair`.
template <class T> __device__ __forceinline__ float value_of(std::uint32_t pair, int half);
template <> __device__ __forceinline__ float value_of<__nv_bfloat16>(std::uint32_t pair, int half) {
  return __uint_as_float(half == 0 ? pair << 16 : pair & 0xffff0000u);
}
template <> __device__ __forceinline__ float value_of<__half>(std::uint32_t pair, int half) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(pair >> (16 * half))));
}

__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}

/// Waits until at most `pending` (0 to 6; more counts as 6) of this thread's cp.async groups are
/// in flight.
__device__ __forceinline__ void cp_async_wait(int pending) {
  switch (pending <= 0 ? 0 : pending) {
  case 0: asm volatile("cp.async.wait_group 0;\n" ::: "memory"); break;
  case 1: asm volatile("cp.async.wait_group 1;\n" ::: "memory"); break;
  case 2: asm volatile("cp.async.wait_group 2;\n" ::: "memory"); break;
  case 3: asm volatile("cp.async.wait_group 3;\n" ::: "memory"); break;
  case 4: asm volatile("cp.async.wait_group 4;\n" ::: "memory"); break;
  case 5: asm volatile("cp.async.wait_group 5;\n" ::: "memory"); break;
  default: asm volatile("cp.async.wait_group 6;\n" ::: "memory"); break;
  }
}

/// Starts the copy of one row of k elements into shared memory: cp.async when the row is a
/// whole number of 16-byte vectors (then it starts on one, x being 16-byte aligned), plain
/// stores otherwise (rows of odd length; visible after the next barrier).
template <class T>
__device__ __forceinline__ void issue_row_copy(unsigned char* dst, const T* src, int k) {
  const int bytes = k * static_cast<int>(sizeof(T));
  if (bytes % 16 == 0) {
    const auto* s = reinterpret_cast<const uint4*>(src);
    const auto base = static_cast<unsigned>(__cvta_generic_to_shared(dst));
    for (int i = static_cast<int>(threadIdx.x); i < bytes / 16; i += static_cast<int>(blockDim.x))
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(base + 16u * i), "l"(s + i)
                   : "memory");
  } else {
    T* d = reinterpret_cast<T*>(dst);
    for (int i = static_cast<int>(threadIdx.x); i < k; i += static_cast<int>(blockDim.x))
      d[i] = src[i];
  }
}

__device__ __forceinline__ bool is_subnormal(float s) { return s != 0.0f && fabsf(s) < FLT_MIN; }

/// 1.5 · 2^23: adding it rounds any |y| < 2^22 to an integer held in the low mantissa bits.
constexpr float rounding_magic = 12582912.0f;

} // namespace sqformat::gpu::datapath::detail

// sqformat/gpu/datapath/detail/shared_copy.cuh: block-wide copy of a contiguous range from
// global to shared memory. All loads are issued before any is waited for (cp.async, sm_80+), so
// a block has its whole input in flight at once.
#pragma once

#include <cstdint>

namespace sqformat::gpu::datapath::detail {

template <class T> __device__ __forceinline__ bool is_aligned_16(const T* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

/// Copies `count` elements from global to shared memory: 16-byte cp.async when both sides
/// allow it, plain loads otherwise (tiny or oddly sized rows).
template <class T>
__device__ __forceinline__ void copy_to_shared(T* dst, const T* src, std::int64_t count) {
  const std::int64_t bytes = count * static_cast<std::int64_t>(sizeof(T));
  if (bytes % 16 == 0 && is_aligned_16(src)) {
    const auto* s = reinterpret_cast<const uint4*>(src);
    for (std::int64_t i = threadIdx.x; i < bytes / 16; i += blockDim.x) {
      const auto smem = static_cast<unsigned>(__cvta_generic_to_shared(dst) + 16 * i);
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem), "l"(s + i));
    }
    asm volatile("cp.async.commit_group;\ncp.async.wait_all;\n" ::: "memory");
  } else {
    for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x)
      dst[i] = src[i];
  }
}

} // namespace sqformat::gpu::datapath::detail

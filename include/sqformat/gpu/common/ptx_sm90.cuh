// sqformat/gpu/common/ptx_sm90.cuh: thin wrappers over the PTX instructions the Hopper kernels
// use (cp.async, wgmma fences, setmaxnreg, named barriers, shared-memory matrix descriptors).
//
// Every wrapper is a __device__ function whose body exists only where the instruction exists
// (`__CUDA_ARCH__ >= 800` for cp.async, `>= 900` for wgmma); elsewhere the body is empty. Kernels
// that call them are themselves compiled to an empty body below sm_90 (see the kernel files), so
// these empty bodies are never executed: they only keep an sm_80 build compiling.
#pragma once

#include <cstdint>

namespace sqformat::gpu::ptx {

/// Address of a shared-memory object in the shared state space (what PTX shared loads take).
__device__ __forceinline__ std::uint32_t shared_address(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

/// 32-bit shared-memory load at a shared-state-space address (no generic-address conversion,
/// 32-bit address arithmetic).
__device__ __forceinline__ std::uint32_t ld_shared_u32(std::uint32_t address) {
  std::uint32_t v;
  asm volatile("ld.shared.u32 %0, [%1];\n" : "=r"(v) : "r"(address));
  return v;
}

/// 16-byte shared-memory load (address 16-byte aligned) into four 32-bit registers.
__device__ __forceinline__ uint4 ld_shared_v4(std::uint32_t address) {
  uint4 v;
  asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "r"(address));
  return v;
}

/// 16-byte global -> shared copy; when `valid` is false the destination is filled with zeros and
/// nothing is read (the source address must still be a legal pointer).
__device__ __forceinline__ void cp_async_16(std::uint32_t dst, const void* src, bool valid) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(valid ? 16 : 0)
               : "memory");
#endif
}

/// 8-byte and 4-byte forms (cp.async.ca: the .cg form only exists for 16 bytes).
__device__ __forceinline__ void cp_async_8(std::uint32_t dst, const void* src, bool valid) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.ca.shared.global [%0], [%1], 8, %2;\n" ::"r"(dst), "l"(src),
               "r"(valid ? 8 : 0)
               : "memory");
#endif
}
__device__ __forceinline__ void cp_async_4(std::uint32_t dst, const void* src, bool valid) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src),
               "r"(valid ? 4 : 0)
               : "memory");
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

/// Waits until at most `Pending` committed cp.async groups of this thread are still in flight.
template <int Pending> __device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending) : "memory");
#endif
}

/// Makes generic-proxy writes to shared memory (st.shared, cp.async) visible to the async proxy
/// that wgmma reads shared memory through. Needed after threads write an operand tile by hand.
__device__ __forceinline__ void fence_proxy_async_shared() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void wgmma_fence() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
template <int Pending> __device__ __forceinline__ void wgmma_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(Pending) : "memory");
#endif
}

/// Hands registers back to (dec) or takes them from (inc) the CTA's pool for every thread of
/// the executing warpgroup (warp-specialized kernels: a producer that needs few registers gives
/// them to the consumers). `Count` is a multiple of 8 in [24, 256]. sm_90a only.
template <int Count> __device__ __forceinline__ void setmaxnreg_dec() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(Count));
#endif
}
template <int Count> __device__ __forceinline__ void setmaxnreg_inc() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(Count));
#endif
}

/// Barrier over the first `threads` threads' warps only (hardware barrier `id`, 1..15): lets a
/// subset of the CTA meet while other warps have exited or run elsewhere.
__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
#if defined(__CUDA_ARCH__)
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
#endif
}

/// Shared-memory matrix descriptor of a K-major operand tile in the 128-byte swizzle layout:
/// rows of 128 bytes, 8-row atoms of 1024 bytes (1024-byte aligned), 16-byte chunk j of row r
/// stored at chunk j ^ (r % 8). Fields (PTX ISA, "matrix descriptor"): start address >> 4 in
/// bits [0,14), leading byte offset >> 4 in [16,30) (unused by swizzled K-major layouts: 1),
/// stride byte offset >> 4 in [32,46) (1024: the distance between 8-row atoms), swizzle mode in
/// [62,64) (1 = 128-byte swizzle). Advancing along K inside the atom adds bytes to the start
/// address; the hardware applies the swizzle to the final address.
__device__ __forceinline__ std::uint64_t sw128_kmajor_descriptor(std::uint32_t smem_address) {
  std::uint64_t d = 0;
  d |= static_cast<std::uint64_t>((smem_address & 0x3FFFF) >> 4);
  d |= static_cast<std::uint64_t>(1) << 16;
  d |= static_cast<std::uint64_t>(1024 >> 4) << 32;
  d |= static_cast<std::uint64_t>(1) << 62;
  return d;
}

} // namespace sqformat::gpu::ptx

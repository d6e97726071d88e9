// sqformat/gpu/datapath/status_word.cuh: how the data-path kernels report bad input data.
//
// Shape, pointer and architecture misuse is found on the host before a launch and returned at
// once as a sqformat::Status. Bad *values* (NaN/Inf in an input, a permutation entry out of
// range, a high mask with the wrong count in a bank) are only visible to the kernel: it sets a
// flag in the status word at the start of the caller's workspace, and the outputs of that launch
// are unspecified. The caller chooses when to look:
//
//   InputCheck::deferred     the launch returns without waiting; read_status(workspace, stream)
//                            later (it synchronizes the stream) says what the kernels found.
//   InputCheck::synchronous  the launch waits for the stream and returns the kernel's verdict
//                            (Status::non_finite_input, Status::invalid_argument) itself.
//
// The default is synchronous: bad data never passes silently unless the caller opts out.
// Flags are sticky: they collect over launches until read_status (or a synchronous launch)
// reads and clears them (one atomic exchange on the device), so no launch spends a memset on the
// word. A new workspace must be zeroed once with reset_workspace before its first use.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cuda_runtime.h>

#include "sqformat/gpu/datapath/detail/quantize.cuh"
#include "sqformat/gpu/datapath/layout.hpp"
#include "sqformat/status.hpp"

namespace sqformat::gpu::datapath {

enum class InputCheck { deferred, synchronous };

namespace detail {
inline Status status_of_flags(unsigned flags) {
  if (flags & flag_non_finite)
    return Status::non_finite_input;
  if (flags & (flag_bad_permutation | flag_bad_mask))
    return Status::invalid_argument;
  return Status::success;
}
} // namespace detail

/// Zeroes the status word of a new workspace (once, before its first use).
inline Status reset_workspace(void* workspace, cudaStream_t stream) {
  if (workspace == nullptr)
    return Status::insufficient_workspace;
  return cudaMemsetAsync(workspace, 0, workspace_size(), stream) == cudaSuccess
             ? Status::success
             : Status::cuda_error;
}

namespace detail {
/// Takes the flags and clears the word in one atomic step (word[1] receives them), so that a
/// flag a kernel on another stream sets meanwhile is kept for the next read, never wiped. (A
/// template: a plain __global__ function in a header would be defined in every translation unit.)
template <int = 0> __global__ void take_status_kernel(unsigned* word) {
  word[1] = atomicExch(word, 0u);
}
} // namespace detail

/// Waits for `stream`, returns what the data-path kernels that used `workspace` found since the
/// last read, and clears the word. Kernels on other streams may use the workspace meanwhile (their
/// flags are kept for a later read); two read_status calls on one workspace must not overlap.
inline Status read_status(void* workspace, cudaStream_t stream) {
  if (workspace == nullptr)
    return Status::insufficient_workspace;
  auto* const word = static_cast<unsigned*>(workspace);
  // An error already pending on this thread would make the launch check below fail after the
  // flags were taken: report it first and leave the flags in the word.
  if (cudaPeekAtLastError() != cudaSuccess)
    return Status::cuda_error;
  detail::take_status_kernel<><<<1, 1, 0, stream>>>(word);
  unsigned flags = 0;
  if (cudaGetLastError() != cudaSuccess ||
      cudaMemcpyAsync(&flags, word + 1, sizeof(flags), cudaMemcpyDeviceToHost, stream) !=
          cudaSuccess ||
      cudaStreamSynchronize(stream) != cudaSuccess)
    return Status::cuda_error;
  return detail::status_of_flags(flags);
}

namespace detail {

inline bool is_aligned(const void* p, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(p) % alignment == 0;
}

inline Status check_workspace(const void* workspace, std::size_t workspace_bytes) {
  if (workspace == nullptr || workspace_bytes < workspace_size())
    return Status::insufficient_workspace;
  return is_aligned(workspace, 16) ? Status::success : Status::misaligned_pointer;
}

/// What one kernel may use on one device, found once per (kernel, device) and cached by the
/// launcher, so that a launch costs no attribute queries.
struct KernelLaunchCache {
  /// device << 32 | dynamic shared limit, one word so that threads on different devices never
  /// pair one device with another's limit; -1 until the first launch.
  std::atomic<long long> entry{-1};
};

/// Checks the device's architecture and that this build holds `kernel` for it; the first time
/// on a device also opts the kernel in to the device's largest dynamic shared memory.
/// `dynamic_shared_limit` receives the bytes of dynamic shared memory a block may use.
template <class Kernel>
Status check_kernel_on_device(KernelLaunchCache& cache, Kernel* kernel,
                              long long& dynamic_shared_limit) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess)
    return Status::cuda_error;
  const long long entry = cache.entry.load(std::memory_order_acquire);
  if (entry >= 0 && (entry >> 32) == device) {
    dynamic_shared_limit = entry & 0xffffffffll;
    return Status::success;
  }
  int major = 0, optin = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) !=
          cudaSuccess)
    return Status::cuda_error;
  if (major < 8)
    return Status::unsupported_architecture; // cp.async and bf16 need sm_80
  cudaFuncAttributes attributes{};
  if (cudaFuncGetAttributes(&attributes, kernel) != cudaSuccess) {
    (void)cudaGetLastError(); // "no kernel image for this device" is not sticky: clear it
    return Status::unsupported_architecture;
  }
  const long long limit =
      static_cast<long long>(optin) - static_cast<long long>(attributes.sharedSizeBytes);
  if (limit > 48 * 1024 && cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                static_cast<int>(limit)) != cudaSuccess)
    return Status::cuda_error;
  dynamic_shared_limit = limit > 48 * 1024 ? limit : 48 * 1024;
  cache.entry.store((static_cast<long long>(device) << 32) | dynamic_shared_limit,
                    std::memory_order_release);
  return Status::success;
}

/// After a launch: a launch error, or (synchronous check) what the kernel found.
inline Status finish_launch(void* workspace, cudaStream_t stream, InputCheck check) {
  if (cudaGetLastError() != cudaSuccess)
    return Status::cuda_error;
  if (check == InputCheck::deferred)
    return Status::success;
  return read_status(workspace, stream);
}

} // namespace detail
} // namespace sqformat::gpu::datapath

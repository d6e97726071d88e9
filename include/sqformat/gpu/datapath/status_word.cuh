// sqformat/gpu/datapath/status_word.cuh: how the data-path kernels report bad input data.
//
// Shape, pointer and architecture misuse is found on the host before a launch and returned at
// once as a sqformat::Status. Bad *values* (NaN/Inf in an input, a permutation entry out of
// range, a high mask with the wrong count in a bank) are only visible to the kernel: it sets a
// flag in the status word at the start of the caller's workspace, and the outputs of that launch
// are unspecified. The caller chooses when to look:
//
//   InputCheck::deferred     the launch returns without waiting; read_status(workspace, stream)
//                            later (it synchronizes the stream) says what the kernel found.
//   InputCheck::synchronous  the launch waits for the stream and returns the kernel's verdict
//                            (Status::non_finite_input, Status::invalid_argument) itself.
//
// The default is synchronous: bad data never passes silently unless the caller opts out.
#pragma once

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

/// Waits for `stream` and returns what the last data-path kernel that used `workspace` found.
inline Status read_status(const void* workspace, cudaStream_t stream) {
  if (workspace == nullptr)
    return Status::insufficient_workspace;
  unsigned flags = 0;
  if (cudaMemcpyAsync(&flags, workspace, sizeof(flags), cudaMemcpyDeviceToHost, stream) !=
          cudaSuccess ||
      cudaStreamSynchronize(stream) != cudaSuccess)
    return Status::cuda_error;
  return detail::status_of_flags(flags);
}

namespace detail {

inline bool is_aligned(const void* p, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(p) % alignment == 0;
}

/// Checks the workspace, the device's architecture and that this build holds `kernel` for it.
template <class Kernel>
Status check_launch_prerequisites(Kernel* kernel, const void* workspace,
                                  std::size_t workspace_bytes) {
  if (workspace == nullptr || workspace_bytes < workspace_size())
    return Status::insufficient_workspace;
  if (!is_aligned(workspace, 16))
    return Status::misaligned_pointer;
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess)
    return Status::cuda_error;
  if (major < 8)
    return Status::unsupported_architecture; // cp.async and bf16 need sm_80
  cudaFuncAttributes attributes{};
  if (cudaFuncGetAttributes(&attributes, kernel) != cudaSuccess) {
    (void)cudaGetLastError(); // clear the sticky-free "no kernel image" error
    return Status::unsupported_architecture;
  }
  return Status::success;
}

/// Largest dynamic shared memory a block of `kernel` may use on the current device, after
/// opting in to it.
template <class Kernel> Status opt_in_shared_memory(Kernel* kernel, std::size_t bytes) {
  int device = 0, limit = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) !=
          cudaSuccess)
    return Status::cuda_error;
  if (bytes > static_cast<std::size_t>(limit))
    return Status::invalid_shape;
  if (bytes > 48 * 1024 && cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                static_cast<int>(bytes)) != cudaSuccess)
    return Status::cuda_error;
  return Status::success;
}

inline Status clear_status_word(void* workspace, cudaStream_t stream) {
  return cudaMemsetAsync(workspace, 0, sizeof(unsigned), stream) == cudaSuccess
             ? Status::success
             : Status::cuda_error;
}

/// After a launch: a launch error, or (synchronous check) what the kernel found.
inline Status finish_launch(const void* workspace, cudaStream_t stream, InputCheck check) {
  if (cudaGetLastError() != cudaSuccess)
    return Status::cuda_error;
  if (check == InputCheck::deferred)
    return Status::success;
  return read_status(workspace, stream);
}

} // namespace detail
} // namespace sqformat::gpu::datapath

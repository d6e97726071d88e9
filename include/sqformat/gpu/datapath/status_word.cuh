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
// Every entry point (and read_status) also takes an optional `const char** reason`: on failure it
// receives a static string that names the rule that failed (e.g. "K (cols) must be a multiple of
// the bank size b", "perm is null"); a success leaves it untouched.
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
/// Records the rule that failed (a static string) where the caller asked for it (status.hpp).
using ::sqformat::detail::fail;

/// An entry point's result: on failure `*reason` (if asked for) names the rule that failed
/// (`why`, or the status's own text where no rule named one); a success leaves it untouched.
/// (Call it after the checked call, not with it as an argument: the order in which a call's
/// arguments are evaluated is unspecified, so `why` could be read before the check sets it.)
inline Status report(Status s, const char* why, const char** reason) {
  if (s != Status::success && reason != nullptr)
    *reason = why != nullptr ? why : to_string(s);
  return s;
}

inline Status status_of_flags(unsigned flags, const char** why) {
  if (flags & flag_non_finite)
    return fail(why, Status::non_finite_input, "an input the kernel reads holds NaN or Inf");
  if (flags & flag_bad_permutation)
    return fail(why, Status::invalid_argument,
                "perm is not a valid permutation: an entry >= K or, for the static split, "
                "channels out of the bank order of docs/layouts.md");
  if (flags & flag_bad_mask)
    return fail(why, Status::invalid_argument,
                "pack_weights: a high-mask byte other than 0/1, or a bank without exactly H high "
                "elements; dequantize_sq: a bank without exactly H sentinels");
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

namespace detail {
inline Status read_status(void* workspace, cudaStream_t stream, const char** why) {
  if (workspace == nullptr)
    return fail(why, Status::insufficient_workspace, "workspace is null");
  auto* const word = static_cast<unsigned*>(workspace);
  // An error already pending on this thread would make the launch check below fail after the
  // flags were taken: report it first and leave the flags in the word.
  if (cudaPeekAtLastError() != cudaSuccess)
    return fail(why, Status::cuda_error, "a CUDA error was pending before the status read");
  take_status_kernel<><<<1, 1, 0, stream>>>(word);
  unsigned flags = 0;
  if (cudaGetLastError() != cudaSuccess ||
      cudaMemcpyAsync(&flags, word + 1, sizeof(flags), cudaMemcpyDeviceToHost, stream) !=
          cudaSuccess ||
      cudaStreamSynchronize(stream) != cudaSuccess)
    return fail(why, Status::cuda_error,
                "reading the status word failed (a launch, copy or stream synchronization)");
  return status_of_flags(flags, why);
}
} // namespace detail

/// Waits for `stream`, returns what the data-path kernels that used `workspace` found since the
/// last read, and clears the word. Kernels on other streams may use the workspace meanwhile (their
/// flags are kept for a later read); two read_status calls on one workspace must not overlap.
/// On failure `*reason` (if given) says what was found.
inline Status read_status(void* workspace, cudaStream_t stream, const char** reason = nullptr) {
  const char* why = nullptr;
  const Status s = detail::read_status(workspace, stream, &why);
  return detail::report(s, why, reason);
}

namespace detail {

inline bool is_aligned(const void* p, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(p) % alignment == 0;
}

inline Status check_workspace(const void* workspace, std::size_t workspace_bytes,
                              const char** why) {
  if (workspace == nullptr)
    return fail(why, Status::insufficient_workspace, "workspace is null");
  if (workspace_bytes < workspace_size())
    return fail(why, Status::insufficient_workspace,
                "workspace_bytes is smaller than workspace_size()");
  if (!is_aligned(workspace, 16))
    return fail(why, Status::misaligned_pointer, "workspace must be 16-byte aligned");
  return Status::success;
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
                              long long& dynamic_shared_limit, const char** why) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess)
    return fail(why, Status::cuda_error, "cudaGetDevice failed");
  const long long entry = cache.entry.load(std::memory_order_acquire);
  if (entry >= 0 && (entry >> 32) == device) {
    dynamic_shared_limit = entry & 0xffffffffll;
    return Status::success;
  }
  int major = 0, optin = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) !=
          cudaSuccess)
    return fail(why, Status::cuda_error, "a device attribute query failed");
  if (major < 8) // cp.async and bf16 need sm_80
    return fail(why, Status::unsupported_architecture,
                "the device is older than sm_80 (the data-path kernels need cp.async and bf16)");
  cudaFuncAttributes attributes{};
  if (cudaFuncGetAttributes(&attributes, kernel) != cudaSuccess) {
    (void)cudaGetLastError(); // "no kernel image for this device" is not sticky: clear it
    return fail(why, Status::unsupported_architecture,
                "this build has no code for the device's architecture (see "
                "CMAKE_CUDA_ARCHITECTURES; the project builds sm_80 and sm_90a)");
  }
  const long long limit =
      static_cast<long long>(optin) - static_cast<long long>(attributes.sharedSizeBytes);
  if (limit > 48 * 1024 && cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                static_cast<int>(limit)) != cudaSuccess)
    return fail(why, Status::cuda_error,
                "cudaFuncSetAttribute (the kernel's dynamic shared memory) failed");
  dynamic_shared_limit = limit > 48 * 1024 ? limit : 48 * 1024;
  cache.entry.store((static_cast<long long>(device) << 32) | dynamic_shared_limit,
                    std::memory_order_release);
  return Status::success;
}

/// After a launch: a launch error, or (synchronous check) what the kernel found.
inline Status finish_launch(void* workspace, cudaStream_t stream, InputCheck check,
                            const char** why) {
  if (cudaGetLastError() != cudaSuccess)
    return fail(why, Status::cuda_error, "the kernel launch failed (cudaGetLastError)");
  if (check == InputCheck::deferred)
    return Status::success;
  return read_status(workspace, stream, why);
}

} // namespace detail
} // namespace sqformat::gpu::datapath

// sqformat/gpu/wsq/detail/checks.hpp: argument checks shared by the W(SQ) operations. Internal.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "../../../status.hpp"
#include "../../common/device_arch.hpp"
#include "../weights_view.hpp"

namespace sqformat::gpu::wsq_detail {

inline bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

/// Largest K the kernels index with 32-bit arithmetic per row (and int32 sums stay exact).
constexpr int kMaxK = 1 << 24;
/// Largest N: row counts, grid sizes and the K-split rules are computed in int (n + 15, n0 + g + 8,
/// slices from 8192 / n), which stay far from overflow below this.
constexpr int kMaxN = 1 << 28;

/// Every check of the W(SQ) operations says which rule failed (status.hpp).
using ::sqformat::detail::fail;

/// Shape, pointer and alignment checks of a weight view.
template <class C> Status check_weights(const WsqWeightsView<C>& w, const char** reason = nullptr) {
  if (w.n <= 0 || w.n > kMaxN)
    return fail(reason, Status::invalid_shape, "N (weight rows) must be in [1, 2^28]");
  if (w.k <= 0 || w.k > kMaxK)
    return fail(reason, Status::invalid_shape, "K must be in [1, 2^24]");
  if (w.k % C::bank != 0)
    return fail(reason, Status::k_not_multiple_of_bank, "K must be a multiple of the bank size b");
  if (w.low == nullptr || w.high == nullptr || w.scale_low == nullptr || w.scale_high == nullptr)
    return fail(reason, Status::invalid_argument,
                "a pointer of the weight view (low, high, scale_low, scale_high) is null");
  if (!aligned16(w.low) || !aligned16(w.high) || !aligned16(w.scale_low) ||
      !aligned16(w.scale_high))
    return fail(reason, Status::misaligned_pointer,
                "the weight view's arrays (low, high, scale_low, scale_high) must be 16-byte "
                "aligned");
  return Status::success;
}

/// Whether the current device is sm_80 or newer and `kernel` has machine code for it.
template <class Kernel> Status check_arch(Kernel kernel, const char** reason = nullptr) {
  int sm = 0;
  if (const Status s = current_compute_capability(sm); s != Status::success)
    return fail(reason, s, "the current device's compute capability could not be queried");
  if (sm < 80)
    return fail(reason, Status::unsupported_architecture, "the W(SQ) kernels need sm_80 or newer");
  if (!kernel_built_for(kernel, sm))
    return fail(reason, Status::unsupported_architecture,
                "this build has no code the current device can run for the kernel "
                "(add its architecture to CMAKE_CUDA_ARCHITECTURES)");
  return Status::success;
}

} // namespace sqformat::gpu::wsq_detail

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

/// Shape, pointer and alignment checks of a weight view.
template <class C> Status check_weights(const WsqWeightsView<C>& w) {
  if (w.n <= 0 || w.n > kMaxN || w.k <= 0 || w.k > kMaxK)
    return Status::invalid_shape;
  if (w.k % C::bank != 0)
    return Status::k_not_multiple_of_bank;
  if (w.low == nullptr || w.high == nullptr || w.scale_low == nullptr || w.scale_high == nullptr)
    return Status::invalid_argument;
  if (!aligned16(w.low) || !aligned16(w.high) || !aligned16(w.scale_low) ||
      !aligned16(w.scale_high))
    return Status::misaligned_pointer;
  return Status::success;
}

/// Whether the current device is sm_80 or newer and `kernel` has machine code for it.
template <class Kernel> Status check_arch(Kernel kernel) {
  int sm = 0;
  if (const Status s = current_compute_capability(sm); s != Status::success)
    return s;
  if (sm < 80 || !kernel_built_for(kernel, sm))
    return Status::unsupported_architecture;
  return Status::success;
}

} // namespace sqformat::gpu::wsq_detail

// sqformat/gpu/datapath/detail/sq_launch.cuh: host-side checks and grid shape shared by the
// launchers of the bank-by-bank kernels (one block per row and tile of banks).
#pragma once

#include <cstdint>
#include <cuda_runtime.h>

#include "sqformat/gpu/datapath/policy.hpp"
#include "sqformat/gpu/datapath/status_word.cuh"
#include "sqformat/status.hpp"

namespace sqformat::gpu::datapath::detail {

/// invalid_argument for a null pointer, misaligned_pointer for one not 16-byte aligned.
template <class... Pointers> Status check_pointers(const Pointers*... pointers) {
  if (((pointers == nullptr) || ...))
    return Status::invalid_argument;
  if ((!is_aligned(pointers, 16) || ...))
    return Status::misaligned_pointer;
  return Status::success;
}

/// Shape rules of an SQ tensor of rows × k: both in [1, 2^31), k a multiple of the bank.
template <class C> Status check_sq_shape(std::int64_t rows, std::int64_t k) {
  if (rows <= 0 || k <= 0 || rows >= (std::int64_t{1} << 31) || k >= (std::int64_t{1} << 31))
    return Status::invalid_shape;
  if (k % C::bank != 0)
    return Status::k_not_multiple_of_bank;
  return Status::success;
}

/// Shape rules of an SQ tensor of rows × k, and the grid (x: row, y: tile of banks).
template <class C, class P> Status sq_grid(std::int64_t rows, std::int64_t k, dim3& grid) {
  if (const Status s = check_sq_shape<C>(rows, k); s != Status::success)
    return s;
  constexpr int tile_banks = SqBankShape<C, P>::tile_banks;
  const std::int64_t tiles = (k / C::bank + tile_banks - 1) / tile_banks;
  if (tiles > 65535)
    return Status::invalid_shape;
  grid = dim3(static_cast<unsigned>(rows), static_cast<unsigned>(tiles));
  return Status::success;
}

} // namespace sqformat::gpu::datapath::detail

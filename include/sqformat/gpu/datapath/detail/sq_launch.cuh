// sqformat/gpu/datapath/detail/sq_launch.cuh: host-side checks and grid shape shared by the
// launchers of the bank-by-bank kernels (one block per row and tile of banks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cuda_runtime.h>

#include "sqformat/gpu/datapath/policy.hpp"
#include "sqformat/gpu/datapath/status_word.cuh"
#include "sqformat/status.hpp"

namespace sqformat::gpu::datapath::detail {

/// One pointer argument of an entry point, as the two rules that name it.
struct PointerRule {
  const char* null_text;       ///< e.g. "x is null"
  const char* misaligned_text; ///< e.g. "x must be 16-byte aligned"
};

/// invalid_argument for a null pointer, misaligned_pointer for one not 16-byte aligned (the first
/// in argument order; `why` gets its rule).
template <std::size_t N, class... Pointers>
Status check_pointers(const char** why, const PointerRule (&rules)[N],
                      const Pointers*... pointers) {
  static_assert(N == sizeof...(Pointers), "check_pointers: one rule per pointer");
  const void* const p[] = {static_cast<const void*>(pointers)...};
  for (std::size_t i = 0; i < N; ++i)
    if (p[i] == nullptr)
      return fail(why, Status::invalid_argument, rules[i].null_text);
  for (std::size_t i = 0; i < N; ++i)
    if (!is_aligned(p[i], 16))
      return fail(why, Status::misaligned_pointer, rules[i].misaligned_text);
  return Status::success;
}

/// Shape rules of an SQ tensor of rows × k: both in [1, 2^31), k a multiple of the bank.
template <class C> Status check_sq_shape(std::int64_t rows, std::int64_t k, const char** why) {
  if (rows <= 0 || rows >= (std::int64_t{1} << 31))
    return fail(why, Status::invalid_shape, "rows must be in [1, 2^31)");
  if (k <= 0 || k >= (std::int64_t{1} << 31))
    return fail(why, Status::invalid_shape, "K (cols) must be in [1, 2^31)");
  if (k % C::bank != 0)
    return fail(why, Status::k_not_multiple_of_bank,
                "K (cols) must be a multiple of the bank size b");
  return Status::success;
}

/// Shape rules of an SQ tensor of rows × k, and the grid (x: row, y: tile of banks).
template <class C, class P>
Status sq_grid(std::int64_t rows, std::int64_t k, dim3& grid, const char** why) {
  if (const Status s = check_sq_shape<C>(rows, k, why); s != Status::success)
    return s;
  constexpr int tile_banks = SqBankShape<C, P>::tile_banks;
  const std::int64_t tiles = (k / C::bank + tile_banks - 1) / tile_banks;
  if (tiles > 65535)
    return fail(why, Status::invalid_shape,
                "K (cols) too large: more than 65535 tiles of banks a row for this policy");
  grid = dim3(static_cast<unsigned>(rows), static_cast<unsigned>(tiles));
  return Status::success;
}

} // namespace sqformat::gpu::datapath::detail

// sqformat/gpu/datapath/detail/static_split_column_kernel.cuh: the column kernel of the static
// quantize-and-split (StaticSplitColumnPolicy, the default; per-token scales, K a multiple of 8,
// configs and K that column_pass_k_ok accepts).
//
// Persistent blocks, each walking rows blockIdx.x, blockIdx.x + grid, ... of X:
//
//   prologue   rows 0 .. S-2 of this block start loading (cp.async, 16 B) into shared row
//              buffers; every block checks the high part of perm (in range, in its bank,
//              increasing in its bank's run) and sets the high mask; block j checks slice j of
//              the low part (in range, in its bank, increasing, not high); the channel table
//              (static_split_column_pass.cuh: one byte a column for the usual configs). A bad
//              permutation sets the flag; with a bad high part no block writes anything.
//   per row i  1. wait for this thread's copies of row i; max |x| of the high and of the low
//                 channels (16-byte reads, 16-bit pair max with max.NaN, the high mask byte of
//                 each 8 channels), warp redux, barrier (R); row i + S - 1 starts loading into
//                 the buffer of row i - 1
//              2. output order: a lane quantizes whole 32-bit output words, gathering their
//                 channels from the staged row through the table, P::words_in_flight words at
//                 a time (quantize_row_by_columns)
//
// The prologue checks and pass 1 are the bank kernel's (static_split_rows.cuh). Compared with the
// bank kernel's former output-order pass (16-bit table, per-chunk descriptors), the one-byte
// table lets more blocks (or rows) fit an SM: three staged rows at K = 28672.
#pragma once

#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "sqformat/gpu/datapath/detail/element.cuh"
#include "sqformat/gpu/datapath/detail/quantize.cuh"
#include "sqformat/gpu/datapath/detail/static_split_bank_ops.cuh"
#include "sqformat/gpu/datapath/detail/static_split_column_pass.cuh"
#include "sqformat/gpu/datapath/detail/static_split_rows.cuh"
#include "sqformat/gpu/datapath/detail/static_split_staging.cuh"
#include "sqformat/gpu/datapath/layout.hpp"
#include "sqformat/gpu/datapath/static_split_args.hpp"

namespace sqformat::gpu::datapath::detail {

/// Dynamic shared memory of the column kernel: `stages` rows of X, the high mask and the channel
/// table.
template <class C, class T>
SQFORMAT_HD constexpr std::int64_t column_shared_bytes(std::int64_t k, int stages) {
  return stages * stream_row_bytes<T>(k) + high_mask_bytes(k) + ColumnTable<C>::bytes(k);
}

template <class C, class P, class T>
__global__ void __launch_bounds__(P::threads, P::min_blocks_per_sm)
    static_split_column_kernel(StaticSplitArgs<T> args, int stages) {
  using Table = ColumnTable<C>;
  using Entry = typename Table::Entry;
  constexpr int H = C::high_per_bank, L = C::low_per_bank;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  __shared__ std::uint32_t warp_amax[2][2][32]; // [row parity][high, low][warp]

  const int threads = static_cast<int>(blockDim.x), tid = static_cast<int>(threadIdx.x);
  const int k = static_cast<int>(args.cols);
  const int kh = k / C::bank * H, kl = k - kh;
  const StagedRows<T> rows(args, shared_bytes, stages);
  auto* const high_mask =
      reinterpret_cast<std::uint32_t*>(shared_bytes + stages * stream_row_bytes<T>(k));
  const auto* const mask_bytes = reinterpret_cast<const std::uint8_t*>(high_mask);
  auto* const table =
      reinterpret_cast<Entry*>(reinterpret_cast<unsigned char*>(high_mask) + high_mask_bytes(k));
  rows.prime();

  const bool high_ok = build_high_mask<C>(args.perm, k, high_mask);
  unsigned flags =
      (high_ok ? 0u : flag_bad_permutation) | check_low_slice<C>(args.perm, k, high_mask);
  { // The table; entries of a bad permutation are clamped into their column's bank, so that
    // even one flagged by another block reads inside the staged row.
    const int low_start = static_cast<int>(Table::low_start(kh));
    for (int p = tid; p < kh; p += threads) {
      const std::uint32_t c = args.perm[p], bank = static_cast<std::uint32_t>(p / H);
      table[p] = Table::template entry<H, Table::high_columns>(
          p, c / C::bank == bank ? c : bank * C::bank);
    }
    for (int q = tid; q < kl; q += threads) {
      const std::uint32_t c = args.perm[kh + q], bank = static_cast<std::uint32_t>(q / L);
      table[low_start + q] =
          Table::template entry<L, Table::low_columns>(q, c / C::bank == bank ? c : bank * C::bank);
    }
  }

  const auto high_row = static_cast<std::int64_t>(static_high_row_bytes<C>(args.cols));
  const auto low_row = static_cast<std::int64_t>(static_low_row_bytes<C>(args.cols));
  // The table is complete after the first barrier (R) of pass 1.
  for (std::int64_t i = 0; i < (high_ok ? rows.count : 0); ++i) {
    const uint4* xs = rows.wait(i);
    const RowScales s = row_scales<C>(
        args, rows, i, xs, [&](int c) { return mask_bytes[c]; }, warp_amax, flags);
    const std::int64_t row = rows.row(i);
    quantize_row_by_columns<C, Table, T, P::words_in_flight>(
        table, reinterpret_cast<const std::uint16_t*>(xs), kh, kl,
        reinterpret_cast<std::uint32_t*>(args.x_high + row * high_row),
        reinterpret_cast<std::uint32_t*>(args.x_low + row * low_row), s.high, s.low, s.inverse_high,
        s.inverse_low, s.exact, tid, threads);
  }
  cp_async_wait(0);
  if (flags != 0)
    raise_flag(static_cast<unsigned*>(args.workspace), flags);
}

} // namespace sqformat::gpu::datapath::detail

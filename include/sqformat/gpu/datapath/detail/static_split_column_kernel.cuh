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
// Compared with the bank kernel's column pass, its table takes one byte a column instead of two
// and it needs no per-chunk descriptors, so more blocks (or rows) fit an SM.
#pragma once

#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "sqformat/gpu/datapath/detail/element.cuh"
#include "sqformat/gpu/datapath/detail/quantize.cuh"
#include "sqformat/gpu/datapath/detail/static_split_bank_ops.cuh"
#include "sqformat/gpu/datapath/detail/static_split_column_pass.cuh"
#include "sqformat/gpu/datapath/detail/static_split_staging.cuh"
#include "sqformat/gpu/datapath/layout.hpp"
#include "sqformat/gpu/datapath/static_split_args.hpp"

namespace sqformat::gpu::datapath::detail {

/// Bytes of the high mask (one bit a channel, 16-byte padded).
SQFORMAT_HD constexpr std::int64_t column_mask_bytes(std::int64_t k) {
  return (k / 8 + 15) / 16 * 16;
}

/// Dynamic shared memory of the column kernel: `stages` rows of X, the high mask and the channel
/// table.
template <class C, class T>
SQFORMAT_HD constexpr std::int64_t column_shared_bytes(std::int64_t k, int stages) {
  return stages * stream_row_bytes<T>(k) + column_mask_bytes(k) + ColumnTable<C>::bytes(k);
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
  const int lane = tid % 32, warp = tid / 32, warps = threads / 32;
  const int k = static_cast<int>(args.cols);
  const int banks = k / C::bank, kh = banks * H, kl = k - kh;
  const int chunks = k / 8;
  const int row_bytes = static_cast<int>(stream_row_bytes<T>(k));
  unsigned char* const staged = shared_bytes;
  auto* const high_mask = reinterpret_cast<std::uint32_t*>(staged + stages * row_bytes);
  const auto* const mask_bytes = reinterpret_cast<const std::uint8_t*>(high_mask);
  auto* const table =
      reinterpret_cast<Entry*>(reinterpret_cast<unsigned char*>(high_mask) + column_mask_bytes(k));
  const std::int64_t step = gridDim.x;
  const std::int64_t count = (args.rows - blockIdx.x + step - 1) / step; // rows of this block

  auto issue = [&](std::int64_t i) { // row i of this block into buffer i % stages
    if (i < count)
      issue_row_copy(staged + (i % stages) * row_bytes,
                     args.x + (blockIdx.x + i * step) * args.cols, k);
    cp_async_commit(); // one group per call, empty or not, so that the waits count rows
  };
  for (int s = 0; s + 1 < stages; ++s)
    issue(s);

  // Permutation -> high mask, checked: the high part by every block (the mask relies on it).
  const int mask_words = (k + 31) / 32;
  for (int w = tid; w < mask_words; w += threads)
    high_mask[w] = 0;
  __syncthreads();
  const auto kk = static_cast<std::uint32_t>(k);
  int bad = 0;
  for (int p = tid; p < kh; p += threads) {
    const std::uint32_t c = args.perm[p];
    const bool ok = c < kk && static_cast<int>(c) / C::bank == p / H &&
                    ((p + 1) % H == 0 || args.perm[p + 1] > c);
    if (ok)
      atomicOr(&high_mask[c / 32], 1u << (c % 32));
    else
      bad = 1;
  }
  const bool high_ok = __syncthreads_or(bad) == 0; // also: the high mask is complete
  unsigned flags = high_ok ? 0u : flag_bad_permutation;
  { // The low part: a slice per block (together the grid checks all of it).
    const int slice = (kl + static_cast<int>(gridDim.x) - 1) / static_cast<int>(gridDim.x);
    const int begin = static_cast<int>(blockIdx.x) * slice;
    const int end = begin + slice < kl ? begin + slice : kl;
    for (int q = begin + tid; q < end; q += threads) {
      const std::uint32_t c = args.perm[kh + q];
      const bool ok = c < kk && static_cast<int>(c) / C::bank == q / L &&
                      ((high_mask[c / 32] >> (c % 32)) & 1u) == 0 &&
                      ((q + 1) % L == 0 || args.perm[kh + q + 1] > c);
      if (!ok)
        flags |= flag_bad_permutation;
    }
  }
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
  const std::int64_t rows = high_ok ? count : 0;
  // Pass 1 reads only chunks this thread copied (the copy loop and pass 1 both give chunk c to
  // thread c % threads), so it needs no barrier before it: one barrier (R) per row. Warps drift
  // apart by up to a row (one runs pass 1 of row i + 1 while another still quantizes row i),
  // hence the amax partials alternate between two slots.
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::int64_t row = blockIdx.x + i * step;
    if (stages == 1) { // the only buffer is free once all are done
      __syncthreads();
      issue(i);
      cp_async_wait(0);
    } else {
      cp_async_wait(stages - 2); // this thread's copies of row i have landed
    }
    const auto* xs = reinterpret_cast<const uint4*>(staged + (i % stages) * row_bytes);

    // 1. max |x| of the high and of the low channels.
    PairMax<T> pm;
    for (int c = tid; c < chunks; c += threads)
      pm.add(xs[c], mask_bytes[c]);
    std::uint32_t amax_high = __reduce_max_sync(0xffffffffu, PairMax<T>::largest(pm.high));
    std::uint32_t amax_low = __reduce_max_sync(0xffffffffu, PairMax<T>::largest(pm.low));
    auto& partial = warp_amax[i % 2];
    if (lane == 0) {
      partial[0][warp] = amax_high;
      partial[1][warp] = amax_low;
    }
    __syncthreads(); // (R) partials visible; row i staged everywhere; row i - 1 done by all
    if (stages > 1)
      issue(i + stages - 1); // into the buffer of row i - 1
    amax_high = __reduce_max_sync(0xffffffffu, lane < warps ? partial[0][lane] : 0u);
    amax_low = __reduce_max_sync(0xffffffffu, lane < warps ? partial[1][lane] : 0u);
    const float scale_high = symmetric_scale(Element<T>::from_magnitude(amax_high), C::high_qmax);
    const float scale_low = symmetric_scale(Element<T>::from_magnitude(amax_low), C::low_qmax);
    if (tid == 0) {
      if (max(amax_high, amax_low) >= Element<T>::non_finite_magnitude)
        flags |= flag_non_finite;
      args.scale_high[row] = scale_high;
      args.scale_low[row] = scale_low;
    }
    // A subnormal scale: 1/s may overflow and |x/s| exceed qmax; every code by division then.
    const bool exact = is_subnormal(scale_high) || is_subnormal(scale_low);

    // 2. Quantize in output order.
    quantize_row_by_columns<C, Table, T, P::words_in_flight>(
        table, reinterpret_cast<const std::uint16_t*>(xs), kh, kl,
        reinterpret_cast<std::uint32_t*>(args.x_high + row * high_row),
        reinterpret_cast<std::uint32_t*>(args.x_low + row * low_row), scale_high, scale_low,
        inverse_scale(scale_high), inverse_scale(scale_low), exact, tid, threads);
  }
  cp_async_wait(0);
  if (flags != 0)
    raise_flag(static_cast<unsigned*>(args.workspace), flags);
}

} // namespace sqformat::gpu::datapath::detail

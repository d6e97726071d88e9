// sqformat/gpu/datapath/detail/static_split_rows.cuh: what the bank and the column kernels of the
// static quantize-and-split share: the permutation checks that build the high mask, the rows a
// persistent block stages in shared memory, and pass 1 (the per-token scales of a row). The
// lane kernel uses the check of the low part (check_low_slice).
#pragma once

#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "sqformat/gpu/datapath/detail/element.cuh"
#include "sqformat/gpu/datapath/detail/quantize.cuh"
#include "sqformat/gpu/datapath/detail/static_split_bank_ops.cuh"
#include "sqformat/gpu/datapath/detail/static_split_staging.cuh"
#include "sqformat/gpu/datapath/static_split_args.hpp"

namespace sqformat::gpu::datapath::detail {

/// Bytes of the high mask in shared memory (one bit a channel, 16-byte padded).
SQFORMAT_HD constexpr std::int64_t high_mask_bytes(std::int64_t k) {
  return (k / 8 + 15) / 16 * 16;
}

/// Zeroes the high mask (one bit a channel), checks the high part of perm (every block, since
/// the mask relies on it: in range, in its bank, increasing along its bank's run) and sets the
/// mask bits. Returns whether the high part is good; the mask is complete when it returns.
template <class C>
__device__ __forceinline__ bool build_high_mask(const std::uint32_t* perm, int k,
                                                std::uint32_t* high_mask) {
  constexpr int H = C::high_per_bank;
  const int threads = static_cast<int>(blockDim.x), tid = static_cast<int>(threadIdx.x);
  const int kh = k / C::bank * H;
  for (int w = tid; w < (k + 31) / 32; w += threads)
    high_mask[w] = 0;
  __syncthreads();
  const auto kk = static_cast<std::uint32_t>(k);
  int bad = 0;
  // Four entries a thread at a time, their loads issued together: with few threads and one
  // load after another this loop took several microseconds a block.
  constexpr int U = 4;
  for (int p0 = tid; p0 < kh; p0 += U * threads) {
    std::uint32_t c[U], next[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int p = p0 + u * threads;
      c[u] = p < kh ? perm[p] : 0u;
      next[u] = p < kh && (p + 1) % H != 0 ? perm[p + 1] : 0xffffffffu;
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int p = p0 + u * threads;
      if (p >= kh)
        continue;
      const bool ok = c[u] < kk && static_cast<int>(c[u]) / C::bank == p / H && next[u] > c[u];
      if (ok)
        atomicOr(&high_mask[c[u] / 32], 1u << (c[u] % 32));
      else
        bad = 1;
    }
  }
  return __syncthreads_or(bad) == 0;
}

/// Checks slice blockIdx.x of the low part of perm (together the grid checks all of it): in
/// range, in its bank, increasing along its bank's run, not high. Returns flag_bad_permutation if
/// an entry is bad, else 0.
template <class C>
__device__ __forceinline__ unsigned check_low_slice(const std::uint32_t* perm, int k,
                                                    const std::uint32_t* high_mask) {
  constexpr int L = C::low_per_bank;
  const int threads = static_cast<int>(blockDim.x), tid = static_cast<int>(threadIdx.x);
  const int kh = k / C::bank * C::high_per_bank, kl = k - kh;
  const int slice = (kl + static_cast<int>(gridDim.x) - 1) / static_cast<int>(gridDim.x);
  const int begin = static_cast<int>(blockIdx.x) * slice;
  const int end = begin + slice < kl ? begin + slice : kl;
  const auto kk = static_cast<std::uint32_t>(k);
  unsigned flags = 0;
  constexpr int U = 4; // entries a thread at a time, loads issued together
  for (int q0 = begin + tid; q0 < end; q0 += U * threads) {
    std::uint32_t c[U], next[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int q = q0 + u * threads;
      c[u] = q < end ? perm[kh + q] : 0u;
      next[u] = q < end && (q + 1) % L != 0 ? perm[kh + q + 1] : 0xffffffffu;
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int q = q0 + u * threads;
      if (q >= end)
        continue;
      const bool ok = c[u] < kk && static_cast<int>(c[u]) / C::bank == q / L &&
                      ((high_mask[c[u] / 32] >> (c[u] % 32)) & 1u) == 0 && next[u] > c[u];
      if (!ok)
        flags |= flag_bad_permutation;
    }
  }
  return flags;
}

/// The rows of X a persistent block walks (blockIdx.x, blockIdx.x + gridDim.x, ...), staged in
/// `stages` shared-memory buffers: row i of the block in buffer i % stages.
template <class T> struct StagedRows {
  const T* x;
  int k;
  unsigned char* buffers;
  int row_bytes;
  int stages;
  std::int64_t count; // rows of this block

  __device__ __forceinline__ StagedRows(const StaticSplitArgs<T>& args, unsigned char* staged,
                                        int stage_count)
      : x(args.x), k(static_cast<int>(args.cols)), buffers(staged),
        row_bytes(static_cast<int>(stream_row_bytes<T>(args.cols))), stages(stage_count),
        count((args.rows - blockIdx.x + gridDim.x - 1) / gridDim.x) {}

  __device__ __forceinline__ std::int64_t row(std::int64_t i) const {
    return blockIdx.x + i * static_cast<std::int64_t>(gridDim.x);
  }
  __device__ __forceinline__ unsigned char* buffer(std::int64_t i) const {
    return buffers + (i % stages) * row_bytes;
  }
  /// Starts row i loading; one cp.async group per call, empty past the last row, so that the
  /// waits count rows.
  __device__ __forceinline__ void issue(std::int64_t i) const {
    if (i < count)
      issue_row_copy(buffer(i), x + row(i) * k, k);
    cp_async_commit();
  }
  /// Starts rows 0 .. stages - 2 (the last buffer stays free until the first barrier of pass 1).
  __device__ __forceinline__ void prime() const {
    for (int s = 0; s + 1 < stages; ++s)
      issue(s);
  }
  /// Row i as this thread's copies of it have landed (with one stage: once every thread is done
  /// with row i - 1, loaded there and then). Pass 1 reads only the chunks this thread copied.
  __device__ __forceinline__ const uint4* wait(std::int64_t i) const {
    if (stages == 1) {
      __syncthreads();
      issue(i);
      cp_async_wait(0);
    } else {
      cp_async_wait(stages - 2);
    }
    return reinterpret_cast<const uint4*>(buffer(i));
  }
};

/// Scales of one row and what quantizing with them needs.
struct RowScales {
  float high, low;
  float inverse_high, inverse_low;
  bool exact; // a subnormal scale: 1/s may overflow and |x/s| exceed qmax; every code by division
};

/// The per-token scales of row `row` (the block's i-th) from each thread's running maxima of
/// |x| over its high and its low channels (pairs of 16-bit magnitudes, max.NaN, so NaN/Inf come
/// out as the largest): a warp redux, the row's one barrier (R), then `after_barrier()` and a
/// redux of the warps' partials. Thread 0 writes the scales and notes a non-finite input in
/// `flags`. Warps drift apart by up to a row, hence the partials alternate between two slots.
template <class C, class T, class AfterBarrier>
__device__ __forceinline__ RowScales block_row_scales(const StaticSplitArgs<T>& args,
                                                      std::int64_t row, std::int64_t i,
                                                      std::uint32_t pair_high,
                                                      std::uint32_t pair_low,
                                                      std::uint32_t (&warp_amax)[2][2][32],
                                                      unsigned& flags, AfterBarrier after_barrier) {
  const int threads = static_cast<int>(blockDim.x), tid = static_cast<int>(threadIdx.x);
  const int lane = tid % 32, warp = tid / 32, warps = threads / 32;
  std::uint32_t amax_high = __reduce_max_sync(0xffffffffu, PairMax<T>::largest(pair_high));
  std::uint32_t amax_low = __reduce_max_sync(0xffffffffu, PairMax<T>::largest(pair_low));
  auto& partial = warp_amax[i % 2];
  if (lane == 0) {
    partial[0][warp] = amax_high;
    partial[1][warp] = amax_low;
  }
  __syncthreads(); // (R) partials visible; every warp done with row i - 1
  after_barrier();
  amax_high = __reduce_max_sync(0xffffffffu, lane < warps ? partial[0][lane] : 0u);
  amax_low = __reduce_max_sync(0xffffffffu, lane < warps ? partial[1][lane] : 0u);
  RowScales s;
  s.high = symmetric_scale(Element<T>::from_magnitude(amax_high), C::high_qmax);
  s.low = symmetric_scale(Element<T>::from_magnitude(amax_low), C::low_qmax);
  if (tid == 0) {
    if (max(amax_high, amax_low) >= Element<T>::non_finite_magnitude)
      flags |= flag_non_finite;
    args.scale_high[row] = s.high;
    args.scale_low[row] = s.low;
  }
  s.inverse_high = inverse_scale(s.high);
  s.inverse_low = inverse_scale(s.low);
  s.exact = is_subnormal(s.high) || is_subnormal(s.low);
  return s;
}

/// Pass 1 of row i (`xs`, staged): max |x| of the high and of the low channels (16-byte reads,
/// 16-bit pair max with max.NaN; mask_of(c) is the high mask byte of chunk c), then
/// block_row_scales, whose barrier (R) is the row's one; after it row i + stages - 1 starts
/// loading into the buffer of row i - 1 (row i is staged everywhere by then).
template <class C, class T, class MaskOf>
__device__ __forceinline__ RowScales row_scales(const StaticSplitArgs<T>& args,
                                                const StagedRows<T>& rows, std::int64_t i,
                                                const uint4* xs, MaskOf mask_of,
                                                std::uint32_t (&warp_amax)[2][2][32],
                                                unsigned& flags) {
  const int threads = static_cast<int>(blockDim.x), tid = static_cast<int>(threadIdx.x);
  PairMax<T> pm;
  for (int c = tid; c < rows.k / 8; c += threads)
    pm.add(xs[c], mask_of(c));
  return block_row_scales<C, T>(args, rows.row(i), i, pm.high, pm.low, warp_amax, flags, [&] {
    if (rows.stages > 1)
      rows.issue(i + rows.stages - 1);
  });
}

} // namespace sqformat::gpu::datapath::detail

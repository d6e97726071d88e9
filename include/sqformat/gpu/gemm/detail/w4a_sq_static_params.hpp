// sqformat/gpu/gemm/detail/w4a_sq_static_params.hpp: what the W4A(SQ) static kernel receives.
// Passed as a __grid_constant__ kernel parameter (the TMA descriptors must stay in parameter
// space). Validated on the host (GemmW4ASqStatic::can_implement) before any launch.
#pragma once

#include <cuda.h>

#include <cstdint>

namespace sqformat::gpu::detail {

struct W4ASqStaticParams {
  // TMA descriptors (2-D byte matrices, zero fill out of bounds):
  CUtensorMap tmap_w;        ///< W: N rows x K/2 bytes, boxes of block_w x 64 B, 64-byte swizzle
  CUtensorMap tmap_x_high;   ///< X_high: M x Kh, boxes of block_tokens x 128 B, 128-byte swizzle
  CUtensorMap tmap_x_low;    ///< X_low: INT8 like X_high (prepass) or packed, unswizzled boxes
                             ///< of block_tokens x 16*low_bits B (in-loop)
  const std::int8_t* x_high; ///< M x k_high INT8, row stride k_high
  const void* x_low;         ///< M x k_low: packed low bits (in-loop) or INT8 (prepass)
  const std::uint8_t* w;     ///< N x K INT4 packed, row stride K/2 bytes (canonical path)
  /// Prepacked path only (PrepackedW kernels): W in the layout of w4_prepack.hpp, loaded per
  /// (64-row block, K tile) with 4096-byte bulk copies, and the per-token activation sums of
  /// each segment (x_sums[m * x_sum_segments + segment]) that undo the +8 weight offset.
  const std::uint8_t* w_prepacked;
  const std::int32_t* x_sums;
  int x_sum_segments;        ///< 2 (high range, low range) or K/128 (per-group-128 scales)
  int w_row_blocks;          ///< ceil(N / 64): 64-row blocks stored in the prepacked W
  const float* scale_x_high; ///< M
  const float* scale_x_low;  ///< M
  const float* scale_w;      ///< N x w_groups
  const float* bias;         ///< N or null
  void* y;                   ///< M x N bf16 or fp16
  std::int32_t* int_sums;    ///< null, or 2 x M x N (high plane, then low plane)
  int m, n, k, k_high, k_low;
  int w_groups;  ///< 1: per output channel; K/128: per group of 128 columns
  int y_is_fp16; ///< 0: bf16 output, 1: fp16 output
  /// Split-K (wgmma kernels): gridDim.z CTAs share one output tile, each over `tiles_per_split`
  /// consecutive K tiles, and write their exact partial sums to `partials` (splits x 2 x M x N
  /// int32: high plane, low plane) instead of an output; w4a_sq_static_finalize_kernel adds them
  /// up. The mma.sync kernel splits over gridDim.y and adds into 2 x M x N planes (see below).
  int splits;
  int tiles_per_split;
  std::int32_t* partials;
  /// mma.sync kernel with split-K only: one arrival counter per output tile (zeroed by run()),
  /// and `partials` is then 2 x M x N int32 (high plane, low plane) filled with atomicAdd.
  unsigned int* split_counters;
  /// Warp-specialized kernels: output tiles in groups of this many token tiles, the token tile
  /// fastest inside a group (1: channel tile fastest).
  int token_group;
  /// Split tail (warp-specialized kernels, per-channel weight scales): their grid is 1-D over
  /// the output tiles in the order `token_group` gives, and the tiles from
  /// `tail_first` on (the last, partial wave) are each taken by `tail_pieces` CTAs of
  /// `tail_k_tiles` consecutive K tiles (tail_first = the tile count: no split). Each piece writes
  /// the exact int32 sums of the ranges it covers to its own slice of `tail_partials`
  /// (tail tiles x tail_pieces x 2 ranges x block_w · block_tokens int32, in register order); the
  /// last piece of a tile to arrive (`tail_counters`, one per tail tile, zeroed by the prepass
  /// kernel and left at zero) adds the slices up and runs the usual folds and epilogue.
  int tail_first;
  int tail_pieces;
  int tail_k_tiles;
  std::int32_t* tail_partials;
  unsigned int* tail_counters;
};

} // namespace sqformat::gpu::detail

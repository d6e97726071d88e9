// sqformat/gpu/gemm/tile_policy.hpp: how the W4A(SQ) GEMM tiles its work (speed only).
//
// A policy never changes results: every policy computes the same exact int32 sums and the same
// float epilogue, so outputs are bit-identical across policies (tested).
#pragma once

namespace sqformat::gpu {

/// Where the packed low-bit activation block X_low becomes INT8.
enum class LowStaging {
  /// Each CTA widens its X_low tile while staging it into shared memory. No workspace; the
  /// widening is repeated by every CTA column that reads the tile, which is cheap when few
  /// tokens are in flight (decode, small M).
  in_loop,
  /// A separate pass widens X_low once into an M x Kl INT8 workspace; the GEMM then reads both
  /// blocks as INT8. Costs M*Kl bytes of workspace and one extra read/write of X_low, which is
  /// small next to a compute-bound GEMM (large M).
  prepass,
};

/// Who issues the loads and how the warpgroups meet.
enum class Schedule {
  /// Every warpgroup computes; thread 0 also issues the TMA copies, and the CTA meets at a
  /// block barrier every K tile before a buffer is refilled. Works with both LowStaging kinds
  /// and split-K.
  cooperative,
  /// One producer warpgroup (a single thread issues TMA, the rest exit after giving their
  /// registers away with setmaxnreg) and BlockW/64 consumer warpgroups that only widen W and
  /// issue wgmma. Full/empty mbarrier pairs per stage, no block barrier in the main loop.
  /// Prepass staging only (the consumers never write operand tiles by hand).
  warp_specialized,
};

/// \tparam BlockW      output channels (rows of W) per CTA: 64 or 128 (one warpgroup per 64);
///                     the warp-specialized schedule also takes 192 (three consumer
///                     warpgroups), which reads fewer bytes per MAC into each SM.
/// \tparam BlockTokens tokens per CTA: 8, 16, 32, 64 or 128 (the n extent of each wgmma).
/// \tparam Stages      shared-memory pipeline depth (>= 2).
/// \tparam Staging     how X_low becomes INT8 (see LowStaging).
/// \tparam Sched       who loads and how warpgroups synchronize (see Schedule).
template <int BlockW, int BlockTokens, int Stages, LowStaging Staging,
          Schedule Sched = Schedule::cooperative>
struct W4ASqTilePolicy {
  static_assert(Sched == Schedule::cooperative ? (BlockW == 64 || BlockW == 128)
                                               : (BlockW == 128 || BlockW == 192),
                "W4ASqTilePolicy: BlockW (one warpgroup per 64 output channels) must be 64 or "
                "128 with the cooperative schedule, 128 or 192 (two or three consumer "
                "warpgroups) with the warp-specialized one");
  static_assert(BlockTokens == 8 || BlockTokens == 16 || BlockTokens == 32 || BlockTokens == 64 ||
                    BlockTokens == 128,
                "W4ASqTilePolicy: BlockTokens must be 8, 16, 32, 64 or 128");
  static_assert(Stages >= 2 && Stages <= 12, "W4ASqTilePolicy: Stages must lie in [2, 12]");
  static_assert(Sched == Schedule::cooperative || Staging == LowStaging::prepass,
                "W4ASqTilePolicy: the warp-specialized schedule needs prepass staging");
  static constexpr bool mma_sync = false; ///< a wgmma (sm_90a) kernel
  static constexpr bool gemv = false;
  static constexpr bool mma_stream = false;
  static constexpr int block_w = BlockW;
  static constexpr int block_tokens = BlockTokens;
  static constexpr int stages = Stages;
  static constexpr LowStaging low_staging = Staging;
  static constexpr Schedule schedule = Sched;
  static constexpr int consumer_threads = 128 * (BlockW / 64);
  static constexpr int threads = consumer_threads + (Sched == Schedule::warp_specialized ? 128 : 0);
};

/// The mma.sync kernel for few tokens (detail/w4a_sq_static_mma_kernel.cuh; sm_80 and newer):
/// every thread copies its own weight pieces with cp.async into private slots of a shared-memory
/// ring (no block-wide weight pipeline); the activations are staged per CTA. 16 tokens per CTA
/// (grid over token tiles).
/// \tparam RowTiles      16-row tiles of W per warp (1 or 2); each staged X fragment serves all.
/// \tparam Warps         warps per CTA (1 to 8).
/// \tparam TilesInFlight stages of the weight ring (1 to 8): K tiles of 128 columns in flight
///                       ahead of the MMAs (TilesInFlight - 1 while one is being used).
/// \tparam ChunkTiles    K tiles of X staged in shared memory at once (1 to 16).
template <int RowTiles, int Warps, int TilesInFlight, int ChunkTiles> struct W4ASqMmaSyncPolicy {
  static_assert(RowTiles == 1 || RowTiles == 2, "W4ASqMmaSyncPolicy: RowTiles must be 1 or 2");
  static_assert(Warps >= 1 && Warps <= 8, "W4ASqMmaSyncPolicy: Warps must lie in [1, 8]");
  static_assert(TilesInFlight >= 1 && TilesInFlight <= 8,
                "W4ASqMmaSyncPolicy: TilesInFlight must lie in [1, 8]");
  static_assert(ChunkTiles >= 1 && ChunkTiles <= 16,
                "W4ASqMmaSyncPolicy: ChunkTiles must lie in [1, 16]");
  static constexpr bool mma_sync = true;
  static constexpr bool gemv = false;
  static constexpr bool mma_stream = false;
  static constexpr int row_tiles = RowTiles;
  static constexpr int warps = Warps;
  static constexpr int tiles_in_flight = TilesInFlight;
  static constexpr int chunk_tiles = ChunkTiles;
  static constexpr int block_w = 16 * RowTiles * Warps;
  static constexpr int block_tokens = 16;
  static constexpr int stages = TilesInFlight;
  static constexpr LowStaging low_staging = LowStaging::in_loop; ///< X_low widened while staged
  static constexpr Schedule schedule = Schedule::cooperative;    ///< every warp loads and computes
  static constexpr int threads = 32 * Warps;
};

/// The CUDA-core decode kernel for few tokens (detail/w4a_sq_static_gemv_kernel.cuh; sm_80 and
/// newer; per-channel weight scales only): a warp streams RowsPerWarp rows of W (fewer when
/// RowsPerWarp * tokens > 32) with dp4a, the CTA stages X in shared memory. Token tiles of 1, 2,
/// 4, 8 or 16 (the smallest that holds M; 16 per CTA above).
/// \tparam Warps         warps per CTA (1 to 16).
/// \tparam RowsPerWarp   rows of W per warp (1, 2, 4 or 8).
/// \tparam StepsInFlight 1024-column steps of W a warp loads ahead of use (1 to 4).
template <int Warps, int RowsPerWarp, int StepsInFlight> struct W4ASqGemvPolicy {
  static_assert(Warps >= 1 && Warps <= 16, "W4ASqGemvPolicy: Warps must lie in [1, 16]");
  static_assert(RowsPerWarp == 1 || RowsPerWarp == 2 || RowsPerWarp == 4 || RowsPerWarp == 8,
                "W4ASqGemvPolicy: RowsPerWarp must be 1, 2, 4 or 8");
  static_assert(StepsInFlight >= 1 && StepsInFlight <= 4,
                "W4ASqGemvPolicy: StepsInFlight must lie in [1, 4]");
  static constexpr bool mma_sync = false;
  static constexpr bool gemv = true;
  static constexpr bool mma_stream = false;
  static constexpr int warps = Warps;
  static constexpr int rows_per_warp = RowsPerWarp;
  static constexpr int steps_in_flight = StepsInFlight;
  static constexpr int block_w = Warps * RowsPerWarp; ///< rows per CTA at token tiles up to 32/R
  static constexpr int block_tokens = 16;
  static constexpr int stages = StepsInFlight;
  static constexpr LowStaging low_staging = LowStaging::in_loop; ///< X_low widened while staged
  static constexpr Schedule schedule = Schedule::cooperative;
  static constexpr int threads = 32 * Warps;
};

/// Decode on CUDA cores: 8 warps of 4 rows (2 rows at 16 tokens), two steps of W in flight.
using W4ASqGemvDecodePolicy = W4ASqGemvPolicy<8, 4, 2>;

/// The streaming mma.sync decode kernel (detail/w4a_sq_static_mma_stream_kernel.cuh; sm_80 and
/// newer; per-channel weight scales only): each thread loads its m16n8k32 weight fragments
/// straight from global memory (16-byte loads), the CTA stages X in shared memory; 8 or 16 tokens
/// per CTA (grid over token tiles above 16).
/// \tparam RowTiles      16-row tiles of W per CTA (1 to 4).
/// \tparam KWarps        warps per row tile, each over every KWarps-th 256-column step (1 to 8).
/// \tparam StepsInFlight 256-column steps of W a warp loads ahead of use (1 to 4).
template <int RowTiles, int KWarps, int StepsInFlight> struct W4ASqMmaStreamPolicy {
  static_assert(RowTiles >= 1 && RowTiles <= 4,
                "W4ASqMmaStreamPolicy: RowTiles must lie in [1, 4]");
  static_assert(KWarps >= 1 && KWarps <= 8, "W4ASqMmaStreamPolicy: KWarps must lie in [1, 8]");
  static_assert(StepsInFlight >= 1 && StepsInFlight <= 4,
                "W4ASqMmaStreamPolicy: StepsInFlight must lie in [1, 4]");
  static constexpr bool mma_sync = false;
  static constexpr bool gemv = false;
  static constexpr bool mma_stream = true;
  static constexpr int row_tiles = RowTiles;
  static constexpr int k_warps = KWarps;
  static constexpr int steps_in_flight = StepsInFlight;
  static constexpr int block_w = 16 * RowTiles;
  static constexpr int block_tokens = 16;
  static constexpr int stages = StepsInFlight;
  static constexpr LowStaging low_staging = LowStaging::in_loop; ///< X_low widened while staged
  static constexpr Schedule schedule = Schedule::cooperative;
  static constexpr int threads = 32 * RowTiles * KWarps;
};

/// Streaming mma.sync decode: 4 row tiles x 4 K warps (64 rows, 16 warps per CTA), 2 steps ahead.
/// (On an H100 the 64-row CTAs were faster than 32-row ones (2 x 4) at 8 and 16 tokens on the
/// large 70B shapes: each CTA stages all of X once for twice the rows.)
using W4ASqMmaStreamDecodePolicy = W4ASqMmaStreamPolicy<4, 4, 2>;

/// Decode (M <= 16) with mma.sync: 128 channels per CTA (4 warps x 2 row tiles), a 4-stage
/// weight ring, X staged 8 K tiles (1024 columns) at a time. What GemmW4ASqStaticAuto runs for
/// M <= 16.
using W4ASqMmaDecodePolicy = W4ASqMmaSyncPolicy<2, 4, 4, 8>;

/// Decode (M <= 16) on wgmma: 16 tokens, deep pipeline to keep enough weight bytes in flight.
using W4ASqDecodePolicy = W4ASqTilePolicy<128, 16, 8, LowStaging::in_loop>;
/// Decode with one warpgroup (64 channels) per CTA: twice the CTAs of W4ASqDecodePolicy. Faster
/// than it on an H100 for N = 8192, slower for N = 28672 (docs/performance.md); the auto header
/// picks between the two by N.
using W4ASqDecode64Policy = W4ASqTilePolicy<64, 16, 8, LowStaging::in_loop>;
/// Decode with 8-token tiles (one wgmma column of 8) and 64 channels per CTA: for M <= 8, where
/// a 16-token tile computes half zeros; the auto header takes it there.
using W4ASqDecode8Policy = W4ASqTilePolicy<64, 8, 8, LowStaging::in_loop>;
/// Medium M (17..128 in the auto header).
using W4ASqMediumPolicy = W4ASqTilePolicy<128, 64, 5, LowStaging::in_loop>;
/// Prefill (large M): 128 x 128 output tiles, X_low widened by a prepass, all warpgroups compute.
using W4ASqPrefillPolicy = W4ASqTilePolicy<128, 128, 5, LowStaging::prepass>;
/// Prefill, warp-specialized: one TMA producer warpgroup and two consumer warpgroups over an
/// 8-stage full/empty mbarrier pipeline (same tiles and results as W4ASqPrefillPolicy).
using W4ASqPrefillWarpSpecializedPolicy =
    W4ASqTilePolicy<128, 128, 8, LowStaging::prepass, Schedule::warp_specialized>;
/// Prefill, warp-specialized with three consumer warpgroups: 192 channels x 128 tokens per CTA
/// over 7 stages. Each K tile brings 12 KB of W and 16 KB of X into the SM for 1.5x the MACs of
/// the 128-channel tile's 8 + 16 KB, which is what limits that tile on an H100
/// (docs/performance.md); what the auto header takes for large prefill.
using W4ASqPrefillWidePolicy =
    W4ASqTilePolicy<192, 128, 7, LowStaging::prepass, Schedule::warp_specialized>;

} // namespace sqformat::gpu

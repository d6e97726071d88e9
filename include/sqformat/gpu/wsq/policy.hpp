// sqformat/gpu/wsq/policy.hpp: tuning policies of the W(SQ) kernels.
//
// A policy only changes speed, never results: the K split, the order in which every output's
// partial sums are added and the per-bank epilogue are fixed by the configuration and the shape.
// The tests run three policies and require identical bytes. (Malformed weights, banks without
// exactly H sentinels, give unspecified results; there W(SQ)A8's policy may pick between its two
// kernels, which treat the extra sentinels differently.)
#pragma once

namespace sqformat::gpu {

/// \tparam WarpsPerBlock  warps of one thread block (each warp owns its own output rows).
/// \tparam ChunksInFlight 64-element K chunks of W whose loads a warp issues ahead of use in the
///                        tensor-core decode kernel (register prefetch depth).
/// \tparam GemvRowsPerWarp rows of W a warp of the lanes-along-K decode kernel streams together
///                        at M = 1 (it reads X once for them); halved for M > 1 and halved
///                        again for H > 16, at least 1.
/// \tparam GemvWarpsPerBlock warps of one block of the lanes-along-K decode kernel (they share
///                        one staged copy of X).
/// \tparam HybridPairsInFlight bank pairs (128 k) whose loads a warp of the hybrid decode kernel
///                        (tensor-core low path, CUDA-core high path) keeps in flight, 1 to 3; 0
///                        (the default) picks per token tile: 1 for tiles of up to 4 tokens, 2 for
///                        8. The kernel takes fewer where their X slots would pass 40 KB of shared
///                        memory (2 at a tile of 8 tokens). At most 3: 4 spill registers at H = 32.
/// \tparam HybridBlocksPerSm blocks of 256 threads a SM the hybrid kernel is compiled for, which
///                        sets its register budget: 2 (128 registers a thread) or 3 (80); 0 (the
///                        default): 3 where one pair is in flight and the tile has at most 4
///                        tokens, else 2 (80 registers spill with 2 or 3 pairs, and with one pair
///                        at a tile of 8 tokens from H = 16 on; the default's one spill is 8
///                        bytes at H = 32 with 4 tokens, measured faster than 2 blocks there).
/// \tparam A8WarpsPerBlock warps of one W(SQ)A8 block (each warp owns one output row; the block
///                        stages each round's activations once for all of them), 1 to 16; 0 (the
///                        default) picks per token tile: 4 for tiles of up to 8 tokens, 8 above
///                        where the dp4a kernel's shared memory allows it (b <= 64), else 4. From
///                        9 tokens on a block stages the activations more than once a round, and
///                        8 warps share each staging (measured faster there, slower for SQ6 at
///                        1 to 4 tokens: docs/wsq.md). WarpsPerBlock does not apply to W(SQ)A8.
template <int WarpsPerBlock = 4, int ChunksInFlight = 2, int GemvRowsPerWarp = 4,
          int GemvWarpsPerBlock = 8, int HybridPairsInFlight = 0, int HybridBlocksPerSm = 0,
          int A8WarpsPerBlock = 0>
struct WsqDecodePolicy {
  static_assert(WarpsPerBlock >= 1 && WarpsPerBlock <= 16,
                "sqformat::gpu::WsqDecodePolicy: WarpsPerBlock must lie in [1, 16]");
  static_assert(ChunksInFlight >= 1 && ChunksInFlight <= 4,
                "sqformat::gpu::WsqDecodePolicy: ChunksInFlight must lie in [1, 4]");
  static_assert(GemvRowsPerWarp >= 1 && GemvRowsPerWarp <= 8,
                "sqformat::gpu::WsqDecodePolicy: GemvRowsPerWarp must lie in [1, 8]");
  static_assert(GemvWarpsPerBlock >= 1 && GemvWarpsPerBlock <= 16,
                "sqformat::gpu::WsqDecodePolicy: GemvWarpsPerBlock must lie in [1, 16]");
  static_assert(HybridPairsInFlight >= 0 && HybridPairsInFlight <= 3,
                "sqformat::gpu::WsqDecodePolicy: HybridPairsInFlight must lie in [0, 3]");
  static_assert(HybridBlocksPerSm == 0 || HybridBlocksPerSm == 2 || HybridBlocksPerSm == 3,
                "sqformat::gpu::WsqDecodePolicy: HybridBlocksPerSm must be 0, 2 or 3");
  static_assert(A8WarpsPerBlock >= 0 && A8WarpsPerBlock <= 16,
                "sqformat::gpu::WsqDecodePolicy: A8WarpsPerBlock must lie in [0, 16]");
  static constexpr int warps_per_block = WarpsPerBlock;
  static constexpr int threads = 32 * WarpsPerBlock;
  static constexpr int chunks_in_flight = ChunksInFlight;
  static constexpr int gemv_rows_per_warp = GemvRowsPerWarp;
  static constexpr int gemv_warps_per_block = GemvWarpsPerBlock;
  /// W(SQ)A8's warps a block as the policy gives them (0: chosen per token tile).
  static constexpr int a8_warps_per_block = A8WarpsPerBlock;
  /// The hybrid kernel's pairs in flight and blocks a SM for a tile of `tokens` tokens.
  static constexpr int hybrid_pairs_in_flight(int tokens) {
    return HybridPairsInFlight > 0 ? HybridPairsInFlight : tokens <= 4 ? 1 : 2;
  }
  static constexpr int hybrid_blocks_per_sm(int tokens) {
    if (HybridBlocksPerSm > 0)
      return HybridBlocksPerSm;
    return hybrid_pairs_in_flight(tokens) == 1 && tokens <= 4 ? 3 : 2;
  }
};

} // namespace sqformat::gpu

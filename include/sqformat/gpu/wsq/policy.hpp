// sqformat/gpu/wsq/policy.hpp: tuning policies of the W(SQ) kernels.
//
// A policy only changes speed, never results: the K split, the order in which every output's
// partial sums are added and the per-bank epilogue are fixed by the configuration and the shape.
// The tests run two policies and require identical bytes.
#pragma once

namespace sqformat::gpu {

/// \tparam WarpsPerBlock  warps of one thread block (each warp owns its own output rows).
/// \tparam ChunksInFlight 64-element K chunks of W whose loads a warp issues ahead of use in the
///                        tensor-core decode kernel (register prefetch depth).
template <int WarpsPerBlock = 4, int ChunksInFlight = 2> struct WsqDecodePolicy {
  static_assert(WarpsPerBlock >= 1 && WarpsPerBlock <= 16,
                "sqformat::gpu::WsqDecodePolicy: WarpsPerBlock must lie in [1, 16]");
  static_assert(ChunksInFlight >= 1 && ChunksInFlight <= 4,
                "sqformat::gpu::WsqDecodePolicy: ChunksInFlight must lie in [1, 4]");
  static constexpr int warps_per_block = WarpsPerBlock;
  static constexpr int threads = 32 * WarpsPerBlock;
  static constexpr int chunks_in_flight = ChunksInFlight;
};

} // namespace sqformat::gpu

// sqformat/gpu/wsq/wsq_a8_decode.hpp: W(SQ)A8, Y = X · Wᵀ with INT8 activations, one float32
// scale per token:
//   X  M x K  row-major int8 codes in [-127, 127], x_scale[M]
//   W  N x K  SQ tensor (WsqWeightsView)
//   Y  M x N  row-major, OutT = float, __nv_bfloat16 or __half
//
// Per (token, row, bank) the low and the high path are exact int32 sums; the float32 epilogue adds
// (s_x * s_w) * float(sum) bank by bank, low then high, as docs/layouts.md fixes it: with OutT =
// float the result equals ref::sq_weight_times_uniform bit for bit (16-bit outputs are that value
// rounded once). Any configuration; any M >= 1. Two kernels, the same bytes for well-formed
// weights (banks of exactly H sentinels): INT4 low / INT8 high codes with b = 32, 64 or 128 and
// H <= 32 (SQ5 and SQ6 among them) take the dp4a kernel (a8_dp4a_kernel.cuh), which reads each
// weight byte once for up to 64 tokens; the rest take the generic walk (detail/a8_kernel.cuh: a
// scalar code read a weight; from N = 4096 on a warp takes up to 64 tokens in tiles of 8, the later
// tiles reading its row from L1/L2, so W should come from DRAM once for 64 tokens (not timed);
// below that, one block per 8 tokens). Larger M re-reads W once per 64 (or 8) tokens: use it for
// decode. No workspace. One warp a row; the warps a block come from the policy
// (WsqDecodePolicy's A8WarpsPerBlock; by default 4 up to 8 tokens and 8 above, policy.hpp).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "../../status.hpp"
#include "detail/a8_dp4a_kernel.cuh"
#include "detail/a8_kernel.cuh"
#include "detail/checks.hpp"
#include "policy.hpp"
#include "weights_view.hpp"

namespace sqformat::gpu {

template <class C, class OutT, class Policy = WsqDecodePolicy<>> class WsqA8Decode {
public:
  struct Arguments {
    WsqWeightsView<C> w;
    const std::int8_t* x = nullptr; ///< M x K codes
    const float* x_scale = nullptr; ///< M per-token scales
    OutT* y = nullptr;              ///< M x N
    int m = 0;
  };
  /// Token tiles go to gridDim.y (at most 65535 of them).
  static constexpr int max_m = 65535 * wsq_detail::kGenericTokens;

  /// Whether run() accepts `a`; on failure `*reason` (if given) says which rule failed.
  static Status can_implement(const Arguments& a, const char** reason = nullptr) {
    using wsq_detail::fail;
    if (a.m < 1 || a.m > max_m)
      return fail(reason, Status::invalid_shape, "M must be in [1, 65535 * 8]");
    if (const Status s = wsq_detail::check_weights(a.w, reason); s != Status::success)
      return s;
    if (a.x == nullptr || a.x_scale == nullptr || a.y == nullptr)
      return fail(reason, Status::invalid_argument, "x, x_scale or y is null");
    if (!wsq_detail::aligned16(a.x) || !wsq_detail::aligned16(a.x_scale) ||
        !wsq_detail::aligned16(a.y))
      return fail(reason, Status::misaligned_pointer, "x, x_scale and y must be 16-byte aligned");
    return wsq_detail::check_arch(kernel<kFewWarps>(), reason);
  }

  static std::size_t workspace_size(const Arguments&) { return 0; }

  static Status run(const Arguments& a, void* /*workspace*/, std::size_t /*workspace_bytes*/,
                    cudaStream_t stream) {
    if (const Status s = can_implement(a); s != Status::success)
      return s;
    if constexpr (uses_dp4a) {
      // The warps a block for the tile: kA8SubTokens tokens are staged at once, so a larger tile
      // stages each round more than once and more warps share each staging.
      if (kManyWarps != kFewWarps && a.m > wsq_detail::kA8SubTokens)
        return launch_dp4a<kManyWarps>(a, stream);
      return launch_dp4a<kFewWarps>(a, stream);
    } else {
      const int tile = wsq_detail::generic_block_tokens(a.w.n);
      const dim3 grid((a.w.n + kFewWarps - 1) / kFewWarps, (a.m + tile - 1) / tile);
      kernel<kFewWarps>()<<<grid, 32 * kFewWarps, 0, stream>>>(a.w, a.x, a.x_scale, a.y, a.m, tile);
      return cudaGetLastError() == cudaSuccess ? Status::success : Status::cuda_error;
    }
  }

  /// Warps a block for tiles of up to kA8SubTokens tokens (and for the generic walk), and for
  /// larger tiles: the policy's A8WarpsPerBlock, or where it is 0, 4 and 8 (4 where 8 warps'
  /// shared memory would pass 48 KB: b = 128).
  static constexpr int kFewWarps = Policy::a8_warps_per_block > 0 ? Policy::a8_warps_per_block : 4;
  static constexpr int kManyWarps = Policy::a8_warps_per_block > 0 ? Policy::a8_warps_per_block
                                    : wsq_detail::kA8Dp4aSmemBytes<C, 8> <= 48 * 1024 ? 8
                                                                                      : 4;

  /// Whether run takes the dp4a kernel (each weight byte read once for up to 64 tokens).
  /// (Where a block of the A8 warps the policy sets would need more than 48 KB of shared memory,
  /// b = 64 with 16 warps and b = 128 from 8 warps on, the generic walk serves: the two give the
  /// same bytes for well-formed weights.)
  static constexpr bool uses_dp4a = wsq_detail::a8_dp4a_supports<C> &&
                                    wsq_detail::kA8Dp4aSmemBytes<C, kFewWarps> <= 48 * 1024 &&
                                    wsq_detail::kA8Dp4aSmemBytes<C, kManyWarps> <= 48 * 1024;

  /// Warps a block run() launches for `m` tokens.
  static constexpr int warps_per_block(int m) {
    return uses_dp4a && m > wsq_detail::kA8SubTokens ? kManyWarps : kFewWarps;
  }

private:
  template <int Warps> static auto kernel() {
    if constexpr (uses_dp4a)
      return &wsq_detail::wsq_a8_dp4a_kernel<C, OutT, Warps>;
    else
      return &wsq_detail::wsq_a8_kernel<C, OutT, Warps>;
  }
  template <int Warps> static Status launch_dp4a(const Arguments& a, cudaStream_t stream) {
    const dim3 grid((a.w.n + Warps - 1) / Warps,
                    (a.m + wsq_detail::kA8Tokens - 1) / wsq_detail::kA8Tokens);
    kernel<Warps>()<<<grid, 32 * Warps, 0, stream>>>(a.w, a.x, a.x_scale, a.y, a.m);
    return cudaGetLastError() == cudaSuccess ? Status::success : Status::cuda_error;
  }
};

} // namespace sqformat::gpu

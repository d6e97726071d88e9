// sqformat/gpu/gemm/w4a_sq_static.cuh: W4A(SQ) GEMM with statically split SQ activations
// (sq-format.md 1.2), fused: both dot-product paths in one kernel.
//
//   Y[m, n] = s_w[n] · ( s_hi[m] · Σ_{k<Kh} X_high[m,k] · W[n,k]
//                      + s_lo[m] · Σ_{k<Kl} X_low[m,k]  · W[n,Kh+k] )     (+ bias[n])
//
// with both sums exact in int32 and the float epilogue in the order of docs/layouts.md, so the
// output equals the host reference rounded once to bf16/fp16. Usage:
//
//   using Gemm = sqformat::gpu::GemmW4ASqStatic<sqformat::SqConfig<16, 4>>;
//   Gemm::Arguments args{...};
//   if (Gemm::can_implement(args) != Status::success) ...;
//   std::size_t bytes = Gemm::workspace_size(args);  // prepass buffer, split-K / split-tail sums
//   Status s = Gemm::run(args, workspace, bytes, stream);   // asynchronous on `stream`
//
// Requirements (checked by can_implement, reported as a Status with a reason; the architecture,
// the last item, is checked by run(), since can_implement does not query the device):
//   - M, N, K >= 1; K a multiple of the bank b; Kh = H·K/b and Kl = K - Kh multiples of 32;
//     wgmma policies: a packed X_low row, Kl·low_bits/8 bytes, a multiple of 16 (3-bit: Kl a
//     multiple of 128, 2-bit: of 64);
//     K < 2^21 (int32 sums stay exact); N a multiple of 8 (16-byte output rows).
//   - per-group weight scales (weight_scale_group = 128): K and Kh multiples of 128.
//   - x_high, x_low, w, y 16-byte aligned; scales 4-byte aligned.
//   - prepacked weights (`w_prepacked`, w4_prepack.hpp): used by prepass policies, which then need
//     no canonical `w`; K < 2^20 (the offset-binary sums stay exact). In-loop policies read `w`.
//   - mma.sync, GEMV and streaming policies: K < 2^20 as well (they widen W to offset binary in
//     registers); GEMV (W4ASqGemvPolicy, CUDA cores) and streaming mma.sync
//     (W4ASqMmaStreamPolicy) policies: per-channel weight scales.
//   - wgmma policies (W4ASqTilePolicy): compute capability 9.0 and a build that contains sm_90a
//     code; mma.sync policies (W4ASqMmaSyncPolicy, the decode kernel for few tokens): compute
//     capability 8.0 or newer with machine code for it in the build (sm_80 code serves sm_86 and
//     sm_89 too), and the same for GEMV and streaming policies; otherwise
//     Status::unsupported_architecture.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "../../config.hpp"
#include "../../status.hpp"
#include "../common/device_arch.hpp"
#include "../common/tma_sm90.cuh"
#include "detail/w4a_sq_static_finalize.cuh"
#include "detail/w4a_sq_static_gemv_kernel.cuh"
#include "detail/w4a_sq_static_mma_kernel.cuh"
#include "detail/w4a_sq_static_mma_stream_kernel.cuh"
#include "detail/w4a_sq_static_sm90.cuh"
#include "detail/w4a_sq_static_ws_sm90.cuh"
#include "detail/widen_low_kernel.cuh"
#include "detail/widen_low_sum_kernel.cuh"
#include "tile_policy.hpp"
#include "w4_prepack.hpp"

namespace sqformat::gpu {

enum class OutputType { bf16, fp16 };

/// Operands of one W4A(SQ) static GEMM. All pointers are device pointers.
struct W4ASqStaticArguments {
  int m = 0; ///< tokens
  int n = 0; ///< output channels (rows of W)
  int k = 0; ///< reduction length (columns of W, permuted: high block first)
  const std::int8_t* x_high = nullptr; ///< M x Kh INT8, row-major
  const std::uint8_t* x_low = nullptr; ///< M x Kl packed low bits, row stride Kl·low_bits/8 bytes
  const std::uint8_t* w = nullptr;     ///< N x K INT4 packed (layouts.md), row stride K/2 bytes
  /// Optional: the same W in the prepacked layout (w4_prepack.hpp, built for this K and Kh).
  /// Prepass policies use it instead of `w` (fewer widening instructions, same results);
  /// in-loop policies ignore it and need `w`.
  const std::uint8_t* w_prepacked = nullptr;
  const float* scale_x_high = nullptr; ///< M: per-token scale of the high block
  const float* scale_x_low = nullptr;  ///< M: per-token scale of the low block
  const float* scale_w = nullptr;      ///< N (per channel) or N x K/128 (per group of 128)
  int weight_scale_group = 0;          ///< 0: per output channel; 128: per group of 128 columns
  const float* bias = nullptr;         ///< optional, N
  void* y = nullptr;                   ///< M x N, row-major, bf16 or fp16
  OutputType y_type = OutputType::bf16;
  /// Test hook: when set (per-channel scales only), the kernel also writes the exact int32 sums,
  /// 2 x M x N: the high-block sums, then the low-block sums, each M x N row-major.
  std::int32_t* int_sums = nullptr;
  /// Split tail (warp-specialized policies with per-channel weight scales; results never
  /// change): one CTA of these runs per SM, so the last wave of output tiles may fill only a
  /// few SMs. -1 (default): when the tiles make at least one and fewer than 8 full waves and the
  /// last wave holds at most half the SMs, its tiles are each split along K into up to
  /// min(SMs / tail tiles, 8, K tiles / 4) pieces (see tail_plan). 0: never. t > 0 (tuning,
  /// tests): split the last min(t, tiles) output tiles into `tail_pieces` >= 2 pieces, at most
  /// one per K tile of 128 columns. Either way the K tiles are dealt out as ceil(K tiles /
  /// pieces) a piece and the pieces recounted, so the last piece may be shorter and there may
  /// be fewer pieces than asked (16 K tiles in 7 pieces: 6 pieces of 3, 3, 3, 3, 3, 1). The
  /// split tail's workspace (workspace_size) is tiles x pieces x 2 x block_w x block_tokens x
  /// 4 bytes: about 22 MB at M = 2048, N = 8192 with 192-channel tiles on a 132-SM H100, and it
  /// depends on the device's SM count (query workspace_size on the device that runs).
  int tail_tiles = -1;
  int tail_pieces = 0;
  /// Order of the output tiles (warp-specialized policies; results never change): groups of
  /// this many token tiles, the token tile fastest inside a group, so that the CTAs of a wave
  /// share W rows as well as X rows; 1: channel tiles fastest. 0 (default): 8
  /// (`default_token_group`).
  int token_group = 0;
};

/// \tparam Config an SqConfig with 8-bit high elements (its bank and H fix Kh = H·K/b).
/// \tparam Policy a W4ASqTilePolicy (speed only; see tile_policy.hpp).
template <class Config, class Policy = W4ASqPrefillPolicy> class GemmW4ASqStatic {
  static_assert(Config::high_bits == 8,
                "GemmW4ASqStatic: Config::high_bits must be 8 (INT8 X_high); INT4-high static "
                "activations have no kernel yet");

public:
  using Arguments = W4ASqStaticArguments;
  using config = Config;
  using policy = Policy;
  static constexpr int low_bits = Config::low_bits;

  /// Kernels that load W from global memory straight into registers (GEMV, streaming mma.sync):
  /// no workspace, no split-K, per-channel weight scales, K < 2^20.
  static constexpr bool direct_w = Policy::gemv || Policy::mma_stream;

  static int high_columns(int k) { return Config::high_per_bank * (k / Config::bank); }

  /// The policy's output tiling (tile policies and mma.sync policies): token tiles, channel
  /// tiles, and output tiles (CTAs of one K range).
  static int token_tiles(const Arguments& args) {
    return (args.m + Policy::block_tokens - 1) / Policy::block_tokens;
  }
  static int channel_tiles(const Arguments& args) {
    return (args.n + Policy::block_w - 1) / Policy::block_w;
  }
  static long long output_tiles(const Arguments& args) {
    return static_cast<long long>(channel_tiles(args)) * token_tiles(args);
  }

  /// Whether this kernel accepts `args`; on failure `*reason` (if given) says which rule failed.
  static Status can_implement(const Arguments& args, const char** reason = nullptr) {
    using ::sqformat::detail::fail;
    if (args.m < 1 || args.n < 1 || args.k < 1)
      return fail(reason, Status::invalid_shape, "M, N and K must be at least 1");
    if (args.k % Config::bank != 0)
      return fail(reason, Status::k_not_multiple_of_bank,
                  "K must be a multiple of the bank size b");
    if (args.k >= (1 << 21))
      return fail(reason, Status::invalid_shape, "K must be below 2^21 (exact int32 sums)");
    const int kh = high_columns(args.k), kl = args.k - kh;
    if (kh % 32 != 0 || kl % 32 != 0)
      return fail(reason, Status::invalid_shape,
                  "Kh = H*K/b and Kl = K - Kh must be multiples of 32 (16-byte INT4/INT8 chunks)");
    if (!Policy::mma_sync && !direct_w && (static_cast<long long>(kl) * low_bits / 8) % 16 != 0)
      return fail(reason, Status::invalid_shape,
                  "wgmma policies need a packed X_low row (Kl * low_bits / 8 bytes) that is a "
                  "multiple of 16 bytes (3-bit: Kl a multiple of 128; 2-bit: of 64)");
    if (args.n % 8 != 0)
      return fail(reason, Status::n_not_supported, "N must be a multiple of 8");
    if (args.weight_scale_group != 0 && args.weight_scale_group != 128)
      return fail(reason, Status::invalid_argument,
                  "weight_scale_group must be 0 (per channel) or 128");
    if (args.weight_scale_group == 128 && (args.k % 128 != 0 || kh % 128 != 0))
      return fail(reason, Status::invalid_shape,
                  "per-group-128 weight scales need K and Kh to be multiples of 128");
    if (args.weight_scale_group == 128 && args.int_sums != nullptr)
      return fail(reason, Status::invalid_argument,
                  "int_sums is only written with per-channel scales");
    const bool prepacked = uses_prepacked(args);
    if (prepacked && args.k >= (1 << 20))
      return fail(reason, Status::invalid_shape,
                  "prepacked weights need K below 2^20 (offset-binary int32 sums stay exact)");
    if (Policy::mma_sync && args.k >= (1 << 20))
      return fail(reason, Status::invalid_shape,
                  "the mma.sync kernel needs K below 2^20 (offset-binary int32 sums stay exact)");
    if (direct_w && args.k >= (1 << 20))
      return fail(reason, Status::invalid_shape,
                  "the GEMV and streaming mma.sync kernels need K below "
                  "2^20 (offset-binary int32 sums stay exact)");
    if (direct_w && args.weight_scale_group != 0)
      return fail(reason, Status::invalid_argument,
                  "the GEMV and streaming mma.sync kernels take "
                  "per-channel weight scales only (weight_scale_group = 0)");
    if (args.x_high == nullptr || args.x_low == nullptr || (args.w == nullptr && !prepacked) ||
        args.scale_x_high == nullptr || args.scale_x_low == nullptr || args.scale_w == nullptr ||
        args.y == nullptr)
      return fail(reason, Status::invalid_argument, "a required pointer is null");
    if (!aligned(args.x_high, 16) || !aligned(args.x_low, 16) || !aligned(args.w, 16) ||
        !aligned(args.y, 16) || !aligned(args.w_prepacked, 16) || !aligned(args.scale_x_high, 4) ||
        !aligned(args.scale_x_low, 4) || !aligned(args.scale_w, 4) || !aligned(args.bias, 4) ||
        !aligned(args.int_sums, 4))
      return fail(reason, Status::misaligned_pointer,
                  "x_high, x_low, w and y must be 16-byte aligned, scales 4-byte aligned");
    if (Policy::schedule != Schedule::warp_specialized && token_tiles(args) > 65535)
      return fail(reason, Status::invalid_shape,
                  "M too large for this policy's grid (65535 token tiles)");
    if (args.token_group < 0)
      return fail(reason, Status::invalid_argument,
                  "token_group must be 0 (automatic) or positive");
    if (args.tail_tiles < -1 || (args.tail_tiles > 0 && args.tail_pieces < 2))
      return fail(
          reason, Status::invalid_argument,
          "tail_tiles must be -1 (automatic), 0 (off) or a tile count with tail_pieces >= 2");
    if (args.tail_tiles > 0 &&
        (Policy::schedule != Schedule::warp_specialized || args.weight_scale_group != 0))
      return fail(reason, Status::invalid_argument,
                  "a split tail (tail_tiles > 0) needs a "
                  "warp-specialized policy and per-channel weight scales");
    if (Policy::schedule == Schedule::warp_specialized) {
      const TailPlan plan = tail_plan(args);
      if (plan.first + static_cast<long long>(plan.tiles) * plan.pieces >= (1LL << 31))
        return fail(reason, Status::invalid_shape, "too many output tiles (CTAs) for a 1-D grid");
    }
    return Status::success;
  }

  /// Bytes of device workspace `run` needs: the widened X_low (prepass policies), the split-K
  /// partial sums (when the output tiles alone cannot fill the device; see split_count) and the
  /// split tail's slices and counters (warp-specialized policies; see tail_plan). The last two
  /// depend on the current device's SM count.
  static std::size_t workspace_size(const Arguments& args) {
    if (args.m < 1 || args.n < 1 || args.k < 1)
      return 0;
    if constexpr (direct_w)
      return 0;
    if constexpr (Policy::mma_sync)
      return mma_workspace_bytes(args, split_count(args));
    return prepass_bytes(args) + sums_bytes(args) + partial_bytes(args, split_count(args)) +
           tail_bytes(tail_plan(args));
  }

  /// How `run` splits the last wave of output tiles (warp-specialized policies, see
  /// W4ASqStaticArguments::tail_tiles): the tiles from `first` on (`tiles` of them) each run as
  /// `pieces` CTAs of `k_tiles` consecutive K tiles; pieces = 1: no split.
  struct TailPlan {
    long long first = 0;
    int tiles = 0;
    int pieces = 1;
    int k_tiles = 0;
  };
  /// Token tiles a group of output tiles (warp-specialized policies) when `token_group` is 0.
  /// With channel tiles fastest, the CTAs of a wave on a 28672-channel layer each read their own
  /// W rows, and W (117 MB at K = 8192) streams from DRAM once per token tile; groups of 8 read
  /// it once per 8. On an H100, 8 was best or within 1.3 % of the best of 1/2/4/8/16 at every
  /// Llama shape with M = 2048 and 8192: 10-11 % less time than channel-fastest at N = 28672,
  /// 2-3 % at N = 14336 and 8192 x 28672, within about 2 % elsewhere (docs/performance.md,
  /// "Prefill: tile order").
  static constexpr int default_token_group = 8;

  /// Automatic split: at most this many pieces a tile, each of at least this many K tiles (the
  /// last piece adds up every piece's sums, and a short piece spends its time filling the ring),
  /// and only below this many full waves: with more, the CTAs' end times spread out over the
  /// waves and the last one no longer waits a whole tile (on an H100, 5.2 waves: 4-9 % less
  /// time; 9, 18 and 36 waves: no gain; docs/performance.md).
  static constexpr int tail_max_pieces = 8;
  static constexpr int tail_min_k_tiles = 4;
  static constexpr int tail_max_waves = 8;

  static TailPlan tail_plan(const Arguments& args) {
    TailPlan plan;
    const long long out_tiles = output_tiles(args);
    plan.first = out_tiles;
    if (Policy::schedule != Schedule::warp_specialized || out_tiles < 1 ||
        args.weight_scale_group != 0 || args.tail_tiles == 0 || args.tail_tiles < -1)
      return plan;
    const int k_tile_count = k_tiles(args);
    long long tail = 0;
    int pieces = 1;
    if (args.tail_tiles > 0) {
      tail = args.tail_tiles < out_tiles ? args.tail_tiles : out_tiles;
      pieces = args.tail_pieces < k_tile_count ? args.tail_pieces : k_tile_count;
    } else {
      // One CTA a SM: a warp-specialized CTA takes the whole register file (W4ASqWsRegisters).
      int sms = 0;
      if (current_sm_count(sms) != Status::success || out_tiles <= sms ||
          out_tiles >= static_cast<long long>(tail_max_waves) * sms)
        return plan;
      tail = out_tiles % sms;
      if (tail == 0 || 2 * tail > sms)
        return plan;
      pieces = static_cast<int>(sms / tail);
      pieces = pieces < tail_max_pieces ? pieces : tail_max_pieces;
      const int by_k = k_tile_count / tail_min_k_tiles;
      pieces = pieces < by_k ? pieces : by_k;
    }
    if (pieces < 2)
      return plan;
    // No empty pieces: recount with the K tiles each piece gets.
    const int per = (k_tile_count + pieces - 1) / pieces;
    pieces = (k_tile_count + per - 1) / per;
    if (pieces < 2)
      return plan;
    plan.first = out_tiles - tail;
    plan.tiles = static_cast<int>(tail);
    plan.pieces = pieces;
    plan.k_tiles = per;
    return plan;
  }

  /// Whether `run` takes the prepacked-weight path: a prepass policy and `w_prepacked` given.
  static bool uses_prepacked(const Arguments& args) {
    return Policy::low_staging == LowStaging::prepass && args.w_prepacked != nullptr;
  }

  /// Split-K factor `run` will use (in-loop policies with per-channel scales; 1 otherwise). wgmma
  /// policies: 1 unless the output tiles are fewer than the SMs, then enough splits for about two
  /// CTAs per SM, each split keeping at least 4 K tiles. mma.sync policies: 1 unless the output
  /// tiles are fewer than four per SM, then enough splits for about four CTAs per SM, each split
  /// keeping at least 2 K tiles. Every split count gives the same output (exact int32 sums).
  static int split_count(const Arguments& args) {
    if (direct_w || Policy::low_staging != LowStaging::in_loop || args.weight_scale_group != 0)
      return 1;
    int sms = 0;
    if (current_sm_count(sms) != Status::success)
      return 1;
    if constexpr (Policy::mma_sync)
      return splits_for(args, 4LL * sms, 4LL * sms, 2, 64);
    else
      return splits_for(args, sms, 2LL * sms, 4, 32);
  }

  /// Enqueues the GEMM on `stream`. Never throws; returns why it did not run.
  static Status run(const Arguments& args, void* workspace, std::size_t workspace_bytes,
                    cudaStream_t stream) {
    const Status ok = can_implement(args);
    if (ok != Status::success)
      return ok;
    if (workspace_bytes < workspace_size(args) ||
        (workspace_size(args) > 0 && (workspace == nullptr || !aligned(workspace, 16))))
      return Status::insufficient_workspace;
    int sm = 0;
    if (current_compute_capability(sm) != Status::success)
      return Status::cuda_error;
    if constexpr (Policy::gemv) {
      return sm >= 80 ? run_gemv(args, stream) : Status::unsupported_architecture;
    } else if constexpr (Policy::mma_stream) {
      return sm >= 80 ? run_mma_stream(args, stream) : Status::unsupported_architecture;
    } else if constexpr (Policy::mma_sync) {
      return sm >= 80 ? run_mma(args, workspace, stream) : Status::unsupported_architecture;
    } else {
      if (sm == 90)
        return run_sm90(args, workspace, stream);
      return Status::unsupported_architecture; // wgmma is Hopper-only
    }
  }

private:
  /// Splits so that the CTAs reach `target` when there are fewer than `split_below` output tiles:
  /// at least `min_tiles` K tiles a split and at most `max_splits` splits, none of them empty.
  static int splits_for(const Arguments& args, long long split_below, long long target,
                        int min_tiles, int max_splits) {
    const long long ctas = output_tiles(args);
    if (ctas >= split_below)
      return 1;
    const int tiles = k_tiles(args);
    long long splits = (target + ctas - 1) / ctas;
    if (splits > tiles / min_tiles)
      splits = tiles / min_tiles;
    if (splits > max_splits)
      splits = max_splits;
    if (splits < 2)
      return 1;
    // No empty splits: recount with the tiles each split gets.
    const int per = (tiles + static_cast<int>(splits) - 1) / static_cast<int>(splits);
    return (tiles + per - 1) / per;
  }
  static int k_tiles(const Arguments& args) {
    const int kh = high_columns(args.k), kl = args.k - kh;
    return (kh + 127) / 128 + (kl + 127) / 128;
  }
  static std::size_t prepass_bytes(const Arguments& args) {
    if (Policy::low_staging != LowStaging::prepass)
      return 0;
    const std::size_t bytes =
        static_cast<std::size_t>(args.m) * static_cast<std::size_t>(args.k - high_columns(args.k));
    return (bytes + 255) / 256 * 256;
  }
  /// Per-token activation sums of each segment (prepacked path): M x segments int32.
  static int sum_segments(const Arguments& args) {
    return args.weight_scale_group == 128 ? args.k / 128 : 2;
  }
  static std::size_t sums_bytes(const Arguments& args) {
    if (!uses_prepacked(args))
      return 0;
    const std::size_t bytes = static_cast<std::size_t>(args.m) * sum_segments(args) * 4;
    return (bytes + 255) / 256 * 256;
  }
  /// Split tail: each piece's slices (both ranges, a tile's int32 sums each), then one arrival
  /// counter per split tile.
  static std::size_t tail_slice_bytes(const TailPlan& plan) {
    const std::size_t bytes = static_cast<std::size_t>(plan.tiles) * plan.pieces * 2 *
                              Policy::block_w * Policy::block_tokens * sizeof(std::int32_t);
    return (bytes + 255) / 256 * 256;
  }
  static std::size_t tail_bytes(const TailPlan& plan) {
    if (plan.pieces < 2)
      return 0;
    return tail_slice_bytes(plan) + (plan.tiles * sizeof(unsigned int) + 255) / 256 * 256;
  }
  static std::size_t partial_bytes(const Arguments& args, int splits) {
    return splits > 1 ? static_cast<std::size_t>(splits) * 2 * static_cast<std::size_t>(args.m) *
                            static_cast<std::size_t>(args.n) * sizeof(std::int32_t)
                      : 0;
  }

  /// The kernel parameters every path fills the same way (shape, operands, scales, output, the
  /// split-K factor); the TMA maps, workspace pointers and prepacked fields are each path's own.
  static detail::W4ASqStaticParams common_params(const Arguments& args) {
    detail::W4ASqStaticParams p{};
    p.m = args.m;
    p.n = args.n;
    p.k = args.k;
    p.k_high = high_columns(args.k);
    p.k_low = args.k - p.k_high;
    p.x_high = args.x_high;
    p.x_low = args.x_low;
    p.w = args.w;
    p.scale_x_high = args.scale_x_high;
    p.scale_x_low = args.scale_x_low;
    p.scale_w = args.scale_w;
    p.bias = args.bias;
    p.y = args.y;
    p.int_sums = args.int_sums;
    p.w_groups = args.weight_scale_group == 128 ? args.k / 128 : 1;
    p.y_is_fp16 = args.y_type == OutputType::fp16 ? 1 : 0;
    p.splits = split_count(args);
    p.tiles_per_split = (k_tiles(args) + p.splits - 1) / p.splits;
    return p;
  }

  // ---- mma.sync decode kernel (W4ASqMmaSyncPolicy) ----------------------------------------
  static std::size_t mma_plane_bytes(const Arguments& args) {
    const std::size_t bytes = 2 * static_cast<std::size_t>(args.m) * args.n * sizeof(std::int32_t);
    return (bytes + 255) / 256 * 256;
  }
  static std::size_t mma_counter_count(const Arguments& args) {
    return static_cast<std::size_t>(output_tiles(args));
  }
  /// Split-K: the two int32 sum planes, then one arrival counter per output tile.
  static std::size_t mma_workspace_bytes(const Arguments& args, int splits) {
    return splits > 1 ? mma_plane_bytes(args) + mma_counter_count(args) * sizeof(unsigned int) : 0;
  }
  template <int TokenTiles> static auto mma_kernel() {
    return detail::w4a_sq_static_mma_kernel<low_bits, Policy, TokenTiles>;
  }
  static Status run_mma(const Arguments& args, void* workspace, cudaStream_t stream) {
    // One MMA column (8 tokens) when every token fits it, else two per 16-token tile.
    const auto kernel = args.m <= 8 ? mma_kernel<1>() : mma_kernel<2>();
    // Code compiled for sm_80 or newer that this device runs (sm_80 code serves sm_86/sm_89).
    if (const Status st = check_kernel_arch(kernel, 80); st != Status::success)
      return st;
    constexpr int smem_bytes = detail::W4ASqMmaShape<Policy>::smem_bytes;
    if (ensure_dynamic_shared_memory(kernel, smem_bytes) != Status::success)
      return Status::cuda_error;
    detail::W4ASqStaticParams p = common_params(args);
    if (p.splits > 1) {
      p.partials = static_cast<std::int32_t*>(workspace);
      p.split_counters = reinterpret_cast<unsigned int*>(static_cast<std::uint8_t*>(workspace) +
                                                         mma_plane_bytes(args));
      if (cudaMemsetAsync(workspace, 0, mma_workspace_bytes(args, p.splits), stream) != cudaSuccess)
        return Status::cuda_error;
    }
    const dim3 grid(channel_tiles(args), p.splits, token_tiles(args));
    kernel<<<grid, Policy::threads, smem_bytes, stream>>>(p);
    return cudaGetLastError() == cudaSuccess ? Status::success : Status::cuda_error;
  }

  // ---- decode kernels that load W straight into registers (GEMV, streaming mma.sync) -------
  /// Launches `kernel` (shape `Shape`) over token tiles of `Tokens`: no workspace, grid (row
  /// blocks, 1, token tiles).
  template <class Shape, int Tokens, class Kernel>
  static Status launch_direct(Kernel kernel, const Arguments& args, cudaStream_t stream) {
    // Code compiled for sm_80 or newer that this device runs (sm_80 code serves sm_86/sm_89).
    if (const Status st = check_kernel_arch(kernel, 80); st != Status::success)
      return st;
    if (ensure_dynamic_shared_memory(kernel, Shape::smem_bytes) != Status::success)
      return Status::cuda_error;
    const detail::W4ASqStaticParams p = common_params(args);
    const dim3 grid((args.n + Shape::block_rows - 1) / Shape::block_rows, 1,
                    (args.m + Tokens - 1) / Tokens);
    kernel<<<grid, Shape::threads, Shape::smem_bytes, stream>>>(p);
    return cudaGetLastError() == cudaSuccess ? Status::success : Status::cuda_error;
  }
  template <int Tokens> static Status launch_gemv(const Arguments& args, cudaStream_t stream) {
    return launch_direct<detail::W4ASqGemvShape<Policy, Tokens>, Tokens>(
        detail::w4a_sq_static_gemv_kernel<low_bits, Policy, Tokens>, args, stream);
  }
  /// GEMV (W4ASqGemvPolicy): the smallest token tile that holds M (16 tokens per CTA above 16).
  static Status run_gemv(const Arguments& args, cudaStream_t stream) {
    if (args.m <= 1)
      return launch_gemv<1>(args, stream);
    if (args.m <= 2)
      return launch_gemv<2>(args, stream);
    if (args.m <= 4)
      return launch_gemv<4>(args, stream);
    if (args.m <= 8)
      return launch_gemv<8>(args, stream);
    return launch_gemv<16>(args, stream);
  }
  template <int Tokens>
  static Status launch_mma_stream(const Arguments& args, cudaStream_t stream) {
    return launch_direct<detail::W4ASqMmaStreamShape<Policy, Tokens>, Tokens>(
        detail::w4a_sq_static_mma_stream_kernel<low_bits, Policy, Tokens>, args, stream);
  }
  /// Streaming mma.sync (W4ASqMmaStreamPolicy): one MMA column (8 tokens) when M fits it, else
  /// two per CTA.
  static Status run_mma_stream(const Arguments& args, cudaStream_t stream) {
    return args.m <= 8 ? launch_mma_stream<8>(args, stream) : launch_mma_stream<16>(args, stream);
  }

  /// The kernel of this policy's schedule and weight layout (prepacked: prepass policies only).
  template <bool PrepackedW> static auto sm90_kernel() {
    if constexpr (Policy::schedule == Schedule::warp_specialized)
      return detail::w4a_sq_static_ws_sm90_kernel<low_bits, Policy, PrepackedW>;
    else
      return detail::w4a_sq_static_sm90_kernel<low_bits, Policy, PrepackedW>;
  }

  static bool aligned(const void* p, std::size_t bytes) {
    return reinterpret_cast<std::uintptr_t>(p) % bytes == 0;
  }

  static Status run_sm90(const Arguments& args, void* workspace, cudaStream_t stream) {
    if constexpr (Policy::low_staging == LowStaging::prepass) {
      if (uses_prepacked(args))
        return run_sm90_layout<true>(args, workspace, stream);
    }
    return run_sm90_layout<false>(args, workspace, stream);
  }

  template <bool PrepackedW>
  static Status run_sm90_layout(const Arguments& args, void* workspace, cudaStream_t stream) {
    using Shape = detail::W4ASqStaticSm90<low_bits, Policy>;
    const auto kernel = sm90_kernel<PrepackedW>();
    if (!kernel_built_for(kernel, 90))
      return Status::unsupported_architecture;
    if (ensure_dynamic_shared_memory(kernel, Shape::smem_bytes) != Status::success)
      return Status::cuda_error;

    detail::W4ASqStaticParams p = common_params(args);
    const int tiles = k_tiles(args);
    p.partials = p.splits > 1 ? reinterpret_cast<std::int32_t*>(
                                    static_cast<std::uint8_t*>(workspace) + prepass_bytes(args))
                              : nullptr;
    // Split tail (warp-specialized kernels): after the prepass buffer and the X sums.
    const TailPlan tail = tail_plan(args);
    // A group never needs more token tiles than there are (and group · channel tiles stays an
    // int on the device).
    const int group = args.token_group > 0 ? args.token_group : default_token_group;
    p.token_group = group < token_tiles(args) ? group : token_tiles(args);
    p.tail_first = static_cast<int>(tail.first);
    p.tail_pieces = tail.pieces;
    p.tail_k_tiles = tail.k_tiles;
    unsigned int* tail_counters = nullptr;
    if (tail.pieces > 1) {
      auto* base = static_cast<std::uint8_t*>(workspace) + prepass_bytes(args) + sums_bytes(args);
      p.tail_partials = reinterpret_cast<std::int32_t*>(base);
      tail_counters = reinterpret_cast<unsigned int*>(base + tail_slice_bytes(tail));
      p.tail_counters = tail_counters;
    }

    const auto k_half = static_cast<std::uint64_t>(args.k) / 2;
    const auto kh = static_cast<std::uint64_t>(p.k_high), kl = static_cast<std::uint64_t>(p.k_low);
    const auto rows_m = static_cast<std::uint64_t>(args.m);
    bool maps_ok = true;
    if constexpr (!PrepackedW)
      maps_ok = encode_tensor_map_2d(&p.tmap_w, args.w, k_half, args.n, k_half, 64, Policy::block_w,
                                     CU_TENSOR_MAP_SWIZZLE_64B);
    maps_ok = maps_ok && encode_tensor_map_2d(&p.tmap_x_high, args.x_high, kh, rows_m, kh, 128,
                                              Policy::block_tokens, CU_TENSOR_MAP_SWIZZLE_128B);
    if constexpr (Policy::low_staging == LowStaging::in_loop) {
      const std::uint64_t row = kl * low_bits / 8;
      maps_ok = maps_ok &&
                encode_tensor_map_2d(&p.tmap_x_low, args.x_low, row, rows_m, row, 16 * low_bits,
                                     Policy::block_tokens, CU_TENSOR_MAP_SWIZZLE_NONE);
    } else {
      maps_ok = maps_ok && encode_tensor_map_2d(&p.tmap_x_low, workspace, kl, rows_m, kl, 128,
                                                Policy::block_tokens, CU_TENSOR_MAP_SWIZZLE_128B);
    }
    if (!maps_ok)
      return Status::cuda_error;

    if constexpr (Policy::low_staging == LowStaging::prepass) {
      auto* wide = static_cast<std::int8_t*>(workspace);
      const int block = 256;
      if constexpr (PrepackedW) {
        // Widening plus the exact per-token segment sums, one block per token row.
        auto* sums = reinterpret_cast<std::int32_t*>(static_cast<std::uint8_t*>(workspace) +
                                                     prepass_bytes(args));
        detail::widen_low_and_sum_kernel<low_bits>
            <<<static_cast<unsigned>(args.m < (1 << 20) ? args.m : (1 << 20)), block, 0, stream>>>(
                args.x_low, wide, args.x_high, sums, args.m, p.k_high, p.k_low,
                args.weight_scale_group == 128 ? 1 : 0, tail_counters, tail.tiles);
        p.x_sums = sums;
        p.x_sum_segments = sum_segments(args);
        p.w_prepacked = args.w_prepacked;
        p.w_row_blocks = (args.n + 63) / 64;
      } else {
        const long long groups = static_cast<long long>(args.m) * (p.k_low / 32);
        const long long blocks = (groups + block - 1) / block;
        detail::widen_low_bits_kernel<low_bits>
            <<<static_cast<unsigned>(blocks < 65535 * 16 ? blocks : 65535 * 16), block, 0,
               stream>>>(args.x_low, wide, args.m, p.k_low, tail_counters, tail.tiles);
      }
      p.x_low = wide;
    }
    // Warp-specialized kernels: a 1-D grid over the output tiles, the split tail's pieces last.
    const dim3 grid = Policy::schedule == Schedule::warp_specialized
                          ? dim3(static_cast<unsigned>(
                                tail.first + static_cast<long long>(tail.tiles) * tail.pieces))
                          : dim3(channel_tiles(args), token_tiles(args), p.splits);
    kernel<<<grid, Policy::threads, Shape::smem_bytes, stream>>>(p);
    if (p.splits > 1) {
      const std::size_t outputs = static_cast<std::size_t>(args.m) * args.n;
      detail::w4a_sq_static_finalize_kernel<low_bits>
          <<<static_cast<unsigned>((outputs + 255) / 256), 256, 0, stream>>>(
              p, (p.k_high + 127) / 128, tiles);
    }
    return cudaGetLastError() == cudaSuccess ? Status::success : Status::cuda_error;
  }
};

} // namespace sqformat::gpu

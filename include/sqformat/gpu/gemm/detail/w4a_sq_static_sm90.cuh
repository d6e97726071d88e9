// sqformat/gpu/gemm/detail/w4a_sq_static_sm90.cuh: the fused dual-path W4A(SQ) static GEMM for
// Hopper (sm_90a), INT8 wgmma with the INT4 weights widened in registers.
//
// It computes Yᵀ = W · Xᵀ so that the narrow operand (W, INT4) is the register operand A of
// wgmma and the activations are operand B, read from shared memory:
//
//          K (permuted: high block [0,Kh), low block [Kh,K))
//        +---------------------+
//  W     | A: 64 rows per WG   |   INT4 -> s8 in registers, per k32 step
//  (N)   +---------------------+
//  X     | B: BlockTokens rows |   X_high: INT8 as stored; X_low: widened to INT8 (in the loop or
//  (M)   +---------------------+   by the prepass), both K-major, 128-byte swizzled in smem
//
// K is walked in tiles of 128: first the high block's tiles, then the low block's, each range
// zero-filled past its end (so Kh and Kl need only be multiples of 32). One int32 accumulator
// set per thread holds the exact sum of the current *segment* (the whole high block, the whole
// low block, or one group of 128 columns with per-group weight scales); when a segment ends, the
// sum is folded into a float32 accumulator in the order docs/layouts.md fixes:
//   acc += (s_x[m] * s_w[n, segment]) * float(int_sum)      (IEEE, no contraction)
// which makes the output bit-identical to the host reference epilogue.
//
// Pipeline: `Stages` shared-memory buffers filled by TMA (thread 0 issues, an mbarrier per stage
// reports completion; out-of-bounds boxes arrive as zeros: tokens past M, channels past N, columns
// past a range's end). Every warpgroup computes; TMA writes through the async proxy, so only the
// tiles that threads widen by hand need a proxy fence.
//
// Weights come in two layouts (template parameter PrepackedW): canonical packed INT4 (TMA box
// with the 64-byte swizzle; byte permutes and a sign-extending widening to s8 per register) or
// prepacked offset-binary nibbles (w4_prepack.hpp; one 16-byte shared load per two k32 steps, a
// mask or shift+mask per register, u8 x s8 wgmma, and the exact correction −8·Σx per token and
// segment from the prepass subtracted from the int32 sums before they are folded).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "../../common/ptx_sm90.cuh"
#include "../../common/tma_sm90.cuh"
#include "../tile_policy.hpp"
#include "w4_fragments.cuh"
#include "w4a_sq_static_params.hpp"
#include "wgmma_u8s8_rs.cuh"
#include "widen_low_bits.cuh"

namespace sqformat::gpu::detail {

template <int LowBits, class Policy> struct W4ASqStaticSm90 {
  static constexpr int block_w = Policy::block_w;
  static constexpr int block_tokens = Policy::block_tokens;
  static constexpr int stages = Policy::stages;
  static constexpr int threads = Policy::threads;
  static constexpr bool low_in_loop = Policy::low_staging == LowStaging::in_loop;
  static constexpr int block_k = 128; ///< K elements per pipeline stage
  static constexpr int accumulators = block_tokens / 2;

  // Shared memory of one stage; the X tile first so that it keeps the 1024-byte alignment the
  // 128-byte swizzle atoms need.
  static constexpr int x_tile_bytes = block_tokens * block_k; // INT8, swizzled
  static constexpr int w_tile_bytes = block_w * block_k / 2;  // INT4 packed, 64 B a row
  static constexpr int packed_tile_bytes = low_in_loop ? block_tokens * 16 * LowBits : 0;
  static constexpr std::uint32_t tx_bytes_int8 = x_tile_bytes + w_tile_bytes;
  static constexpr std::uint32_t tx_bytes_packed = packed_tile_bytes + w_tile_bytes;
  static constexpr int stage_bytes =
      (x_tile_bytes + w_tile_bytes + packed_tile_bytes + 1023) / 1024 * 1024;
  static constexpr int epilogue_stride = block_w + 8; ///< halves per staged output row (padding)
  static constexpr int epilogue_bytes = block_tokens * epilogue_stride * 2;
  static constexpr int pipeline_bytes = stages * stage_bytes;
  /// The stage barriers (full, then empty for the warp-specialized kernel) sit after the
  /// pipeline buffers (or the epilogue staging, if larger).
  static constexpr int barrier_offset =
      pipeline_bytes > epilogue_bytes ? pipeline_bytes : epilogue_bytes;
  /// Per-token data both sm_90 kernels stage after the barriers (W4ASqTokenData): the
  /// activation scales of both ranges (float) and the 8·Σx corrections of both ranges (int32).
  static constexpr int token_data_offset = barrier_offset + 2 * stages * 8;
  static constexpr int token_data_bytes = 4 * block_tokens * 4;
  static constexpr int smem_bytes =
      token_data_offset + token_data_bytes + 1024; // + 1024: alignment
  static_assert(smem_bytes <= 227 * 1024,
                "W4ASqTilePolicy: the stages exceed the 227 KB of shared memory a Hopper CTA may "
                "use; lower Stages");
};

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define SQFORMAT_SM90A_DEVICE_PASS 1
#endif

/// The CTA's per-token data in shared memory (K::token_data_offset), [range][token] with range 0
/// the high block and 1 the low block: the activation scales (0 past M) and, with prepacked
/// weights and per-channel weight scales, the corrections 8·Σx (0 otherwise; per-group scales
/// have one Σx per group of 128, which each fold loads itself). The folds at the range ends read
/// them from here: loaded from global memory inside a fold, one after another (the int_sums
/// stores between them may alias), they took about a quarter of the warp-specialized kernel's
/// consumer time at 2048 x 8192 x 8192 (Nsight Compute; docs/performance.md).
template <int BlockTokens> struct W4ASqTokenData {
  std::uint8_t* base; ///< scales [2][BlockTokens] (float), then corrections (int32)

  /// Threads `thread` of `threads` fill it for tokens m0 ..; a barrier must follow before a read.
  template <bool PrepackedW>
  __device__ __forceinline__ void stage(const W4ASqStaticParams& p, int m0, int thread,
                                        int threads) const {
    auto* const scale = reinterpret_cast<float*>(base);
    auto* const offset = reinterpret_cast<std::int32_t*>(base) + 2 * BlockTokens;
    for (int t = thread; t < BlockTokens; t += threads) {
      const int m = m0 + t;
      const bool real = m < p.m;
      scale[t] = real ? p.scale_x_high[m] : 0.0f;
      scale[BlockTokens + t] = real ? p.scale_x_low[m] : 0.0f;
      std::int32_t high = 0, low = 0;
      if constexpr (PrepackedW) {
        if (real && p.w_groups == 1) {
          const std::size_t row = static_cast<std::size_t>(m) * p.x_sum_segments;
          high = 8 * p.x_sums[row];
          low = 8 * p.x_sums[row + 1];
        }
      }
      offset[t] = high;
      offset[BlockTokens + t] = low;
    }
  }

  /// The scales of tokens t and t + 1 (t even) of `range`: one 8-byte load.
  __device__ __forceinline__ float2 scales(int range, int t) const {
    return *reinterpret_cast<const float2*>(base + 4 * (range * BlockTokens + t));
  }

  /// The corrections of tokens t and t + 1 (t even, m = m0 + t) for `range` and Σx segment
  /// `segment`.
  template <bool PrepackedW>
  __device__ __forceinline__ int2 corrections(const W4ASqStaticParams& p, int range, int t, int m,
                                              int segment) const {
    if constexpr (!PrepackedW) {
      return make_int2(0, 0);
    } else {
      if (p.w_groups == 1)
        return *reinterpret_cast<const int2*>(base + 4 * ((2 + range) * BlockTokens + t));
      auto sum = [&](int mm) {
        return mm < p.m ? 8 * p.x_sums[static_cast<std::size_t>(mm) * p.x_sum_segments + segment]
                        : 0;
      };
      return make_int2(sum(m), sum(m + 1));
    }
  }
};

/// Folds a finished segment's exact sums (acc, this thread's wgmma accumulators: rows row0 and
/// row0 + 8 of the CTA tile, tokens 8j + 2c + e) into the float accumulators `out`, in the
/// reference order: out += (s_x · s_w) · float(sum), separate IEEE roundings; with prepacked
/// weights the sum is first corrected by −8·Σx (exactly undoing the +8 offset). `range`: 0 high,
/// 1 low; `segment`: the index of the segment's Σx (the range, or the group of 128). The int_sums
/// test hook (`sums_plane`, null in production) is written in a separate pass, so that the fold
/// itself holds no stores.
///
/// `acc(i)` returns the sum of accumulator i (a register of the wgmma loop, or, in the split
/// tail, a word in shared memory read when needed).
template <int BlockTokens, bool PrepackedW, class Sums>
__device__ __forceinline__ void
fold_segment_sums(const W4ASqStaticParams& p, const W4ASqTokenData<BlockTokens>& tokens,
                  const Sums& acc, float (&out)[BlockTokens / 2], int range, int segment,
                  float w_scale_row0, float w_scale_row1, std::int32_t* sums_plane, int m0, int n0,
                  int row0, int c) {
#pragma unroll
  for (int j = 0; j < BlockTokens / 8; ++j) {
    const int t = 8 * j + 2 * c;
    const float2 sx = tokens.scales(range, t); // 0 past M
    const int2 offset = tokens.template corrections<PrepackedW>(p, range, t, m0 + t, segment);
#pragma unroll
    for (int e = 0; e < 2; ++e)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int idx = 4 * j + 2 * h + e;
        const std::int32_t sum = acc(idx) - (e ? offset.y : offset.x);
        const float s = __fmul_rn(e ? sx.y : sx.x, h ? w_scale_row1 : w_scale_row0);
        out[idx] = __fadd_rn(out[idx], __fmul_rn(s, static_cast<float>(sum)));
      }
  }
  if (sums_plane == nullptr)
    return;
#pragma unroll
  for (int j = 0; j < BlockTokens / 8; ++j) {
    const int t = 8 * j + 2 * c;
    const int2 offset = tokens.template corrections<PrepackedW>(p, range, t, m0 + t, segment);
#pragma unroll
    for (int e = 0; e < 2; ++e)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int m = m0 + t + e, n = n0 + row0 + 8 * h;
        if (m < p.m && n < p.n)
          sums_plane[static_cast<std::size_t>(m) * p.n + n] =
              acc(4 * j + 2 * h + e) - (e ? offset.y : offset.x);
      }
  }
}

/// The fold at the end of a range (per-channel scales; `group` 0) or of a group of 128 columns
/// (per-group scales; `group` its index) that both sm_90 kernels run: this thread's two weight
/// scales (0 past N), the int_sums plane of the range (test hook, per-channel scales only), then
/// fold_segment_sums (`acc` as there).
template <int BlockTokens, bool PrepackedW, class Sums>
__device__ __forceinline__ void
fold_range_sums(const W4ASqStaticParams& p, const W4ASqTokenData<BlockTokens>& tokens,
                const Sums& acc, float (&out)[BlockTokens / 2], bool high, int group, int m0,
                int n0, int row0, int c) {
  const bool grouped = p.w_groups > 1;
  const int na = n0 + row0, nb = na + 8;
  const float swa = na < p.n ? p.scale_w[static_cast<std::size_t>(na) * p.w_groups + group] : 0.f;
  const float swb = nb < p.n ? p.scale_w[static_cast<std::size_t>(nb) * p.w_groups + group] : 0.f;
  std::int32_t* plane = nullptr;
  if (p.int_sums != nullptr && !grouped)
    plane = p.int_sums + (high ? 0 : static_cast<std::size_t>(p.m) * p.n);
  fold_segment_sums<BlockTokens, PrepackedW>(p, tokens, acc, out, high ? 0 : 1,
                                             grouped ? group : (high ? 0 : 1), swa, swb, plane, m0,
                                             n0, row0, c);
}

template <int LowBits, class Policy, bool PrepackedW = false>
__global__ void __launch_bounds__(Policy::threads, 1)
    w4a_sq_static_sm90_kernel(const __grid_constant__ W4ASqStaticParams p) {
#if defined(SQFORMAT_SM90A_DEVICE_PASS)
  using K = W4ASqStaticSm90<LowBits, Policy>;
  using Mma = WgmmaRS<K::block_tokens, PrepackedW>;
  static_assert(!PrepackedW || !K::low_in_loop,
                "prepacked weights need prepass staging (the prepass computes the X sums)");
  extern __shared__ std::uint8_t smem_raw[];
  std::uint8_t* smem = reinterpret_cast<std::uint8_t*>(
      (reinterpret_cast<std::uintptr_t>(smem_raw) + 1023) & ~std::uintptr_t(1023));

  auto* full_bar = reinterpret_cast<std::uint64_t*>(smem + K::barrier_offset);
  const int tid = threadIdx.x;
  const int n0 = blockIdx.x * K::block_w;
  const int m0 = blockIdx.y * K::block_tokens;
  const int tiles_high = (p.k_high + K::block_k - 1) / K::block_k;
  const int tiles_low = (p.k_low + K::block_k - 1) / K::block_k;
  const int tiles = tiles_high + tiles_low;
  // This CTA's K tiles: all of them, or one split's consecutive share.
  const int t_begin = static_cast<int>(blockIdx.z) * p.tiles_per_split;
  const int t_end = min(tiles, t_begin + p.tiles_per_split);

  auto x_tile = [&](int stage) { return smem + stage * K::stage_bytes; };
  auto w_tile = [&](int stage) { return smem + stage * K::stage_bytes + K::x_tile_bytes; };
  auto packed_tile = [&](int stage) {
    return smem + stage * K::stage_bytes + K::x_tile_bytes + K::w_tile_bytes;
  };

  // ---- producer side: thread 0 issues the TMA copies of K tile `t` into buffer `stage` --------
  // Boxes past the end of a range (columns >= Kh for X_high, >= Kl for X_low, >= K/2 bytes for
  // W), past M or past N arrive as zeros; W columns past Kh in a high tile meet zero activations.
  auto load_tile = [&](int t, int stage) {
    const bool high = t < tiles_high;
    const int k_begin = (high ? t : t - tiles_high) * K::block_k; // inside the range
    const std::uint32_t bar = ptx::shared_address(&full_bar[stage]);
    if constexpr (PrepackedW) {
      // One 4096-byte block per 64 rows that exist (rows past the last block stay stale and
      // only reach discarded outputs).
      const int blocks = min(K::block_w / 64, p.w_row_blocks - n0 / 64);
      ptx::mbarrier_arrive_expect_tx(bar, K::x_tile_bytes + 4096 * blocks);
      for (int b = 0; b < blocks; ++b)
        ptx::bulk_load(ptx::shared_address(w_tile(stage) + 4096 * b),
                       p.w_prepacked + (static_cast<std::size_t>(n0 / 64 + b) * tiles + t) * 4096,
                       4096, bar);
    } else {
      ptx::mbarrier_arrive_expect_tx(bar, (high || !K::low_in_loop) ? K::tx_bytes_int8
                                                                    : K::tx_bytes_packed);
      const int w_col0 = high ? k_begin : p.k_high + k_begin;
      ptx::tma_load_2d(ptx::shared_address(w_tile(stage)), &p.tmap_w, bar, w_col0 / 2, n0);
    }
    if (high) {
      ptx::tma_load_2d(ptx::shared_address(x_tile(stage)), &p.tmap_x_high, bar, k_begin, m0);
    } else if constexpr (!K::low_in_loop) {
      ptx::tma_load_2d(ptx::shared_address(x_tile(stage)), &p.tmap_x_low, bar, k_begin, m0);
    } else {
      ptx::tma_load_2d(ptx::shared_address(packed_tile(stage)), &p.tmap_x_low, bar,
                       k_begin / 8 * LowBits, m0);
    }
  };

  // ---- widen the staged packed X_low tile of `stage` into its INT8 swizzled X tile ------------
  auto widen_staged_low = [&](int stage) {
    const std::uint8_t* staged = packed_tile(stage);
    std::uint8_t* x = x_tile(stage);
    for (int i = tid; i < K::block_tokens * 4; i += K::threads) {
      const int r = i >> 2, q = i & 3;
      std::uint32_t words[4];
      const auto* src =
          reinterpret_cast<const std::uint32_t*>(staged + r * 16 * LowBits + q * 4 * LowBits);
#pragma unroll
      for (int w = 0; w < LowBits; ++w)
        words[w] = src[w];
      std::uint32_t wide[8];
      widen_codes32<LowBits>(words, wide);
      *reinterpret_cast<uint4*>(x + r * 128 + (((2 * q) ^ (r & 7)) << 4)) =
          make_uint4(wide[0], wide[1], wide[2], wide[3]);
      *reinterpret_cast<uint4*>(x + r * 128 + (((2 * q + 1) ^ (r & 7)) << 4)) =
          make_uint4(wide[4], wide[5], wide[6], wide[7]);
    }
  };

  // ---- consumer side: this thread's place in the wgmma fragments ------------------------------
  const int wg = tid / 128;
  const int warp = (tid % 128) / 32;
  const int lane = tid % 32;
  const int g = lane / 4, c = lane % 4;
  const int row0 = wg * 64 + warp * 16 + g; // A rows row0 and row0 + 8 of the CTA tile
  // Byte selector that keeps this lane's two nibble pairs (k 4c..4c+3 and 16+4c..16+4c+3).
  const std::uint32_t pair_select = (c & 1) ? 0x7632u : 0x5410u;
  const int row_swizzle = (row0 >> 1) & 3; // same for row0 + 8

  std::int32_t acc[K::accumulators];
  float out[K::accumulators];
#pragma unroll
  for (int i = 0; i < K::accumulators; ++i) {
    acc[i] = 0;
    out[i] = 0.0f;
  }
  // Read by the folds only; the __syncthreads after the pipeline prologue below orders it.
  const W4ASqTokenData<K::block_tokens> tokens{smem + K::token_data_offset};
  tokens.template stage<PrepackedW>(p, m0, tid, K::threads);

  // Split-K: this CTA's exact partial sums of the current range go to a workspace plane.
  auto store_sums = [&](std::int32_t* plane) {
#pragma unroll
    for (int j = 0; j < K::block_tokens / 8; ++j)
#pragma unroll
      for (int e = 0; e < 2; ++e)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int m = m0 + 8 * j + 2 * c + e, n = n0 + row0 + 8 * h;
          if (m < p.m && n < p.n)
            plane[static_cast<std::size_t>(m) * p.n + n] = acc[4 * j + 2 * h + e];
        }
  };

  // ---- prologue: barriers, then the first `stages` tiles in flight ---------------------------
  if (tid == 0) {
    for (int s = 0; s < K::stages; ++s)
      ptx::mbarrier_init(ptx::shared_address(&full_bar[s]), 1);
    ptx::fence_mbarrier_init();
    for (int s = 0; s < K::stages && t_begin + s < t_end; ++s)
      load_tile(t_begin + s, s);
  }
  __syncthreads();

  const std::uint32_t x_smem0 = ptx::shared_address(x_tile(0));
  const std::uint32_t w_smem0 = ptx::shared_address(w_tile(0));
  // Loop-invariant byte offsets of this lane's A words inside a W tile: row (row0 + 8h), chunk
  // (s ^ row_swizzle) of the 64-byte swizzle, word c/2.
  std::uint32_t a_offset[4][2];
#pragma unroll
  for (int s = 0; s < 4; ++s)
#pragma unroll
    for (int h = 0; h < 2; ++h)
      a_offset[s][h] = (row0 + 8 * h) * 64 + ((s ^ row_swizzle) << 4) + 4 * (c >> 1);
  // Prepacked: this thread's first 16-byte chunk in its warpgroup's 4096-byte block.
  const std::uint32_t prepacked_offset = wg * 4096 + (warp * 32 + lane) * 16;
  bool segment_start = true;

  // ---- main loop: one K tile of 128 per iteration ---------------------------------------------
#pragma unroll 1
  for (int t = t_begin; t < t_end; ++t) {
    const int i = t - t_begin; // this CTA's tile count: picks the stage and its barrier phase
    const int stage = i % K::stages;
    const bool high = t < tiles_high;
    ptx::mbarrier_wait(ptx::shared_address(&full_bar[stage]), (i / K::stages) & 1);
    if constexpr (K::low_in_loop) {
      if (!high) {
        widen_staged_low(stage);
        ptx::fence_proxy_async_shared(); // st.shared (generic proxy) -> wgmma reads (async proxy)
        __syncthreads();
      }
    }

    const std::uint32_t w_smem = w_smem0 + stage * K::stage_bytes;
    const std::uint64_t desc = ptx::sw128_kmajor_descriptor(x_smem0 + stage * K::stage_bytes);
    // Canonical: row r's 16-byte chunk s (k 32s..32s+31) holds this lane's nibbles in its words
    // c/2 and 2 + c/2. Prepacked: the lane's 32 bytes are two 16-byte chunks. All shared loads
    // first, then the widening (independent chains), then one wgmma.fence (orders the writes of
    // a[] and, after a fold, of acc before the asynchronous reads) and the 4 MMAs back to back.
    // Descriptor: +32 bytes along K per k32 step inside the swizzle atom (address unit 16 B).
    std::uint32_t a[4][4];
    if constexpr (PrepackedW)
      load_w4_fragments_prepacked(w_smem + prepacked_offset, a);
    else
      load_w4_fragments_canonical(w_smem, a_offset, pair_select, a);
    ptx::wgmma_fence();
#pragma unroll
    for (int s = 0; s < 4; ++s)
      Mma::mma(acc, a[s], desc + 2 * s, !(segment_start && s == 0));
    ptx::wgmma_commit();
    segment_start = false;

    // Refill: once every warpgroup's MMAs of tile t - 1 are done, its buffer takes tile
    // t - 1 + stages. (Waiting for t - 1, not t, keeps this tile's MMAs in flight.)
    // Prepacked weights wait for tile t itself: their short widening rewrites a[] for tile
    // t + 1 while tile t's MMAs would still read it (the PTX ISA leaves register operands of
    // in-flight wgmma undefined to overwrite), which gave wrong sums on the device.
    if constexpr (PrepackedW)
      ptx::wgmma_wait<0>();
    else
      ptx::wgmma_wait<1>();
    __syncthreads();
    if (tid == 0 && i >= 1 && t - 1 + K::stages < t_end)
      load_tile(t - 1 + K::stages, (i - 1) % K::stages);

    const bool grouped = p.w_groups > 1;
    const bool range_ends = (t == tiles_high - 1) || (t == t_end - 1);
    if (grouped || range_ends) {
      ptx::wgmma_wait<0>();
      const int group =
          grouped ? (high ? t * K::block_k : p.k_high + (t - tiles_high) * K::block_k) / K::block_k
                  : 0;
      if (p.splits > 1) {
        const std::size_t plane_size = static_cast<std::size_t>(p.m) * p.n;
        store_sums(p.partials +
                   (2 * static_cast<std::size_t>(blockIdx.z) + (high ? 0 : 1)) * plane_size);
      } else {
        fold_range_sums<K::block_tokens, PrepackedW>(
            p, tokens, [&](int i) { return acc[i]; }, out, high, group, m0, n0, row0, c);
      }
      segment_start = true;
    }
  }
  if (p.splits > 1)
    return; // partial sums only; the finalize kernel writes Y

  // ---- epilogue: bias, round to bf16/fp16, stage in smem as [token][channel], 16 B stores ----
  ptx::wgmma_wait<0>();
  __syncthreads(); // pipeline buffers are free (every TMA copy issued was consumed)
  auto* staged = reinterpret_cast<std::uint16_t*>(smem);
#pragma unroll
  for (int j = 0; j < K::block_tokens / 8; ++j) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int n = n0 + row0 + 8 * h;
      const float b = (p.bias != nullptr && n < p.n) ? p.bias[n] : 0.0f;
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        float v = out[4 * j + 2 * h + e];
        if (p.bias != nullptr)
          v = __fadd_rn(v, b);
        const std::uint16_t bits = p.y_is_fp16 ? __half_as_ushort(__float2half_rn(v))
                                               : __bfloat16_as_ushort(__float2bfloat16_rn(v));
        staged[(8 * j + 2 * c + e) * K::epilogue_stride + row0 + 8 * h] = bits;
      }
    }
  }
  __syncthreads();
  constexpr int vectors_per_row = K::block_w / 8;
  for (int i = tid; i < K::block_tokens * vectors_per_row; i += K::threads) {
    const int r = i / vectors_per_row, v = i % vectors_per_row;
    const int m = m0 + r, n = n0 + 8 * v;
    if (m < p.m && n < p.n) {
      const uint4 value = *reinterpret_cast<const uint4*>(staged + r * K::epilogue_stride + 8 * v);
      *reinterpret_cast<uint4*>(static_cast<std::uint16_t*>(p.y) +
                                static_cast<std::size_t>(m) * p.n + n) = value;
    }
  }
#else
  (void)p; // compiled for an architecture without wgmma: never launched (run() checks first)
#endif
}

} // namespace sqformat::gpu::detail

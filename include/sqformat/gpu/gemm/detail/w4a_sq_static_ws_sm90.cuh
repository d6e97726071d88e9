// sqformat/gpu/gemm/detail/w4a_sq_static_ws_sm90.cuh: the warp-specialized W4A(SQ) static GEMM
// for Hopper (sm_90a), used by prefill policies (Schedule::warp_specialized, X_low widened by the
// prepass so that both activation blocks arrive as INT8 through TMA).
//
// Same mathematics, fragments and epilogue as w4a_sq_static_sm90.cuh (Yᵀ = W · Xᵀ, INT4 weights
// widened in registers onto INT8 RS wgmma, exact int32 sums per K range folded into float32 in
// the reference order), different schedule:
//
//   warpgroup 0 (producer)   one thread issues the TMA copies of K tile i into stage i % Stages
//                            once the consumers released that stage (empty barrier); the other
//                            threads give their registers away (setmaxnreg.dec) and exit.
//   warpgroups 1.. (consumers) each owns 64 output channels x BlockTokens tokens: wait for the
//                            stage (full barrier), widen its A fragments, issue 4 wgmma, wait
//                            for them and release the stage (one arrival per warp). No
//                            block-wide barrier in the main loop, so one warpgroup's widening
//                            overlaps another's MMAs and the TMA of later stages.
//
// Split tail: one CTA a SM (each holds the whole register file), so output tiles run in waves of
// one per SM, and a last wave that fills a few SMs takes as long as a full one (at 2048 x 8192
// with 192-channel tiles: 688 tiles, 5 full waves and 28 tiles). The host may split those last
// tiles along K into pieces that run side by side (W4ASqStaticParams::tail_first); each piece
// writes exact int32 partial sums and the last one to finish adds them and folds, so the output
// is bit-identical to the unsplit kernel's.
//
// PrepackedW: weights in the layout of w4_prepack.hpp (bulk copies of 4096-byte blocks, u8 A,
// the −8·Σx correction applied at each fold), as in w4a_sq_static_sm90.cuh.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "../../common/ptx_sm90.cuh"
#include "../../common/tma_sm90.cuh"
#include "../tile_policy.hpp"
#include "w4_fragments.cuh"
#include "w4a_sq_static_params.hpp"
#include "w4a_sq_static_sm90.cuh"
#include "wgmma_u8s8_rs.cuh"
#include "widen_low_bits.cuh"

namespace sqformat::gpu::detail {

/// Register split of the warp-specialized kernel (one producer warpgroup and `Consumers`
/// consumer warpgroups; setmaxnreg takes multiples of 8 in [24, 256]). Two consumers: launched
/// at 168 per thread (65536 / 384, rounded down to 8), the producer keeps 40 and each consumer
/// takes 232: 128·40 + 256·232 = 64512 <= 65536. Three: launched at 128 (65536 / 512), the
/// producer keeps 24 and each consumer takes 160: 128·24 + 384·160 = 64512.
template <int Consumers> struct W4ASqWsRegisters;
template <> struct W4ASqWsRegisters<2> {
  static constexpr int producer = 40;
  static constexpr int consumer = 232;
};
template <> struct W4ASqWsRegisters<3> {
  static constexpr int producer = 24;
  static constexpr int consumer = 160;
};

/// (token tile, channel tile) of output tile `tile` in groups of `group` token tiles: the groups
/// one after another, and inside a group the token tile fastest, so that the CTAs running at
/// the same time share W rows as well as X rows (group 1: channel tile fastest, row-major).
__device__ __forceinline__ int2 grouped_tile_origin(int tile, int token_tiles, int channel_tiles,
                                                    int group) {
  const int per_group = group * channel_tiles;
  const int g = tile / per_group, local = tile % per_group;
  const int rows = min(group, token_tiles - g * group); // the last group may be short
  return make_int2(g * group + local % rows, local / rows);
}

template <int LowBits, class Policy, bool PrepackedW = false>
__global__ void __launch_bounds__(Policy::threads, 1)
    w4a_sq_static_ws_sm90_kernel(const __grid_constant__ W4ASqStaticParams p) {
#if defined(SQFORMAT_SM90A_DEVICE_PASS)
  using K = W4ASqStaticSm90<LowBits, Policy>;
  using Mma = WgmmaRS<K::block_tokens, PrepackedW>;
  static_assert(Policy::low_staging == LowStaging::prepass,
                "the warp-specialized kernel reads X_low as INT8 (prepass staging)");
  constexpr int consumer_threads = Policy::consumer_threads;
  using Registers = W4ASqWsRegisters<consumer_threads / 128>;
  extern __shared__ std::uint8_t smem_raw[];
  std::uint8_t* smem = reinterpret_cast<std::uint8_t*>(
      (reinterpret_cast<std::uintptr_t>(smem_raw) + 1023) & ~std::uintptr_t(1023));

  auto* full_bar = reinterpret_cast<std::uint64_t*>(smem + K::barrier_offset);
  auto* empty_bar = full_bar + K::stages;
  const int tid = threadIdx.x;
  const int wg = tid / 128;
  const int tiles_high = (p.k_high + K::block_k - 1) / K::block_k;
  const int tiles_low = (p.k_low + K::block_k - 1) / K::block_k;
  const int tiles = tiles_high + tiles_low;
  // This CTA's output tile (1-D grid over the tiles in the order of grouped_tile_origin) and K
  // tiles: all of them, or one piece of a split tail tile.
  int tile = static_cast<int>(blockIdx.x);
  const bool split = tile >= p.tail_first;
  int piece = 0;
  if (split) {
    piece = (tile - p.tail_first) % p.tail_pieces;
    tile = p.tail_first + (tile - p.tail_first) / p.tail_pieces;
  }
  const int channel_tiles = (p.n + K::block_w - 1) / K::block_w;
  const int token_tiles = (p.m + K::block_tokens - 1) / K::block_tokens;
  const int2 origin = grouped_tile_origin(tile, token_tiles, channel_tiles, p.token_group);
  const int m0 = origin.x * K::block_tokens;
  const int n0 = origin.y * K::block_w;
  const int t_begin = split ? piece * p.tail_k_tiles : 0;
  const int t_end = split ? min(tiles, t_begin + p.tail_k_tiles) : tiles;

  auto x_tile = [&](int stage) { return smem + stage * K::stage_bytes; };
  auto w_tile = [&](int stage) { return smem + stage * K::stage_bytes + K::x_tile_bytes; };

  if (tid == 0) {
    for (int s = 0; s < K::stages; ++s) {
      ptx::mbarrier_init(ptx::shared_address(&full_bar[s]), 1);
      // One arrival per consumer warp releases a stage.
      ptx::mbarrier_init(ptx::shared_address(&empty_bar[s]), consumer_threads / 32);
    }
    ptx::fence_mbarrier_init();
  }
  __syncthreads(); // the only CTA-wide barrier: barriers initialized before anyone waits

  // ---- producer warpgroup ---------------------------------------------------------------------
  if (wg == 0) {
    ptx::setmaxnreg_dec<Registers::producer>();
    if (tid != 0)
      return;
    for (int i = t_begin; i < t_end; ++i) {
      const int j = i - t_begin; // position in this CTA's ring
      const int stage = j % K::stages;
      if (j >= K::stages) // wait until every consumer warp released the stage's previous tile
        ptx::mbarrier_wait(ptx::shared_address(&empty_bar[stage]), ((j / K::stages) - 1) & 1);
      // Boxes past the end of a range, past M or past N arrive as zeros; W columns past Kh in
      // a high tile meet zero activations.
      const bool high = i < tiles_high;
      const int k_begin = (high ? i : i - tiles_high) * K::block_k; // inside the range
      const std::uint32_t bar = ptx::shared_address(&full_bar[stage]);
      if constexpr (PrepackedW) {
        // One 4096-byte block per 64 rows that exist (rows past the last block stay stale and
        // only reach discarded outputs).
        const int blocks = min(K::block_w / 64, p.w_row_blocks - n0 / 64);
        ptx::mbarrier_arrive_expect_tx(bar, K::x_tile_bytes + 4096 * blocks);
        for (int b = 0; b < blocks; ++b)
          ptx::bulk_load(ptx::shared_address(w_tile(stage) + 4096 * b),
                         p.w_prepacked + (static_cast<std::size_t>(n0 / 64 + b) * tiles + i) * 4096,
                         4096, bar);
      } else {
        const int w_col0 = high ? k_begin : p.k_high + k_begin;
        ptx::mbarrier_arrive_expect_tx(bar, K::tx_bytes_int8);
        ptx::tma_load_2d(ptx::shared_address(w_tile(stage)), &p.tmap_w, bar, w_col0 / 2, n0);
      }
      ptx::tma_load_2d(ptx::shared_address(x_tile(stage)), high ? &p.tmap_x_high : &p.tmap_x_low,
                       bar, k_begin, m0);
    }
    return;
  }

  // ---- consumer warpgroups --------------------------------------------------------------------
  ptx::setmaxnreg_inc<Registers::consumer>();
  const int ctid = tid - 128; // thread index among the consumers
  const int cwg = ctid / 128; // consumer warpgroup: output channels 64·cwg .. 64·cwg + 63
  const int warp = (ctid % 128) / 32;
  const int lane = tid % 32;
  const int g = lane / 4, c = lane % 4;
  const int row0 = cwg * 64 + warp * 16 + g; // A rows row0 and row0 + 8 of the CTA tile
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

  // The CTA's per-token data (W4ASqTokenData), staged once by the consumers.
  const W4ASqTokenData<K::block_tokens> tokens{smem + K::token_data_offset};
  tokens.template stage<PrepackedW>(p, m0, ctid, consumer_threads);
  const bool grouped = p.w_groups > 1;
  ptx::named_barrier_sync(1, consumer_threads); // the consumers only

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
  const std::uint32_t prepacked_offset = cwg * 4096 + (warp * 32 + lane) * 16;
  bool segment_start = true;

  // Split tail: piece z's slice of range r (0 high, 1 low), block_w x block_tokens int32 in
  // register order: word i of consumer thread t at i · consumer_threads + t (coalesced).
  constexpr int slice_words = K::accumulators * consumer_threads;
  auto slice = [&](int z, int range) {
    const std::size_t index =
        (static_cast<std::size_t>(tile - p.tail_first) * p.tail_pieces + z) * 2 + range;
    return p.tail_partials + index * slice_words;
  };

#pragma unroll 1
  for (int i = t_begin; i < t_end; ++i) {
    const int j = i - t_begin;
    const int stage = j % K::stages;
    const bool high = i < tiles_high;
    ptx::mbarrier_wait(ptx::shared_address(&full_bar[stage]), (j / K::stages) & 1);

    const std::uint32_t w_smem = w_smem0 + stage * K::stage_bytes;
    const std::uint64_t desc = ptx::sw128_kmajor_descriptor(x_smem0 + stage * K::stage_bytes);
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

    // This tile's MMAs are done: its stage goes back to the producer (one arrival per warp) and
    // its A registers may be rewritten. Waiting here rather than one tile later: with the
    // later wait (MMAs of tile i still reading their register operands while tile i + 1 is
    // widened) the sums came out wrong on the device, so the overlap comes from the other
    // consumer warpgroups instead (one widens while another's MMAs run).
    ptx::wgmma_wait<0>();
    if (lane == 0)
      ptx::mbarrier_arrive(ptx::shared_address(&empty_bar[stage]));

    const bool range_ends = (i == tiles_high - 1) || (i == t_end - 1);
    if (split && range_ends) { // per-channel scales only: the range's partial sums to the slice
      std::int32_t* dst = slice(piece, high ? 0 : 1) + ctid;
#pragma unroll
      for (int a_i = 0; a_i < K::accumulators; ++a_i)
        dst[a_i * consumer_threads] = acc[a_i];
      segment_start = true;
    } else if (grouped || range_ends) {
      const int group =
          grouped ? (high ? i * K::block_k : p.k_high + (i - tiles_high) * K::block_k) / K::block_k
                  : 0;
      fold_range_sums<K::block_tokens, PrepackedW>(
          p, tokens, [&](int a_i) { return acc[a_i]; }, out, high, group, m0, n0, row0, c);
      segment_start = true;
    }
  }

  if (split) {
    // Publish this piece's slices, count it in; the last piece of the tile continues.
    __threadfence();
    ptx::named_barrier_sync(1, consumer_threads); // every consumer's MMAs and stores are done
    auto* last_flag = reinterpret_cast<volatile int*>(smem); // the pipeline buffers are idle
    if (ctid == 0)
      *last_flag = atomicInc(&p.tail_counters[tile - p.tail_first], p.tail_pieces - 1) ==
                   static_cast<unsigned>(p.tail_pieces - 1); // wraps back to 0 for the next call
    ptx::named_barrier_sync(1, consumer_threads);
    const bool last = *last_flag != 0;
    ptx::named_barrier_sync(1, consumer_threads); // everyone read the flag before smem is reused
    if (!last)
      return;
    __threadfence();
    // A piece folds nothing in its loop (split tails have per-channel scales), so `out` is still
    // zero; saying so frees its registers until the first fold below.
#pragma unroll
    for (int a_i = 0; a_i < K::accumulators; ++a_i)
      out[a_i] = 0.0f;
    // Both ranges in the reference's order (high, then low). The consumers add up the slices of
    // the pieces that cover the range (exact integer addition) into the idle pipeline buffers,
    // 16-byte words, `chunk` loads in flight a thread (the registers of `out` stay live, and a
    // thread's own 64 words would need them all); then each thread folds its sums, read from
    // there, as the unsplit kernel does.
    static_assert(slice_words * 4 <= K::pipeline_bytes, "a range's sums fit the pipeline buffers");
    constexpr int vectors = slice_words / 4; // int4 a range
    constexpr int chunk = 8;
    static_assert(vectors % (chunk * consumer_threads) == 0, "whole chunks per thread");
    auto* sum_vectors = reinterpret_cast<int4*>(smem);
    const auto* sum_words = reinterpret_cast<const std::int32_t*>(smem);
#pragma unroll
    for (int range = 0; range < 2; ++range) {
      if ((range == 0 ? tiles_high : tiles_low) == 0)
        continue;
#pragma unroll 1
      for (int v0 = 0; v0 < vectors / consumer_threads; v0 += chunk) {
        int4 t[chunk];
#pragma unroll
        for (int u = 0; u < chunk; ++u)
          t[u] = make_int4(0, 0, 0, 0);
#pragma unroll 1
        for (int z = 0; z < p.tail_pieces; ++z) {
          const int z_begin = z * p.tail_k_tiles, z_end = min(tiles, z_begin + p.tail_k_tiles);
          if (z_begin >= z_end || (range == 0 ? z_begin >= tiles_high : z_end <= tiles_high))
            continue; // this piece holds no K tile of the range (the host makes none empty)
          const auto* src = reinterpret_cast<const int4*>(slice(z, range));
#pragma unroll
          for (int u = 0; u < chunk; ++u) {
            const int4 x = __ldcg(src + (v0 + u) * consumer_threads + ctid);
            t[u].x += x.x;
            t[u].y += x.y;
            t[u].z += x.z;
            t[u].w += x.w;
          }
        }
#pragma unroll
        for (int u = 0; u < chunk; ++u)
          sum_vectors[(v0 + u) * consumer_threads + ctid] = t[u];
      }
      ptx::named_barrier_sync(1, consumer_threads);
      // The fold reads each sum from shared memory when it needs it (a register copy of all
      // of them next to `out` spilled with three consumer warpgroups).
      fold_range_sums<K::block_tokens, PrepackedW>(
          p, tokens, [&](int a_i) { return sum_words[a_i * consumer_threads + ctid]; }, out,
          range == 0, 0, m0, n0, row0, c);
      ptx::named_barrier_sync(1, consumer_threads); // read before the next range overwrites
    }
  }

  // ---- epilogue: bias, round to bf16/fp16, stage in smem as [token][channel], 16 B stores ----
  ptx::wgmma_wait<0>();
  // Every stage was consumed (each consumer waited on every full barrier), so no TMA copy is
  // still writing; the consumers meet (the producer warps have exited) before reusing the
  // pipeline buffers as the output staging area.
  ptx::named_barrier_sync(1, consumer_threads);
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
  ptx::named_barrier_sync(1, consumer_threads);
  constexpr int vectors_per_row = K::block_w / 8;
  for (int v_i = ctid; v_i < K::block_tokens * vectors_per_row; v_i += consumer_threads) {
    const int r = v_i / vectors_per_row, v = v_i % vectors_per_row;
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

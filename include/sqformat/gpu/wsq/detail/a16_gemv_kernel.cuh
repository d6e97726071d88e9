// sqformat/gpu/wsq/detail/a16_gemv_kernel.cuh: W(SQ)A16 decode for few tokens (M <= 4) on CUDA
// cores with the lanes of a warp ALONG K, for b = 64, INT4 low codes, INT8 high codes, H % 8 == 0.
//
// Contract: a warp owns RowsPerWarp consecutive rows of W and one K slice (blockIdx.y); it walks
// the slice in chunks of 1024 k. In a chunk, lane l owns the 32 codes k = 32l .. 32l + 31, i.e.
// half `l & 1` of bank `l >> 1`:
//
//   W_low, one chunk | 16 B   | 16 B   | 16 B   | 16 B   | ... | 16 B    |
//   owner            | lane 0 | lane 1 | lane 2 | lane 3 | ... | lane 31 |
//   bank, half       | 0, lo  | 0, hi  | 1, lo  | 1, hi  | ... | 15, hi  |
//
// so every warp load of W_low is 512 contiguous bytes, a lane pair reads its bank's H compact codes
// (H/2 each) and both scales. Loads of the next chunk (all rows of the warp) are issued before the
// current one is decoded. X of the block's current K stage is converted once to float in shared
// memory, token-minor, with 4 floats of padding after every 32 k (so the 16-byte reads of the low
// path, one lane every 32 k, hit distinct banks); the low path reads a word's 8 x values once and
// uses them for all rows of the warp.
//
// Low path, per 32-bit word (8 codes), as in the row-thread kernel: a SWAR pass finds the
// sentinels (nibble 1000) and maps code v to v + 8 with the sentinel as 8; a byte permutation puts
// a nibble into a magic float (2^23 + v + 8, or 2^19 + (v + 8) for high nibbles whose ulp is 1/16)
// and one subtraction gives v exactly; one FMA per code and token.
//
// High path: a lane compacts its 32 sentinel flags to one bit per code; its partner's flags come
// by one shuffle, so a lane pair shares the bank's 64-bit high mask. The even lane takes compact
// codes 0 .. H/2-1 (the H/2 lowest set bits, walked upwards), the odd lane codes H-1 .. H/2 (the
// H/2 highest, walked downwards): every lane does exactly H/2 steps, never divergent, each a
// find-most-significant-bit on its own half of the mask (bit-reversed on the even lane) and, once
// that is empty, on the partner's half. X at the position is a shared-memory read.
//
// Sums, in float32, per (row, token, lane, chunk): exact products code * x into low_even, low_odd
// (alternate codes) and high (the lane's H/2 codes); then
//     acc += s_low * (low_even + low_odd) + s_high * high
// over the lane's chunks in K order; then the 32 lanes are added by a fixed butterfly (5 shuffle
// steps); K slices, if more than one, go to the workspace and wsq_splitk_reduce_kernel adds them
// in slice order. Every order depends on the configuration, N, K and the token tile, never on the
// policy (warps per block, rows per warp).
#pragma once

#include <cstdint>

#include "../weights_view.hpp"
#include "codes.cuh"

namespace sqformat::gpu::wsq_detail {

/// Which configurations this kernel takes.
template <class C>
inline constexpr bool gemv_decode_supports =
    C::bank == 64 && C::low_bits == 4 && C::high_bits == 8 && C::high_per_bank % 8 == 0 &&
    C::high_per_bank < C::bank;

constexpr int kGemvChunkK = 1024;     ///< K elements a warp covers per step (32 lanes x 32 codes)
constexpr int kGemvMaxTokens = 4;     ///< largest M the kernel takes (token tiles 1, 2, 4)
constexpr int kGemvTargetRows = 8192; ///< K split: slices * N reaches this (no split from N = 8192)

/// K elements of X staged per block at a time for a tile of Tokens tokens: whole chunks, about
/// 32 KiB of float per block.
template <int Tokens> inline constexpr int kGemvStageK = 8192 / Tokens;
/// Floats of the staged X: Tokens per k plus 4 of padding per 32 k.
template <int Tokens>
inline constexpr int kGemvStageFloats = kGemvStageK<Tokens>* Tokens + kGemvStageK<Tokens> / 8;
/// Offset (floats) of token 0 of stage-local k in the staged X.
template <int Tokens> __device__ __forceinline__ int gemv_x_offset(int k) {
  return k * Tokens + 4 * (k >> 5);
}

/// One chunk's loads of one row for one lane.
template <class C> struct GemvRowChunk {
  uint4 low;                                ///< the lane's 32 INT4 codes
  std::uint32_t high[C::high_per_bank / 8]; ///< the lane's H/2 compact INT8 codes
  float s_low, s_high;
};

/// 16 bytes of W_low, read once: not kept in L1.
__device__ __forceinline__ uint4 gemv_load_stream(const std::uint8_t* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

/// Index of the most significant set bit (0xFFFFFFFF for 0).
__device__ __forceinline__ std::uint32_t gemv_msb(std::uint32_t v) {
  std::uint32_t r;
  asm("bfind.u32 %0, %1;" : "=r"(r) : "r"(v));
  return r;
}

/// 1 << s with PTX semantics (0 for s >= 32): a malformed bank (fewer than H sentinels) stays safe.
__device__ __forceinline__ std::uint32_t gemv_bit(std::uint32_t s) {
  std::uint32_t r;
  asm("shl.b32 %0, 1, %1;" : "=r"(r) : "r"(s));
  return r;
}

template <class C, class T, int WarpsPerBlock, int RowsPerWarp, int Tokens>
__global__ void __launch_bounds__(32 * WarpsPerBlock,
                                  (WarpsPerBlock <= 16 ? 16 / WarpsPerBlock : 1))
    wsq_a16_gemv_kernel(WsqWeightsView<C> w, const T* __restrict__ x, T* __restrict__ y,
                        float* __restrict__ partial, int m, int slice_chunks) {
  static_assert(gemv_decode_supports<C>, "wsq_a16_gemv_kernel: unsupported configuration");
  constexpr int H = C::high_per_bank, R = RowsPerWarp;
  constexpr int kStageK = kGemvStageK<Tokens>;
  constexpr int kStageChunks = kStageK / kGemvChunkK;
  static_assert(kStageK % kGemvChunkK == 0, "stages hold whole chunks");
  using Chunk = GemvRowChunk<C>;
  __shared__ __align__(16) float xs[kGemvStageFloats<Tokens>];

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const bool even = (lane & 1) == 0;
  const int row0 = (blockIdx.x * WarpsPerBlock + warp) * R;
  const int banks = w.banks();
  const int chunk_begin = blockIdx.y * slice_chunks;
  const int chunks_total = (w.k + kGemvChunkK - 1) / kGemvChunkK;
  const int chunk_end = min(chunks_total, chunk_begin + slice_chunks);
  const int bank_end = banks; // a slice ends on a chunk boundary or at K
  const std::size_t low_stride = w.low_row_bytes(), high_stride = w.high_row_bytes();

  // The lane's data of row row0c; row r of the warp is r rows further (32-bit offsets: R rows
  // of W fit easily). Rows past N repeat row0c: read, never written.
  const int row0c = min(row0, w.n - 1);
  const std::uint8_t* low_lane = w.low + std::size_t(row0c) * low_stride + 16 * lane;
  const std::uint8_t* high_lane =
      w.high + std::size_t(row0c) * high_stride + (lane >> 1) * H + (lane & 1) * (H / 2);
  const float* s_low_lane = w.scale_low + std::size_t(row0c) * banks + (lane >> 1);
  const float* s_high_lane = w.scale_high + std::size_t(row0c) * banks + (lane >> 1);
  std::uint32_t low_off[R], high_off[R], scale_off[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const std::uint32_t dr = row0 + r < w.n ? r : 0;
    low_off[r] = dr * std::uint32_t(low_stride);
    high_off[r] = dr * std::uint32_t(high_stride);
    scale_off[r] = dr * std::uint32_t(banks);
  }

  auto load_chunk = [&](int chunk, Chunk(&dst)[R]) {
    constexpr int kBanks = kGemvChunkK / C::bank;
    const bool active = chunk * kBanks + (lane >> 1) < bank_end;
    const std::uint8_t* lp = low_lane + std::size_t(chunk) * (kGemvChunkK / 2);
    const std::uint8_t* hp0 = high_lane + std::size_t(chunk) * (kBanks * H);
    const float* slp = s_low_lane + std::size_t(chunk) * kBanks;
    const float* shp = s_high_lane + std::size_t(chunk) * kBanks;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (active) {
        dst[r].low = gemv_load_stream(lp + low_off[r]);
        const std::uint32_t* hp = reinterpret_cast<const std::uint32_t*>(hp0 + high_off[r]);
        if constexpr (H / 8 == 4) {
          const uint4 v = __ldg(reinterpret_cast<const uint4*>(hp));
          dst[r].high[0] = v.x, dst[r].high[1] = v.y, dst[r].high[2] = v.z, dst[r].high[3] = v.w;
        } else if constexpr (H / 8 == 2) {
          const uint2 v = __ldg(reinterpret_cast<const uint2*>(hp));
          dst[r].high[0] = v.x, dst[r].high[1] = v.y;
        } else {
#pragma unroll
          for (int i = 0; i < H / 8; ++i)
            dst[r].high[i] = __ldg(hp + i);
        }
        dst[r].s_low = __ldg(slp + scale_off[r]);
        dst[r].s_high = __ldg(shp + scale_off[r]);
      } else {
        dst[r].low = make_uint4(0, 0, 0, 0);
#pragma unroll
        for (int i = 0; i < H / 8; ++i)
          dst[r].high[i] = 0;
        dst[r].s_low = dst[r].s_high = 0.0f;
      }
    }
  };

  // X[t][k0 .. k0 + len) to xs as float, zeros past M and past len up to whole chunks: 16-byte
  // loads, all issued before any store.
  auto stage_x = [&](int k0, int len, int padded_len) {
    constexpr int kVecs = kStageK / 8 * Tokens;
    constexpr int kPerThread = (kVecs + 32 * WarpsPerBlock - 1) / (32 * WarpsPerBlock);
    uint4 v[kPerThread];
#pragma unroll
    for (int r = 0; r < kPerThread; ++r) {
      const int i = threadIdx.x + r * 32 * WarpsPerBlock;
      const int t = i / (kStageK / 8), k = (i % (kStageK / 8)) * 8;
      v[r] = make_uint4(0, 0, 0, 0);
      if (i < kVecs && t < m && k < len) // len is a multiple of b, so of 8
        v[r] = __ldg(reinterpret_cast<const uint4*>(x + std::size_t(t) * w.k + k0 + k));
    }
#pragma unroll
    for (int r = 0; r < kPerThread; ++r) {
      const int i = threadIdx.x + r * 32 * WarpsPerBlock;
      const int t = i / (kStageK / 8), k = (i % (kStageK / 8)) * 8;
      if (i < kVecs && k < padded_len) {
        const std::uint32_t words[4] = {v[r].x, v[r].y, v[r].z, v[r].w};
        float* dst = xs + gemv_x_offset<Tokens>(k) + t;
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          const std::uint16_t bits = static_cast<std::uint16_t>(words[e / 2] >> (16 * (e % 2)));
          dst[e * Tokens] = Half16<T>::to_float(bits_to_half16<T>(bits));
        }
      }
    }
  };

  // The magic-float exponents as registers the compiler cannot fold: with a constant operand the
  // byte permutation would take its selector from a register, one extra move per code.
  const std::uint32_t opaque_zero = static_cast<std::uint32_t>(w.k) >> 31; // k > 0
  const std::uint32_t magic23 = 0x4B000000u | opaque_zero, magic19 = 0x49000000u | opaque_zero;

  float acc[R][Tokens];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < Tokens; ++t)
      acc[r][t] = 0.0f;

  // Decode one chunk of all rows; x_lane is this lane's 32 k in the staged X.
  auto decode_chunk = [&](const Chunk(&ck)[R], int stage_k0, bool active) {
    float low_even[R][Tokens], low_odd[R][Tokens];
    std::uint32_t flags_top[R][4];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int t = 0; t < Tokens; ++t)
        low_even[r][t] = low_odd[r][t] = 0.0f;
    const float* x_lane = xs + gemv_x_offset<Tokens>(stage_k0 + 32 * lane);
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      // The word's 8 x values (per token), read once for all rows.
      float xv[8][Tokens];
#pragma unroll
      for (int v = 0; v < 2 * Tokens; ++v) {
        const float4 f = reinterpret_cast<const float4*>(x_lane + 8 * q * Tokens)[v];
        const float fs[4] = {f.x, f.y, f.z, f.w};
#pragma unroll
        for (int c = 0; c < 4; ++c)
          xv[(4 * v + c) / Tokens][(4 * v + c) % Tokens] = fs[c];
      }
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const uint4 lw = ck[r].low;
        const std::uint32_t word = q == 0 ? lw.x : q == 1 ? lw.y : q == 2 ? lw.z : lw.w;
        // Bit 4j+3 of `keep` is set where code j is NOT the sentinel (low 3 bits nonzero or bit 3
        // clear); word ^ keep maps code v to v + 8 and the sentinel to 8 (value 0).
        const std::uint32_t nonzero3 = (word & 0x77777777u) + 0x77777777u;
        const std::uint32_t keep = 0x88888888u & (~word | nonzero3);
        const std::uint32_t even_codes = (word ^ keep) & 0x0F0F0F0Fu;
        const std::uint32_t odd_codes = (word ^ keep) & 0xF0F0F0F0u;
        flags_top[r][q] = sentinel_flags_top(word & ~nonzero3); // bit 4j+3: sentinel j
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const float ce =
              __fsub_rn(__uint_as_float(__byte_perm(even_codes, magic23, 0x7540 | i)), 8388616.0f);
          const float co =
              __fsub_rn(__uint_as_float(__byte_perm(odd_codes, magic19, 0x7540 | i)), 524296.0f);
#pragma unroll
          for (int t = 0; t < Tokens; ++t) {
            low_even[r][t] = __fmaf_rn(ce, xv[2 * i][t], low_even[r][t]);
            low_odd[r][t] = __fmaf_rn(co, xv[2 * i + 1][t], low_odd[r][t]);
          }
        }
      }
    }
    // High path. x of the lane pair's bank: own half at x_lane, partner's half at x_partner.
    const float* x_partner = xs + gemv_x_offset<Tokens>(stage_k0 + 32 * (lane ^ 1));
    const std::uint32_t flip = even ? 31u : 0u;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      // One flag bit per code of the lane's half, in K order.
      const std::uint32_t lo01 = __byte_perm(flags_top[r][0], flags_top[r][1], 0x0073);
      const std::uint32_t lo23 = __byte_perm(flags_top[r][2], flags_top[r][3], 0x0073);
      const std::uint32_t own = __byte_perm(lo01, lo23, 0x5410);
      const std::uint32_t partner = __shfl_xor_sync(0xFFFFFFFFu, own, 1);
      // Even lane: lowest bits first, so search the bit-reversed masks from the top.
      std::uint32_t cur = even ? __brev(own) : own;
      const std::uint32_t next = even ? __brev(partner) : partner;
      const float* xb = x_lane;
      // The lane's codes in walking order: even lane codes 0.., odd lane codes H-1 down.
      std::uint32_t codes[H / 8];
#pragma unroll
      for (int i = 0; i < H / 8; ++i) {
        const std::uint32_t c = even ? ck[r].high[i] : ck[r].high[H / 8 - 1 - i];
        codes[i] = __byte_perm(c, 0, even ? 0x3210 : 0x0123) ^ 0x80808080u; // v + 128
      }
      float high[Tokens];
#pragma unroll
      for (int t = 0; t < Tokens; ++t)
        high[t] = 0.0f;
#pragma unroll
      for (int s = 0; s < H / 2; ++s) {
        if (cur == 0) { // own half exhausted (happens at most once for a valid bank)
          cur = next;
          xb = x_partner;
        }
        const std::uint32_t p = gemv_msb(cur);
        cur &= ~gemv_bit(p);
        const int pos = int((p ^ flip) & 31u);
        const float ch =
            __fsub_rn(__uint_as_float(__byte_perm(codes[s / 4], magic23, 0x7540 | (s % 4))),
                      8388736.0f); // 2^23 + 128
        const float* xp = xb + pos * Tokens;
        if constexpr (Tokens == 4) {
          const float4 f = *reinterpret_cast<const float4*>(xp);
          high[0] = __fmaf_rn(ch, f.x, high[0]);
          high[1] = __fmaf_rn(ch, f.y, high[1]);
          high[2] = __fmaf_rn(ch, f.z, high[2]);
          high[3] = __fmaf_rn(ch, f.w, high[3]);
        } else if constexpr (Tokens == 2) {
          const float2 f = *reinterpret_cast<const float2*>(xp);
          high[0] = __fmaf_rn(ch, f.x, high[0]);
          high[1] = __fmaf_rn(ch, f.y, high[1]);
        } else {
          high[0] = __fmaf_rn(ch, *xp, high[0]);
        }
      }
      if (active) {
#pragma unroll
        for (int t = 0; t < Tokens; ++t) {
          const float low = __fadd_rn(low_even[r][t], low_odd[r][t]);
          acc[r][t] =
              __fadd_rn(acc[r][t], __fmaf_rn(ck[r].s_low, low, __fmul_rn(ck[r].s_high, high[t])));
        }
      }
    }
  };

  // Stages cover whole chunks of the slice; the loads of a chunk are issued one chunk ahead,
  // across stage boundaries.
  auto at_chunk = [&](int chunk, const Chunk(&ck)[R]) {
    const int rel = chunk - chunk_begin;
    const int stage_first = chunk_begin + rel / kStageChunks * kStageChunks;
    if (rel % kStageChunks == 0) { // block-uniform
      const int k0 = chunk * kGemvChunkK;
      const int stage_end_chunk = min(chunk_end, chunk + kStageChunks);
      const int len = min(w.k, stage_end_chunk * kGemvChunkK) - k0;
      __syncthreads(); // the previous stage's X is no longer read
      stage_x(k0, len, (stage_end_chunk - chunk) * kGemvChunkK);
      __syncthreads();
    }
    const bool active = chunk * (kGemvChunkK / C::bank) + (lane >> 1) < bank_end;
    decode_chunk(ck, (chunk - stage_first) * kGemvChunkK, active);
  };

  Chunk a[R], b[R];
  if (chunk_begin < chunk_end)
    load_chunk(chunk_begin, a);
  for (int chunk = chunk_begin; chunk < chunk_end; chunk += 2) {
    if (chunk + 1 < chunk_end)
      load_chunk(chunk + 1, b);
    at_chunk(chunk, a);
    if (chunk + 1 < chunk_end) {
      if (chunk + 2 < chunk_end)
        load_chunk(chunk + 2, a);
      at_chunk(chunk + 1, b);
    }
  }

  // Lanes in a fixed butterfly: every lane ends with the same sums.
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < Tokens; ++t)
#pragma unroll
      for (int d = 16; d >= 1; d /= 2)
        acc[r][t] = __fadd_rn(acc[r][t], __shfl_xor_sync(0xFFFFFFFFu, acc[r][t], d));

#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int t = 0; t < Tokens; ++t) {
      const int row = row0 + r;
      if (lane == (r * Tokens + t) % 32 && row < w.n && t < m) {
        if (partial != nullptr) {
          partial[(std::size_t(blockIdx.y) * m + t) * w.n + row] = acc[r][t];
        } else {
          y[std::size_t(t) * w.n + row] = Half16<T>::from_float(acc[r][t]);
        }
      }
    }
  }
}

} // namespace sqformat::gpu::wsq_detail

// sqformat/gpu/wsq/detail/a16_hybrid_kernel.cuh: W(SQ)A16 decode for up to 8 tokens with the low
// path on tensor cores and the high path on CUDA cores, for b = 64, INT4 low codes, INT8 high
// codes, H % 8 == 0, H <= 32.
//
// Why two units: the low path is dense (b - H of every b codes), so mma.m16n8k16 takes its
// multiply-adds (one instruction for 16 rows x 16 k x up to 8 tokens) and the CUDA cores only
// turn codes into 16-bit floats; the high path is sparse (H of b), so its H products a bank are
// plain FMAs at positions found by walking the sentinel mask, instead of a dense expanded operand.
//
// Contract: a block owns 16 rows of W (rows n0 .. n0+15) and one K slice (blockIdx.y); its
// kHybridSegments warps split the slice into consecutive runs of bank PAIRS (128 k) and their
// sums are added in warp order at the end (shared memory), so the order of every addition is a
// function of N and K only. A warp reads each byte of its W_low, W_high and scales once.
//
// Low path (as in a16_mma_kernel.cuh): thread t of a quad (t = lane % 4) owns codes
// 16t .. 16t+15 of each bank of rows g = lane / 4 and g + 8 (one 8-byte load each); MMA step j of a
// bank takes its slots 4j .. 4j+3, so one MMA never mixes banks. Sentinels (nibble 1000) are
// cleared to 0 and every code becomes an exact 16-bit float (byte permutation, LOP3, FMA); X of
// token g is the B operand. Per bank: acc_low += s_low * C (C = exact products summed by the MMA).
//
// High path: thread t of a quad walks the row-bank (row g + 8 (t >> 1), bank t & 1 of the pair).
// Every thread compacts the sentinel flags of its 16 codes of each of its 4 row-banks to 16 bits
// (multiplies, as the lanes-along-K kernel); a two-round butterfly inside the quad (shuffle with
// lane 2 apart, then 1 apart) gives each walker the 64-bit mask of its row-bank. The walker takes
// the set bits from the top down (find-most-significant-bit on the upper half until it is empty,
// then the lower half): exactly H steps, the k-th of which meets compact code H-1-k, with no
// divergence. X at the position comes from the warp's staged copy of the pair (shared memory, 16-
// bit), and hs += code * x in float32 (exact products); per bank acc_high += s_high * hs.
//
// Sums per (row, token): each warp's acc_low (C fragment owner) + (acc_high of the bank-0 walker
// + acc_high of the bank-1 walker), added over the warps in order; K slices go to the workspace
// and wsq_splitk_reduce_kernel adds them in slice order. Nothing depends on the policy (pairs in
// flight, blocks a SM).
#pragma once

#include <cstdint>

#include "../../common/ptx_sm90.cuh"
#include "../weights_view.hpp"
#include "a16_gemv_kernel.cuh"
#include "codes.cuh"
#include "fragments.cuh"

namespace sqformat::gpu::wsq_detail {

/// Which configurations this kernel takes.
template <class C>
inline constexpr bool hybrid_decode_supports =
    C::bank == 64 && C::low_bits == 4 && C::high_bits == 8 && C::high_per_bank % 8 == 0 &&
    C::high_per_bank <= 32;

constexpr int kHybridMaxTokens = 8; ///< one MMA column block of tokens
constexpr int kHybridSegments = 8;  ///< warps of a block, each a run of the slice's bank pairs
constexpr int kHybridXStride = 136; ///< 16-bit elements per token row of a warp's staged X pair
constexpr int kHybridTargetBlocks = 512; ///< K split: blocks * slices reaches this (4096 warps)

/// 16-byte vectors of a pair's X (Tokens x 128 values) each lane copies to shared memory.
template <int Tokens> inline constexpr int kHybridXVecs = Tokens <= 2 ? 1 : Tokens / 2;

/// One bank pair's register loads of one thread (X goes to shared memory by cp.async).
template <int H> struct HybridPairLoads {
  uint2 low[2][2];           ///< [row g, g+8][bank]: the thread's 16 INT4 codes
  std::uint32_t high[H / 4]; ///< the walker's row-bank: its H compact INT8 codes
  float s_low[2][2];         ///< [row][bank]
  float s_high;              ///< the walker's row-bank
};

/// 8 bytes of W_low, read once: not kept in L1.
__device__ __forceinline__ uint2 hybrid_load_stream(const std::uint8_t* p) {
  uint2 v;
  asm volatile("ld.global.nc.L1::no_allocate.v2.u32 {%0, %1}, [%2];"
               : "=r"(v.x), "=r"(v.y)
               : "l"(p));
  return v;
}

template <class C, class T, int PairsInFlight, int Tokens, int BlocksPerSm>
__global__ void __launch_bounds__(32 * kHybridSegments, BlocksPerSm)
    wsq_a16_hybrid_kernel(WsqWeightsView<C> w, const T* __restrict__ x, T* __restrict__ y,
                          float* __restrict__ partial, int m, int slice_pairs) {
  static_assert(hybrid_decode_supports<C>, "wsq_a16_hybrid_kernel: unsupported configuration");
  static_assert(Tokens == 1 || Tokens == 2 || Tokens == 4 || Tokens == 8, "token tile");
  constexpr int H = C::high_per_bank;
  constexpr int kRows = Tokens + 1; // X rows of a slot: the tile's tokens, then a zero row
  // Pairs in flight (one X slot each): the policy's, fewer where the slots would pass 40 KB.
  constexpr int kMaxSlots = 40960 / (kHybridSegments * kRows * kHybridXStride * 2);
  constexpr int D = PairsInFlight < kMaxSlots ? PairsInFlight : kMaxSlots;
  static_assert(D >= 1, "X slots do not fit");
  constexpr int kXVecs = kHybridXVecs<Tokens>;
  using Loads = HybridPairLoads<H>;

  // A warp's X slots; after its last pair they hold its sums (red_low[16][Tokens], then
  // red_high[2][16][Tokens]).
  __shared__ __align__(16) std::uint16_t xs[kHybridSegments][D][kRows * kHybridXStride];
  static_assert(48 * Tokens * sizeof(float) <= sizeof(xs[0]), "sums fit a warp's X slots");

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int walk_row = t >> 1, walk_bank = t & 1; // the row-bank this thread walks in a pair
  const int n0 = blockIdx.x * 16;
  const int banks = w.banks();
  const int pairs = (banks + 1) / 2;
  const int slice_begin = blockIdx.y * slice_pairs;
  const int slice_end = min(pairs, slice_begin + slice_pairs);
  const int seg = (slice_end - slice_begin + kHybridSegments - 1) / kHybridSegments;
  const int pair_begin = min(slice_end, slice_begin + warp * seg);
  const int pair_end = min(slice_end, pair_begin + seg);

  // The zero rows of the warp's slots (B operand of tokens past the tile).
  for (int i = lane; i < D * kHybridXStride / 8; i += 32) {
    const int slot = i / (kHybridXStride / 8), v = i % (kHybridXStride / 8);
    reinterpret_cast<uint4*>(&xs[warp][slot][Tokens * kHybridXStride])[v] = make_uint4(0, 0, 0, 0);
  }

  // Load pointers at pair pair_begin, advanced by one pair per load. Rows past N repeat row N-1:
  // read, never written.
  const int row_a = min(n0 + g, w.n - 1), row_b = min(n0 + g + 8, w.n - 1);
  const int row_w = walk_row ? row_b : row_a;
  const std::size_t low_stride = w.low_row_bytes(), high_stride = w.high_row_bytes();
  const int b_first = 2 * pair_begin;
  const std::uint8_t* low_a = w.low + std::size_t(row_a) * low_stride + b_first * 32 + 8 * t;
  const std::uint8_t* low_b = w.low + std::size_t(row_b) * low_stride + b_first * 32 + 8 * t;
  const std::uint8_t* high_w =
      w.high + std::size_t(row_w) * high_stride + (b_first + walk_bank) * H;
  const float* sl_a = w.scale_low + std::size_t(row_a) * banks + b_first;
  const float* sl_b = w.scale_low + std::size_t(row_b) * banks + b_first;
  const float* sh_w = w.scale_high + std::size_t(row_w) * banks + b_first + walk_bank;
  const int x_tok = lane >> 4; // X vector i of a pair: token x_tok + 2i, k offset 8 (lane % 16)
  const T* x_src = x + std::size_t(min(x_tok, m - 1)) * w.k + b_first * 64 + 8 * (lane & 15);
  int load_bank = b_first; // first bank of the next pair to load

  // Loads of the next pair into d, its X into slot `slot` by cp.async (zeros past M and K). Past
  // the warp's run it loads nothing but still commits a (empty) cp.async group, so that the wait
  // below counts pairs. A pair past the last bank (odd bank count) reads its first bank twice;
  // its X is zero, so it adds exact zeros.
  auto load = [&](Loads& d, int slot) {
    if (load_bank < 2 * pair_end) {
      const std::uint32_t second = load_bank + 1 < banks ? 1u : 0u;
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const std::uint32_t eb = e ? second : 0u; // the bank actually read
        d.low[0][e] = hybrid_load_stream(low_a + 32 * eb);
        d.low[1][e] = hybrid_load_stream(low_b + 32 * eb);
        d.s_low[0][e] = __ldg(sl_a + eb);
        d.s_low[1][e] = __ldg(sl_b + eb);
      }
      const std::uint32_t wb = walk_bank ? second - 1u : 0u; // -1: back to bank 0 of the pair
      const std::uint8_t* hp = high_w + int(wb) * H;
      if constexpr (H % 16 != 0) { // 8-byte aligned only (bank * H bytes)
#pragma unroll
        for (int i = 0; i < H / 8; ++i) {
          const uint2 v = __ldg(reinterpret_cast<const uint2*>(hp) + i);
          d.high[2 * i] = v.x, d.high[2 * i + 1] = v.y;
        }
      } else {
#pragma unroll
        for (int i = 0; i < H / 16; ++i) {
          const uint4 v = __ldg(reinterpret_cast<const uint4*>(hp) + i);
          d.high[4 * i] = v.x, d.high[4 * i + 1] = v.y, d.high[4 * i + 2] = v.z,
                     d.high[4 * i + 3] = v.w;
        }
      }
      d.s_high = __ldg(sh_w + int(wb));
      std::uint16_t* dst = &xs[warp][slot][x_tok * kHybridXStride + 8 * (lane & 15)];
#pragma unroll
      for (int i = 0; i < kXVecs; ++i) {
        const int tok = x_tok + 2 * i;
        if (tok < Tokens) {
          const bool ok = tok < m && load_bank * 64 + 8 * (lane & 15) < w.k;
          ptx::cp_async_16(ptx::shared_address(dst + 2 * i * kHybridXStride),
                           ok ? x_src + std::size_t(2 * i) * w.k : x, ok);
        }
      }
      low_a += 64, low_b += 64, high_w += 2 * H;
      sl_a += 2, sl_b += 2, sh_w += 2;
      x_src += 128;
      load_bank += 2;
    }
    ptx::cp_async_commit();
  };

  // Selectors of the quad butterfly and the mask assembly (see the header comment).
  const std::uint32_t sel_own = walk_bank ? 0x7632u : 0x5410u;
  const std::uint32_t sel_partner = walk_bank ? 0x5410u : 0x7632u;
  const std::uint32_t sel_lo = t == 0 ? 0x5410u : t == 1 ? 0x1054u : t == 2 ? 0x7632u : 0x3276u;
  const std::uint32_t sel_hi = t == 0 ? 0x7632u : t == 1 ? 0x3276u : t == 2 ? 0x5410u : 0x1054u;
  // Constants as registers the compiler cannot fold (an immediate would cost a move per use, or
  // split the LOP3 of the code conversion in two).
  const std::uint32_t opaque = static_cast<std::uint32_t>(w.k) >> 31; // 0: k > 0
  const std::uint32_t magic23 = 0x4B000000u | opaque;
  const std::uint32_t nib_mask = 0x000F000Fu | opaque;
  constexpr bool kBf16 = std::is_same_v<T, __nv_bfloat16>;
  const std::uint32_t pair_magic = (kBf16 ? 0x43084308u : 0x64086408u) | opaque;
  const std::uint32_t pair_one = (kBf16 ? 0x3F803F80u : 0x3C003C00u) | opaque;  // 1, 1
  const std::uint32_t pair_bias = (kBf16 ? 0xC308C308u : 0xE408E408u) | opaque; // -136 / -1032
  // This thread's B rows: token g, or the zero row past the tile.
  const int b_row = (g < Tokens ? g : Tokens) * kHybridXStride + 16 * t;

  float acc_low[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  float acc_high[Tokens];
#pragma unroll
  for (int i = 0; i < Tokens; ++i)
    acc_high[i] = 0.0f;

  // Decodes the pair whose X is complete in slot `slot` (the caller waited).
  auto decode = [&](const Loads& d, int slot) {
    const std::uint16_t* xw = xs[warp][slot];
    // Sentinels: bit 4q+3 of `sent` marks code q; `clean` has them cleared (code 0).
    std::uint32_t clean[2][2][2], top[2][2][2];
#pragma unroll
    for (int r = 0; r < 2; ++r)
#pragma unroll
      for (int e = 0; e < 2; ++e)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const std::uint32_t word = h ? d.low[r][e].y : d.low[r][e].x;
          const std::uint32_t sent = int4_sentinel_flags(word);
          clean[r][e][h] = word ^ sent;
          top[r][e][h] = sentinel_flags_top(sent);
        }

        // Low path: 4 MMAs a bank, scaled once per bank; B = X of token g (zero past the tile).
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const uint4* src = reinterpret_cast<const uint4*>(xw + b_row + 64 * e);
      const uint4 xb[2] = {src[0], src[1]};
      float c[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int wi = j >> 1;
        const std::uint32_t wa = clean[0][e][wi], wb = clean[1][e][wi];
        std::uint32_t a0, a1, a2, a3;
        const auto pair = [&](auto p, std::uint32_t v) {
          return int4_pair<T, decltype(p)::value>(v, v >> 4, nib_mask, pair_magic, pair_one,
                                                  pair_bias);
        };
        using P0 = std::integral_constant<int, 0>;
        using P1 = std::integral_constant<int, 1>;
        using P2 = std::integral_constant<int, 2>;
        using P3 = std::integral_constant<int, 3>;
        if (j & 1) {
          a0 = pair(P2{}, wa), a2 = pair(P3{}, wa), a1 = pair(P2{}, wb), a3 = pair(P3{}, wb);
        } else {
          a0 = pair(P0{}, wa), a2 = pair(P1{}, wa), a1 = pair(P0{}, wb), a3 = pair(P1{}, wb);
        }
        const uint4 xv = xb[wi];
        const std::uint32_t b0 = (j & 1) ? xv.z : xv.x, b1 = (j & 1) ? xv.w : xv.y;
        mma_16816<T>(c, a0, a1, a2, a3, b0, b1);
      }
      acc_low[0] = __fmaf_rn(d.s_low[0][e], c[0], acc_low[0]);
      acc_low[2] = __fmaf_rn(d.s_low[1][e], c[2], acc_low[2]);
      if constexpr (Tokens >= 2) { // column 2t+1 holds a token only from 2 tokens on
        acc_low[1] = __fmaf_rn(d.s_low[0][e], c[1], acc_low[1]);
        acc_low[3] = __fmaf_rn(d.s_low[1][e], c[3], acc_low[3]);
      }
    }

    // High path. Row r's 16 flags of bank e: byte 3 of top[r][e][0] (codes 0-7), of [1] (8-15).
    const std::uint32_t row_a =
        __byte_perm(__byte_perm(top[0][0][0], top[0][0][1], 0x0073),
                    __byte_perm(top[0][1][0], top[0][1][1], 0x0073), 0x5410);
    const std::uint32_t row_b =
        __byte_perm(__byte_perm(top[1][0][0], top[1][0][1], 0x0073),
                    __byte_perm(top[1][1][0], top[1][1][1], 0x0073), 0x5410);
    // Round 1 (lanes 2 apart): the pieces for the other row's walkers go across.
    const std::uint32_t keep = walk_row ? row_b : row_a;
    const std::uint32_t across = __shfl_xor_sync(0xFFFFFFFFu, walk_row ? row_a : row_b, 2);
    // Round 2 (lanes 1 apart): the partner's pieces from this thread and from lane t ^ 2.
    const std::uint32_t mine = __byte_perm(keep, across, sel_own); // sources t, t ^ 2
    const std::uint32_t theirs =
        __shfl_xor_sync(0xFFFFFFFFu, __byte_perm(keep, across, sel_partner), 1); // t ^ 1, t ^ 3
    std::uint32_t m_lo = __byte_perm(mine, theirs, sel_lo);
    std::uint32_t m_hi = __byte_perm(mine, theirs, sel_hi);

    std::uint32_t codes[H / 4]; // compact codes + 128 (offset binary)
#pragma unroll
    for (int i = 0; i < H / 4; ++i)
      codes[i] = d.high[i] ^ 0x80808080u;
    float hs[Tokens];
#pragma unroll
    for (int i = 0; i < Tokens; ++i)
      hs[i] = 0.0f;
    const std::uint16_t* xr = xw + 64 * walk_bank;
#pragma unroll
    for (int s = 0; s < H; ++s) {
      const int rank = H - 1 - s;
      const bool in_hi = m_hi != 0u;
      const std::uint32_t b = gemv_msb(in_hi ? m_hi : m_lo); // 0xFFFFFFFF: malformed bank
      const std::uint32_t bit = gemv_bit(b);
      if (in_hi) {
        m_hi ^= bit;
      } else {
        m_lo ^= bit;
      }
      const std::uint32_t pos = (b & 31u) | (in_hi ? 32u : 0u);
      const float ch =
          __fsub_rn(__uint_as_float(__byte_perm(codes[rank / 4], magic23, 0x7540 | (rank % 4))),
                    8388736.0f); // 2^23 + 128
#pragma unroll
      for (int i = 0; i < Tokens; ++i)
        hs[i] = __fmaf_rn(ch, Half16<T>::to_float(bits_to_half16<T>(xr[i * kHybridXStride + pos])),
                          hs[i]);
    }
#pragma unroll
    for (int i = 0; i < Tokens; ++i)
      acc_high[i] = __fmaf_rn(d.s_high, hs[i], acc_high[i]);
  };

  // Ring of D pairs: pair pair_begin + i lives in ring[i % D] and X slot i % D; a slot is
  // reloaded (pair + D) once its pair is decoded.
  __syncwarp(); // the zero rows are written
  Loads ring[D];
#pragma unroll
  for (int s = 0; s < D; ++s)
    load(ring[s], s);
  for (int p0 = pair_begin; p0 < pair_end; p0 += D) {
#pragma unroll
    for (int s = 0; s < D; ++s) {
      if (p0 + s >= pair_end)
        break;
      ptx::cp_async_wait<D - 1>(); // this thread's copies of the pair are done
      __syncwarp();                // and every lane's
      decode(ring[s], s);
      __syncwarp(); // every lane is done with the slot before it is reloaded
      load(ring[s], s);
    }
  }

  // The warp's sums into its own (now idle) X slots, then the warps in order.
  ptx::cp_async_wait<0>();
  __syncwarp();
  float* red = reinterpret_cast<float*>(&xs[warp][0][0]);
  __syncwarp();
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int tok = 2 * t + (i & 1);
    if (tok < Tokens)
      red[(g + 8 * (i >> 1)) * Tokens + tok] = acc_low[i];
  }
#pragma unroll
  for (int i = 0; i < Tokens; ++i)
    red[(16 + walk_bank * 16 + g + 8 * walk_row) * Tokens + i] = acc_high[i];
  __syncthreads();
  for (int o = threadIdx.x; o < 16 * Tokens; o += 32 * kHybridSegments) {
    const int r = o / Tokens, tok = o % Tokens;
    float v = 0.0f;
#pragma unroll
    for (int s = 0; s < kHybridSegments; ++s) {
      const float* rs = reinterpret_cast<const float*>(&xs[s][0][0]);
      v = __fadd_rn(v, __fadd_rn(rs[r * Tokens + tok], __fadd_rn(rs[(16 + r) * Tokens + tok],
                                                                 rs[(32 + r) * Tokens + tok])));
    }
    const int row = n0 + r;
    if (row < w.n && tok < m) {
      if (partial != nullptr) {
        partial[(std::size_t(blockIdx.y) * m + tok) * w.n + row] = v;
      } else {
        y[std::size_t(tok) * w.n + row] = Half16<T>::from_float(v);
      }
    }
  }
}

} // namespace sqformat::gpu::wsq_detail

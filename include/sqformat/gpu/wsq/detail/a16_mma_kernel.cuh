// sqformat/gpu/wsq/detail/a16_mma_kernel.cuh: W(SQ)A16 decode (M <= 64) on tensor cores, for
// configurations with b a multiple of 64, INT4 low codes, INT8 high codes and H % 8 == 0, H <= 32.
//
// Contract: a warp owns 16 rows of W (rows n0 .. n0+15) and one K slice (blockIdx.y); it reads
// each byte of its W_low rows, compact W_high rows and scales exactly once, and computes
// Yᵀ = W · Xᵀ for up to 8*NTiles tokens with mma.m16n8k16 (A = W codes, B = X). The slices of a
// row are added by wsq_splitk_reduce_kernel (splitk_reduce_kernel.cuh) in slice order.
//
// Exactness: A holds integer CODES (exact in bf16/fp16), so every product code * x is exact in
// float32; each bank keeps two accumulators (low path, high path) that are scaled once per bank:
//     acc += s_low * C_low + s_high * C_high.
//
// K mapping. The order of k inside one MMA is free as long as A and B agree, so thread t of a quad
// (t = lane % 4) owns 16 CONSECUTIVE k of every 64-k chunk, k0 + 16t + [0, 16): 8 bytes of W_low
// per row (one 8-byte load) and 32 bytes of X per token. MMA step j (0..3) uses its slots 4j ..
// 4j+3:
//
//     mma k index :  2t   2t+1 | 2t+8  2t+9
//     physical k  :  4j   4j+1 | 4j+2  4j+3      (+ k0 + 16t)
//     A register  :  a0 (row g), a1 (row g+8) | a2 (row g), a3 (row g+8)
//     B register  :  b0 = X[tok][..4j, 4j+1]  | b1 = X[tok][..4j+2, 4j+3]
//
// so a whole bank of 64 lies in one quad and one step never mixes banks.
//
// High path. The low A fragment is the code with sentinels cleared (a sentinel nibble 1000 XOR
// its own bit 3 is 0). The high A fragment holds the compact INT8 codes at the sentinel positions:
// per bank the warp writes its 16 rows' compact codes to shared memory as a table of windows
// (entry r = v[r], v[r+1], v[r+2], v[r+3] as 16-bit floats); a group of 4 slots with flag pattern f
// and rank r (sentinels of the bank before it: quad prefix sum of popcounts) reads entry r and
// expands it with one byte permutation and a mask per register pair (HighExpansion).
#pragma once

#include "../weights_view.hpp"
#include "codes.cuh"
#include "fragments.cuh"
#include "splitk_reduce_kernel.cuh"

namespace sqformat::gpu::wsq_detail {

/// Which configurations this kernel takes (the others use the generic kernel).
template <class C>
inline constexpr bool mma_decode_supports =
    C::bank % 64 == 0 && C::low_bits == 4 && C::high_bits == 8 && C::high_per_bank % 8 == 0 &&
    C::high_per_bank <= 32;

/// Tokens tiles whose X chunk is prefetched with the weights (more would cost occupancy).
constexpr int kPrefetchXTiles = 2;

/// Per-chunk loads a warp issues ahead of use.
template <int H, int XTiles> struct ChunkLoads {
  uint2 low_a, low_b; ///< 16 codes of rows g and g+8
  uint2 high[H / 8];  ///< compact codes of table row lane/2 (loaded at a bank's first chunk)
  float s_low_a, s_low_b, s_high_a, s_high_b;
  uint4 x[XTiles][2]; ///< X[token g + 8 nt][k0 + 16t, +16) when NTiles <= kPrefetchXTiles
};

template <class C, class T, int WarpsPerBlock, int ChunksInFlight, int NTiles>
__global__ void __launch_bounds__(32 * WarpsPerBlock)
    wsq_a16_mma_kernel(WsqWeightsView<C> w, const T* __restrict__ x, T* __restrict__ y,
                       float* __restrict__ partial, int m, int slice_banks) {
  static_assert(mma_decode_supports<C>, "wsq_a16_mma_kernel: configuration not supported");
  constexpr int H = C::high_per_bank;
  constexpr int kChunksPerBank = C::bank / 64;
  constexpr int kTableStride = H + 1; // entries per row; entry H is only read under a zero mask
  constexpr int S = ChunksInFlight;

  // The expansion table is split into two 8-byte halves (slots 0-1, slots 2-3): 16 entries of
  // 8 bytes fill the 32 banks exactly, so a half-warp's 64-bit lookups never conflict (one table of
  // 16-byte entries puts entries f and f+8 on the same banks).
  __shared__ uint2 expansion_lo[16], expansion_hi[16];
  __shared__ uint2 table[WarpsPerBlock][16][kTableStride];
  if (threadIdx.x < 16) {
    const HighExpansion e = make_high_expansion(threadIdx.x);
    expansion_lo[threadIdx.x] = make_uint2(e.sel_lo, e.mask_lo);
    expansion_hi[threadIdx.x] = make_uint2(e.sel_hi, e.mask_hi);
  }
  __syncthreads();

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int n0 = (blockIdx.x * WarpsPerBlock + warp) * 16;
  if (n0 >= w.n)
    return;
  const int banks = w.banks();
  const int bank_begin = blockIdx.y * slice_banks;
  const int bank_end = min(banks, bank_begin + slice_banks);
  const int chunk_begin = bank_begin * kChunksPerBank, chunk_end = bank_end * kChunksPerBank;
  const std::size_t low_stride = w.low_row_bytes(), high_stride = w.high_row_bytes();
  const int row_a = n0 + g, row_b = n0 + g + 8;
  const std::uint8_t* low_a = w.low + std::size_t(row_a) * low_stride + 8 * t;
  const std::uint8_t* low_b = w.low + std::size_t(row_b) * low_stride + 8 * t;
  const int table_row = lane >> 1, table_half = lane & 1;
  const std::uint8_t* high_src = w.high + std::size_t(n0 + table_row) * high_stride;

  constexpr int XTiles = NTiles <= kPrefetchXTiles ? NTiles : 1;
  constexpr bool kPrefetchX = NTiles <= kPrefetchXTiles;
  using Loads = ChunkLoads<H, XTiles>;
  // 16 X values of token tile nt for this thread's slots of `chunk` (zeros past M).
  auto load_x = [&](int chunk, int nt, uint4(&dst)[2]) {
    const int tok = nt * 8 + g;
    dst[0] = dst[1] = make_uint4(0, 0, 0, 0);
    if (tok < m) {
      const uint4* src =
          reinterpret_cast<const uint4*>(x + std::size_t(tok) * w.k + chunk * 64 + 16 * t);
      dst[0] = __ldg(src);
      dst[1] = __ldg(src + 1);
    }
  };
  auto load = [&](int chunk, Loads& l) {
    if (chunk >= chunk_end)
      return;
    if constexpr (kPrefetchX) {
#pragma unroll
      for (int nt = 0; nt < NTiles; ++nt)
        load_x(chunk, nt, l.x[nt]);
    }
    const std::size_t byte = std::size_t(chunk) * 32;
    l.low_a = __ldg(reinterpret_cast<const uint2*>(low_a + byte));
    l.low_b = __ldg(reinterpret_cast<const uint2*>(low_b + byte));
    if (chunk % kChunksPerBank == 0) {
      const int bank = chunk / kChunksPerBank;
#pragma unroll
      for (int i = 0; i < H / 8; ++i)
        l.high[i] = __ldg(reinterpret_cast<const uint2*>(high_src + std::size_t(bank) * H) + i);
      l.s_low_a = __ldg(w.scale_low + std::size_t(row_a) * banks + bank);
      l.s_low_b = __ldg(w.scale_low + std::size_t(row_b) * banks + bank);
      l.s_high_a = __ldg(w.scale_high + std::size_t(row_a) * banks + bank);
      l.s_high_b = __ldg(w.scale_high + std::size_t(row_b) * banks + bank);
    }
  };

  float acc[NTiles][4], c_low[NTiles][4], c_high[NTiles][4];
#pragma unroll
  for (int nt = 0; nt < NTiles; ++nt)
#pragma unroll
    for (int i = 0; i < 4; ++i)
      acc[nt][i] = c_low[nt][i] = c_high[nt][i] = 0.0f;
  float s_low_a = 0, s_low_b = 0, s_high_a = 0, s_high_b = 0;
  int carry = 0; // sentinels of the current bank in earlier chunks: row g low 16 bits, g+8 high

  Loads ring[S];
#pragma unroll
  for (int s = 0; s < S; ++s)
    load(chunk_begin + s, ring[s]);

  for (int chunk0 = chunk_begin; chunk0 < chunk_end; chunk0 += S) {
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const int chunk = chunk0 + s;
      if (chunk >= chunk_end)
        break;
      const Loads cur = ring[s];
      uint4 xs[NTiles][2]; // X of this chunk: prefetched, or loaded before the decode work
#pragma unroll
      for (int nt = 0; nt < NTiles; ++nt) {
        if constexpr (kPrefetchX) {
          xs[nt][0] = cur.x[nt][0], xs[nt][1] = cur.x[nt][1];
        } else {
          load_x(chunk, nt, xs[nt]);
        }
      }
      load(chunk + S, ring[s]);
      const bool bank_first = chunk % kChunksPerBank == 0;
      if (bank_first) {
        // Table of windows of this bank's compact codes, for the warp's 16 rows.
        std::uint32_t pairs[H / 2 + 2];
#pragma unroll
        for (int i = 0; i < H / 8; ++i) {
          const std::uint32_t lo = cur.high[i].x, hi = cur.high[i].y;
          pairs[4 * i + 0] = int8_pair<T>(int(std::int8_t(lo)), int(std::int8_t(lo >> 8)));
          pairs[4 * i + 1] = int8_pair<T>(int(std::int8_t(lo >> 16)), int(std::int8_t(lo >> 24)));
          pairs[4 * i + 2] = int8_pair<T>(int(std::int8_t(hi)), int(std::int8_t(hi >> 8)));
          pairs[4 * i + 3] = int8_pair<T>(int(std::int8_t(hi >> 16)), int(std::int8_t(hi >> 24)));
        }
        pairs[H / 2] = pairs[H / 2 + 1] = 0;
        __syncwarp(); // every lane is done with the previous bank's table
#pragma unroll
        for (int i = 0; i < H / 2; ++i) { // entries 2i (even lanes) and 2i+1 (odd lanes)
          const std::uint32_t odd_lo = __byte_perm(pairs[i], pairs[i + 1], 0x5432);
          const std::uint32_t odd_hi = __byte_perm(pairs[i + 1], pairs[i + 2], 0x5432);
          table[warp][table_row][2 * i + table_half] =
              table_half ? make_uint2(odd_lo, odd_hi) : make_uint2(pairs[i], pairs[i + 1]);
        }
        __syncwarp();
        s_low_a = cur.s_low_a, s_low_b = cur.s_low_b;
        s_high_a = cur.s_high_a, s_high_b = cur.s_high_b;
        carry = 0;
      }

      // Sentinels of rows g (a) and g+8 (b); quad prefix of their counts gives each thread the
      // rank of its first high code in the bank.
      const std::uint32_t sa0 = int4_sentinel_bits(cur.low_a.x),
                          sa1 = int4_sentinel_bits(cur.low_a.y);
      const std::uint32_t sb0 = int4_sentinel_bits(cur.low_b.x),
                          sb1 = int4_sentinel_bits(cur.low_b.y);
      const int own = (__popc(sa0) + __popc(sa1)) | ((__popc(sb0) + __popc(sb1)) << 16);
      int incl = own;
      int up = __shfl_up_sync(0xffffffffu, incl, 1, 4);
      incl += t >= 1 ? up : 0;
      up = __shfl_up_sync(0xffffffffu, incl, 2, 4);
      incl += t >= 2 ? up : 0;
      const int total = __shfl_sync(0xffffffffu, incl, 3, 4);
      const int base = carry + incl - own;
      carry += total;
      const int base_a = base & 0xFFFF, base_b = base >> 16;

      const std::uint32_t la0 = cur.low_a.x ^ sa0, la1 = cur.low_a.y ^ sa1;
      const std::uint32_t lb0 = cur.low_b.x ^ sb0, lb1 = cur.low_b.y ^ sb1;
      const std::uint32_t words_a[2] = {la0, la1}, words_b[2] = {lb0, lb1};
      const std::uint32_t sent_a[2] = {sa0, sa1}, sent_b[2] = {sb0, sb1};

#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int wi = j >> 1;
        std::uint32_t a0, a1, a2, a3;
        if (j & 1) {
          a0 = int4_pair<T, 2>(words_a[wi], words_a[wi] >> 4);
          a2 = int4_pair<T, 3>(words_a[wi], words_a[wi] >> 4);
          a1 = int4_pair<T, 2>(words_b[wi], words_b[wi] >> 4);
          a3 = int4_pair<T, 3>(words_b[wi], words_b[wi] >> 4);
        } else {
          a0 = int4_pair<T, 0>(words_a[wi], words_a[wi] >> 4);
          a2 = int4_pair<T, 1>(words_a[wi], words_a[wi] >> 4);
          a1 = int4_pair<T, 0>(words_b[wi], words_b[wi] >> 4);
          a3 = int4_pair<T, 1>(words_b[wi], words_b[wi] >> 4);
        }
        // Rank of slot 4j within the thread's 16 slots, then the expansion of its 4 flags.
        int before_a = 0, before_b = 0;
        if (j >= 1) {
          before_a = __popc(j >= 2 ? sa0 : (sa0 & 0xFFFFu));
          before_b = __popc(j >= 2 ? sb0 : (sb0 & 0xFFFFu));
        }
        if (j == 3) {
          before_a += __popc(sa1 & 0xFFFFu);
          before_b += __popc(sb1 & 0xFFFFu);
        }
        const unsigned fa = (j & 1) ? group_flags<1>(sent_a[wi]) : group_flags<0>(sent_a[wi]);
        const unsigned fb = (j & 1) ? group_flags<1>(sent_b[wi]) : group_flags<0>(sent_b[wi]);
        const uint2 va = table[warp][g][min(base_a + before_a, H)];
        const uint2 vb = table[warp][g + 8][min(base_b + before_b, H)];
        const uint2 ea_lo = expansion_lo[fa], ea_hi = expansion_hi[fa];
        const uint2 eb_lo = expansion_lo[fb], eb_hi = expansion_hi[fb];
        const std::uint32_t h0 = __byte_perm(va.x, va.y, ea_lo.x) & ea_lo.y;
        const std::uint32_t h2 = __byte_perm(va.x, va.y, ea_hi.x) & ea_hi.y;
        const std::uint32_t h1 = __byte_perm(vb.x, vb.y, eb_lo.x) & eb_lo.y;
        const std::uint32_t h3 = __byte_perm(vb.x, vb.y, eb_hi.x) & eb_hi.y;
#pragma unroll
        for (int nt = 0; nt < NTiles; ++nt) {
          const uint4 xv = xs[nt][j >> 1]; // slots 4j .. 4j+3: b0 = (4j, 4j+1), b1 = (4j+2, 4j+3)
          const std::uint32_t b0 = (j & 1) ? xv.z : xv.x, b1 = (j & 1) ? xv.w : xv.y;
          mma_16816<T>(c_low[nt], a0, a1, a2, a3, b0, b1);
          mma_16816<T>(c_high[nt], h0, h1, h2, h3, b0, b1);
        }
      }

      if (chunk % kChunksPerBank == kChunksPerBank - 1) { // bank done: scale and add
#pragma unroll
        for (int nt = 0; nt < NTiles; ++nt) {
#pragma unroll
          for (int i = 0; i < 4; ++i) {
            const float sl = i < 2 ? s_low_a : s_low_b, sh = i < 2 ? s_high_a : s_high_b;
            acc[nt][i] =
                __fadd_rn(acc[nt][i], __fmaf_rn(sl, c_low[nt][i], __fmul_rn(sh, c_high[nt][i])));
            c_low[nt][i] = c_high[nt][i] = 0.0f;
          }
        }
      }
    }
  }

#pragma unroll
  for (int nt = 0; nt < NTiles; ++nt) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int tok = nt * 8 + 2 * t + (i & 1);
      const int row = i < 2 ? row_a : row_b;
      if (tok < m) {
        if (partial != nullptr) {
          partial[(std::size_t(blockIdx.y) * m + tok) * w.n + row] = acc[nt][i];
        } else {
          y[std::size_t(tok) * w.n + row] = Half16<T>::from_float(acc[nt][i]);
        }
      }
    }
  }
}

} // namespace sqformat::gpu::wsq_detail

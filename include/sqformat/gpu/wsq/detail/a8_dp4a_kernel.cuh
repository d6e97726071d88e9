// sqformat/gpu/wsq/detail/a8_dp4a_kernel.cuh: W(SQ)A8 for INT4 low / INT8 high codes, b = 32,
// 64 or 128 and at most 32 high elements a bank: each weight byte read once for up to 64 tokens,
// both paths' sums by dp4a over dense words.
//
// Contract: one warp per output row n; blockIdx.y selects a tile of up to kA8Tokens tokens. Lane l
// takes banks l, l + 32, ... and decodes its bank once a tile:
//   low path   16-byte loads of the low codes; each 32-bit word of 8 codes split into its even and
//              odd codes as signed bytes, the sentinels set to 0;
//   high path  the bank's H compact codes (4- or 8-byte loads where H allows them) written
//              into a zeroed dense bank of signed bytes at the sentinels' positions, in the lane's
//              own shared-memory slot, and read back as b / 4 words. The positions come from a
//              bit mask of the sentinels (bit p for position p), walked lowest bit first for
//              exactly H steps: step j places compact code j, so a bank with fewer sentinels
//              leaves codes unused and one with more leaves the extra positions at 0 (malformed
//              banks: the result is unspecified, every access stays inside the bank).
// Activations: the block's warps (rows) work on the same round of 32 banks, so the block stages
// the round's activations of 8 tokens (4 at b = 128) in shared memory, loaded with consecutive
// threads on consecutive 16-byte chunks of X, each bank in a padded slot; every warp then reads its
// lanes' banks from there, conflict-free. (Each lane loading its own bank's activations from
// global memory, lanes b bytes apart, kept L1 saturated from 16 tokens on: every row reads all of
// X, and each such load touched 16 cache lines.) Then, per token and 16-byte chunk (four words):
// two dp4a a low word (the activations regrouped into even and odd bytes by two byte permutes)
// and one dp4a a dense high word. Both sums are exact int32, the same as the generic walk's
// (a8_kernel.cuh): an integer sum does not depend on the order of its terms. The dense high bank
// replaces a walk per token that read each activation at a high position from memory (at 64 tokens,
// 512 scalar loads a bank and lane).
//
// Epilogue, the order of docs/layouts.md (and of the generic kernel): for each bank in increasing
// K, low then high, acc += (s_x[m] * s_w) * float(sum) in float32 with no contraction. The terms
// of a round of 32 banks go to shared memory (only for the tile's present tokens); the lane that
// owns a token (lane t % 32 holds tokens t and t + 32 of the tile) reads them with 16-byte loads
// issued ahead of its chain of adds and adds them in bank order, so Y equals the reference bit
// for bit.
#pragma once

#include <cstdint>

#include "../weights_view.hpp"
#include "codes.cuh"

namespace sqformat::gpu::wsq_detail {

/// INT4 low / INT8 high codes, b = 32, 64 or 128, at most 32 high elements a bank (the compact
/// codes of a bank stay in 8 registers).
template <class C>
inline constexpr bool a8_dp4a_supports = C::low_bits == 4 && C::high_bits == 8 &&
                                         C::high_per_bank <= 32 &&
                                         (C::bank == 32 || C::bank == 64 || C::bank == 128);
inline constexpr int kA8Tokens = 64;   ///< tokens a warp takes for one read of its row
inline constexpr int kA8SubTokens = 8; ///< tokens whose sums a lane holds at once

/// Bytes of a lane's dense high bank in shared memory: b plus 16 of padding, so that the 16-byte
/// accesses of 8 consecutive lanes (one shared-memory wavefront) fall in distinct banks.
template <class C> inline constexpr int kA8DenseSlot = C::bank + 16;
/// Tokens whose activations a block stages in shared memory at once (a round's 32 banks each).
template <class C> inline constexpr int kA8StageTokens = C::bank == 128 ? 4 : 8;
/// Bytes of a warp's scratch: its lanes' dense high banks while it decodes a round, then the
/// terms of its epilogue ([low, high][token][bank], rows of 36 floats).
template <class C>
inline constexpr int kA8WarpScratch =
    32 * kA8DenseSlot<C> > 2 * 8 * 36 * 4 ? 32 * kA8DenseSlot<C> : 2 * 8 * 36 * 4;
/// Static shared memory of a block of `warps` warps: the staged activations and the scratch.
template <class C, int Warps>
inline constexpr int kA8Dp4aSmemBytes =
    kA8StageTokens<C> * 32 * kA8DenseSlot<C> + Warps* kA8WarpScratch<C>;

/// Bit mask of the sentinel positions of 8 words of 8 INT4 codes (64 positions): bit 8w + q for
/// code q of word w, from each word's flags in the top byte (sentinel_flags_top: bit 24 + q)
/// gathered by byte permutes.
__device__ __forceinline__ std::uint64_t sentinel_mask64(const std::uint32_t (&top)[8]) {
  const auto four = [](std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) {
    return __byte_perm(__byte_perm(a, b, 0x0073), __byte_perm(c, d, 0x0073), 0x5410);
  };
  return std::uint64_t(four(top[0], top[1], top[2], top[3])) |
         std::uint64_t(four(top[4], top[5], top[6], top[7])) << 32;
}

/// The H compact high codes of `bank` as bytes of ceil(H / 4) words (byte j of the list is
/// compact code j). Vector loads where H is a multiple of 8 or 4 (a row is H * banks bytes, so
/// rows and the bank's codes start at multiples of H from the 16-byte aligned base), byte loads
/// otherwise.
template <class C>
__device__ __forceinline__ void
load_bank_high_codes(const std::uint8_t* high_row, int bank,
                     std::uint32_t (&codes)[(C::high_per_bank + 3) / 4]) {
  constexpr int H = C::high_per_bank;
  const std::uint8_t* src = high_row + std::size_t(bank) * H;
  if constexpr (H % 8 == 0) {
#pragma unroll
    for (int i = 0; i < H / 8; ++i) {
      const uint2 v = __ldg(reinterpret_cast<const uint2*>(src) + i);
      codes[2 * i] = v.x;
      codes[2 * i + 1] = v.y;
    }
  } else if constexpr (H % 4 == 0) {
#pragma unroll
    for (int i = 0; i < H / 4; ++i)
      codes[i] = __ldg(reinterpret_cast<const unsigned int*>(src) + i);
  } else {
#pragma unroll
    for (int i = 0; i < (H + 3) / 4; ++i)
      codes[i] = 0;
#pragma unroll
    for (int j = 0; j < H; ++j)
      codes[j / 4] |= static_cast<std::uint32_t>(__ldg(src + j)) << (8 * (j % 4));
  }
}

template <class C, class OutT, int WarpsPerBlock>
__global__ void __launch_bounds__(32 * WarpsPerBlock)
    wsq_a8_dp4a_kernel(WsqWeightsView<C> w, const std::int8_t* __restrict__ x,
                       const float* __restrict__ x_scale, OutT* __restrict__ y, int m) {
  static_assert(a8_dp4a_supports<C>, "wsq_a8_dp4a_kernel: see its header");
  constexpr int H = C::high_per_bank;
  constexpr int kWords = C::bank / 8;   // 32-bit words of 8 low codes a bank
  constexpr int kChunks = C::bank / 16; // 16-byte chunks of a bank's activations (and dense codes)
  constexpr int kSlot = kA8DenseSlot<C>;
  constexpr int kStage = kA8StageTokens<C>;
  static_assert(kA8SubTokens % kStage == 0 && kA8Dp4aSmemBytes<C, WarpsPerBlock> <= 48 * 1024,
                "wsq_a8_dp4a_kernel: shared memory");
  // The activations of kStage tokens for the round's 32 banks, each bank in a padded slot so that
  // the 16-byte reads of 8 consecutive lanes fall in distinct shared-memory banks.
  __shared__ alignas(16) std::uint8_t xs[kStage][32][kSlot];
  __shared__ alignas(16) std::uint8_t scratch[WarpsPerBlock][kA8WarpScratch<C>];
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  const int n = static_cast<int>(blockIdx.x) * WarpsPerBlock + warp;
  const bool row_ok = n < w.n; // a warp past N still stages activations and meets the barriers
  const int m0 = static_cast<int>(blockIdx.y) * kA8Tokens;
  const int tokens = min(kA8Tokens, m - m0);
  const int K = w.k, banks = w.banks();
  const std::uint8_t* low_row = w.low + std::size_t(row_ok ? n : 0) * w.low_row_bytes();
  const std::uint8_t* high_row = w.high + std::size_t(row_ok ? n : 0) * w.high_row_bytes();
  // A lane's dense high bank while the warp decodes; the epilogue's terms afterwards (a block
  // barrier lies between the two in every round).
  std::uint8_t* slot = scratch[warp] + lane * kSlot;
  auto* terms = reinterpret_cast<float(*)[kA8SubTokens][36]>(scratch[warp]);
  float acc[2] = {0.0f, 0.0f}; // tokens lane and lane + 32 of the tile

  for (int round = 0; round < banks; round += 32) {
    const int bank = round + lane;
    const bool active = row_ok && bank < banks;
    const int in_round = min(32, banks - round);
    std::uint32_t even[kWords], odd[kWords], high[4 * kChunks];
    float s_low = 0.0f, s_high = 0.0f;
    if (active) {
      std::uint32_t codes[(H + 3) / 4];
      load_bank_high_codes<C>(high_row, bank, codes);
      // Sentinel positions: bit p of mask[p / 64].
      constexpr int kMasks = (C::bank + 63) / 64;
      std::uint32_t top[kMasks * 8] = {}; // each word's flags in its top byte
      const auto* src = reinterpret_cast<const uint4*>(low_row) + std::size_t(bank) * kWords / 4;
#pragma unroll
      for (int q = 0; q < kWords / 4; ++q) {
        const uint4 v = __ldg(src + q);
        const std::uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int wi = 4 * q + e;
          const std::uint32_t word = words[e];
          top[wi] = sentinel_flags_top(int4_sentinel_flags(word));
          const std::uint32_t lo = word & 0x0F0F0F0Fu, hi = (word >> 4) & 0x0F0F0F0Fu;
          // 4-bit two's complement to signed bytes; the sentinel (-8) becomes 0.
          even[wi] = __vsub4(lo ^ 0x08080808u, 0x08080808u) & ~__vcmpeq4(lo, 0x08080808u);
          odd[wi] = __vsub4(hi ^ 0x08080808u, 0x08080808u) & ~__vcmpeq4(hi, 0x08080808u);
        }
      }
      std::uint64_t mask[kMasks];
#pragma unroll
      for (int i = 0; i < kMasks; ++i)
        mask[i] = sentinel_mask64(reinterpret_cast<const std::uint32_t(&)[8]>(top[8 * i]));
      s_low = w.scale_low[std::size_t(n) * banks + bank];
      s_high = w.scale_high[std::size_t(n) * banks + bank];
      // The dense high bank: zeros, then compact code j at the j-th sentinel.
#pragma unroll
      for (int c = 0; c < kChunks; ++c)
        reinterpret_cast<uint4*>(slot)[c] = make_uint4(0u, 0u, 0u, 0u);
#pragma unroll
      for (int j = 0; j < H; ++j) {
        const auto code = static_cast<std::uint8_t>(codes[j / 4] >> (8 * (j % 4)));
        if (mask[0] != 0) {
          slot[__ffsll(static_cast<long long>(mask[0])) - 1] = code;
          mask[0] &= mask[0] - 1;
        } else if constexpr (kMasks == 2) {
          if (mask[1] != 0) {
            slot[64 + __ffsll(static_cast<long long>(mask[1])) - 1] = code;
            mask[1] &= mask[1] - 1;
          }
        }
      }
      // Each lane reads back only its own slot: program order suffices, no barrier.
#pragma unroll
      for (int c = 0; c < kChunks; ++c) {
        const uint4 v = reinterpret_cast<const uint4*>(slot)[c];
        high[4 * c] = v.x;
        high[4 * c + 1] = v.y;
        high[4 * c + 2] = v.z;
        high[4 * c + 3] = v.w;
      }
    }
    for (int sub = 0; sub < tokens; sub += kA8SubTokens) { // warp-uniform
      int sum_low[kA8SubTokens], sum_high[kA8SubTokens];
#pragma unroll
      for (int t = 0; t < kA8SubTokens; ++t)
        sum_low[t] = sum_high[t] = 0;
#pragma unroll
      for (int p = 0; p < kA8SubTokens / kStage; ++p) {
        const int first = sub + p * kStage; // block-uniform
        if (first < tokens) {
          // Stage tokens first .. first + kStage - 1 of the round's banks: 16-byte chunks,
          // consecutive threads on consecutive chunks of X (coalesced), zeros past K.
          const int staged = min(kStage, tokens - first);
          __syncthreads(); // the previous pass's readers are done
          for (int i = static_cast<int>(threadIdx.x); i < staged * 32 * kChunks;
               i += 32 * WarpsPerBlock) {
            const int c = i % kChunks, bk = (i / kChunks) % 32, t = i / (kChunks * 32);
            uint4 v = make_uint4(0u, 0u, 0u, 0u);
            if (round + bk < banks)
              v = __ldg(reinterpret_cast<const uint4*>(x + std::size_t(m0 + first + t) * K +
                                                       std::size_t(round + bk) * C::bank) +
                        c);
            *reinterpret_cast<uint4*>(&xs[t][bk][16 * c]) = v;
          }
          __syncthreads();
          if (active) {
#pragma unroll
            for (int tt = 0; tt < kStage; ++tt) {
              const int t = p * kStage + tt;
              if (sub + t < tokens) {
#pragma unroll
                for (int c = 0; c < kChunks; ++c) {
                  const uint4 v = *reinterpret_cast<const uint4*>(&xs[tt][lane][16 * c]);
                  const std::uint32_t xw[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
                  for (int e = 0; e < 4; ++e)
                    sum_high[t] = __dp4a(static_cast<int>(high[4 * c + e]), static_cast<int>(xw[e]),
                                         sum_high[t]);
#pragma unroll
                  for (int h = 0; h < 2; ++h) { // word 2c + h holds codes 16c + 8h .. + 7
                    const std::uint32_t x0 = xw[2 * h], x1 = xw[2 * h + 1];
                    sum_low[t] = __dp4a(static_cast<int>(even[2 * c + h]),
                                        static_cast<int>(__byte_perm(x0, x1, 0x6420)), sum_low[t]);
                    sum_low[t] = __dp4a(static_cast<int>(odd[2 * c + h]),
                                        static_cast<int>(__byte_perm(x0, x1, 0x7531)), sum_low[t]);
                  }
                }
              }
            }
          }
        }
      }
#pragma unroll
      for (int t = 0; t < kA8SubTokens; ++t) {
        if (sub + t < tokens) { // warp-uniform; the slots of absent tokens are never read
          const float sx = x_scale[m0 + sub + t];
          terms[0][t][lane] = __fmul_rn(__fmul_rn(sx, s_low), static_cast<float>(sum_low[t]));
          terms[1][t][lane] = __fmul_rn(__fmul_rn(sx, s_high), static_cast<float>(sum_high[t]));
        }
      }
      __syncwarp();
      // Tokens sub .. sub + 7 belong to lanes sub % 32 .. + 7 (slot sub / 32).
      const int i = lane - (sub & 31);
      if (i >= 0 && i < kA8SubTokens && sub + i < tokens) {
        float a = sub >= 32 ? acc[1] : acc[0];
        // 16-byte reads of the whole padded row (issued ahead of the dependent adds); the terms
        // past in_round are never added.
#pragma unroll
        for (int q = 0; q < 8; ++q) {
          const float4 l = *reinterpret_cast<const float4*>(&terms[0][i][4 * q]);
          const float4 h = *reinterpret_cast<const float4*>(&terms[1][i][4 * q]);
          const float lv[4] = {l.x, l.y, l.z, l.w}, hv[4] = {h.x, h.y, h.z, h.w};
#pragma unroll
          for (int e = 0; e < 4; ++e)
            if (4 * q + e < in_round) {
              a = __fadd_rn(a, lv[e]);
              a = __fadd_rn(a, hv[e]);
            }
        }
        if (sub >= 32)
          acc[1] = a;
        else
          acc[0] = a;
      }
      __syncwarp(); // terms are free for the next tokens
    }
  }
  if (!row_ok)
    return;
  if (lane < tokens)
    y[std::size_t(m0 + lane) * w.n + n] = convert_out<OutT>(acc[0]);
  if (lane + 32 < tokens)
    y[std::size_t(m0 + lane + 32) * w.n + n] = convert_out<OutT>(acc[1]);
}

} // namespace sqformat::gpu::wsq_detail

// sqformat/gpu/wsq/detail/a8_dp4a_kernel.cuh: W(SQ)A8 for INT4 low / INT8 high codes, b = 32,
// 64 or 128 and at most 8 high elements a bank: each weight byte read once for up to 64 tokens,
// the sums by dp4a.
//
// Contract: one warp per output row n; blockIdx.y selects a tile of up to kA8Tokens tokens. Lane l
// takes banks l, l + 32, ... and decodes its bank once a tile: 16-byte loads of the low codes,
// each 32-bit word of 8 codes split into its even and odd codes as signed bytes (sentinels set
// to 0) and the word's sentinel flags (bit 4q + 3 for code q). Then, 8 tokens at a time:
//   low path   per word and token two dp4a against the token's 8 activations of the word,
//              regrouped into even and odd bytes by two byte permutes (16-byte loads of X);
//   high path  the sentinel flags walked in K order, each taking the bank's next compact high
//              code (clamped to the bank's H, as everywhere) times the activation at its position.
// Both sums are exact int32, the same as the generic walk's (a8_kernel.cuh).
//
// Epilogue, the order of docs/layouts.md (and of the generic kernel): for each bank in increasing
// K, low then high, acc += (s_x[m] * s_w) * float(sum) in float32 with no contraction. The terms
// of a round of 32 banks go to shared memory; the lane that owns a token (lane t % 32 holds
// tokens t and t + 32 of the tile) adds them in bank order, so Y equals the reference bit for bit.
#pragma once

#include <cstdint>

#include "../weights_view.hpp"
#include "codes.cuh"

namespace sqformat::gpu::wsq_detail {

/// At most 8 high elements a bank: the configurations its GPU test has run (the kernel's logic
/// does not depend on H; SQ6's H = 32 stays on the generic walk until a test has run it there).
template <class C>
inline constexpr bool a8_dp4a_supports = C::low_bits == 4 && C::high_bits == 8 &&
                                         C::high_per_bank <= 8 &&
                                         (C::bank == 32 || C::bank == 64 || C::bank == 128);
inline constexpr int kA8Tokens = 64;   ///< tokens a warp takes for one read of its row
inline constexpr int kA8SubTokens = 8; ///< tokens whose sums a lane holds at once

template <class C, class OutT, int WarpsPerBlock>
__global__ void __launch_bounds__(32 * WarpsPerBlock)
    wsq_a8_dp4a_kernel(WsqWeightsView<C> w, const std::int8_t* __restrict__ x,
                       const float* __restrict__ x_scale, OutT* __restrict__ y, int m) {
  static_assert(a8_dp4a_supports<C>, "wsq_a8_dp4a_kernel: see its header");
  constexpr int kWords = C::bank / 8;   // 32-bit words of 8 low codes a bank
  constexpr int kChunks = C::bank / 16; // 16-byte chunks of a bank's activations
  __shared__ float terms[WarpsPerBlock][2][kA8SubTokens][33]; // [low, high][token][bank], padded
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  const int n = static_cast<int>(blockIdx.x) * WarpsPerBlock + warp;
  if (n >= w.n) // the whole warp leaves
    return;
  const int m0 = static_cast<int>(blockIdx.y) * kA8Tokens;
  const int tokens = min(kA8Tokens, m - m0);
  const int K = w.k, banks = w.banks();
  const std::uint8_t* low_row = w.low + std::size_t(n) * w.low_row_bytes();
  const std::uint8_t* high_row = w.high + std::size_t(n) * w.high_row_bytes();
  float acc[2] = {0.0f, 0.0f}; // tokens lane and lane + 32 of the tile

  for (int round = 0; round < banks; round += 32) {
    const int bank = round + lane;
    const bool active = bank < banks;
    const int in_round = min(32, banks - round);
    std::uint32_t even[kWords], odd[kWords], sent[kWords];
    float s_low = 0.0f, s_high = 0.0f;
    if (active) {
      const auto* src = reinterpret_cast<const uint4*>(low_row) + std::size_t(bank) * kWords / 4;
#pragma unroll
      for (int q = 0; q < kWords / 4; ++q) {
        const uint4 v = __ldg(src + q);
        const std::uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const std::uint32_t word = words[e];
          sent[4 * q + e] = int4_sentinel_flags(word);
          const std::uint32_t lo = word & 0x0F0F0F0Fu, hi = (word >> 4) & 0x0F0F0F0Fu;
          // 4-bit two's complement to signed bytes; the sentinel (-8) becomes 0.
          even[4 * q + e] = __vsub4(lo ^ 0x08080808u, 0x08080808u) & ~__vcmpeq4(lo, 0x08080808u);
          odd[4 * q + e] = __vsub4(hi ^ 0x08080808u, 0x08080808u) & ~__vcmpeq4(hi, 0x08080808u);
        }
      }
      s_low = w.scale_low[std::size_t(n) * banks + bank];
      s_high = w.scale_high[std::size_t(n) * banks + bank];
    }
    for (int sub = 0; sub < tokens; sub += kA8SubTokens) { // warp-uniform
      int sum_low[kA8SubTokens], sum_high[kA8SubTokens];
#pragma unroll
      for (int t = 0; t < kA8SubTokens; ++t)
        sum_low[t] = sum_high[t] = 0;
      if (active) {
#pragma unroll
        for (int t = 0; t < kA8SubTokens; ++t) {
          if (sub + t < tokens) {
            const auto* xb = reinterpret_cast<const uint4*>(x + std::size_t(m0 + sub + t) * K +
                                                            std::size_t(bank) * C::bank);
#pragma unroll
            for (int c = 0; c < kChunks; ++c) {
              const uint4 v = __ldg(xb + c);
              const std::uint32_t xw[4] = {v.x, v.y, v.z, v.w};
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
        int j = bank * C::high_per_bank;
#pragma unroll
        for (int wi = 0; wi < kWords; ++wi) {
          for (std::uint32_t s = sent[wi]; s != 0; s &= s - 1) {
            const int pos = bank * C::bank + 8 * wi + ((__ffs(static_cast<int>(s)) - 1) >> 2);
            const int q = read_bank_high_code<C>(high_row, bank, j);
            ++j;
#pragma unroll
            for (int t = 0; t < kA8SubTokens; ++t)
              if (sub + t < tokens)
                sum_high[t] += q * static_cast<int>(__ldg(x + std::size_t(m0 + sub + t) * K + pos));
          }
        }
      }
#pragma unroll
      for (int t = 0; t < kA8SubTokens; ++t) {
        const float sx = sub + t < tokens ? x_scale[m0 + sub + t] : 0.0f;
        terms[warp][0][t][lane] = __fmul_rn(__fmul_rn(sx, s_low), static_cast<float>(sum_low[t]));
        terms[warp][1][t][lane] = __fmul_rn(__fmul_rn(sx, s_high), static_cast<float>(sum_high[t]));
      }
      __syncwarp();
      // Tokens sub .. sub + 7 belong to lanes sub % 32 .. + 7 (slot sub / 32).
      const int i = lane - (sub & 31);
      if (i >= 0 && i < kA8SubTokens) {
        float a = sub >= 32 ? acc[1] : acc[0];
        for (int src = 0; src < in_round; ++src) {
          a = __fadd_rn(a, terms[warp][0][i][src]);
          a = __fadd_rn(a, terms[warp][1][i][src]);
        }
        if (sub >= 32)
          acc[1] = a;
        else
          acc[0] = a;
      }
      __syncwarp(); // terms are free for the next tokens
    }
  }
  if (lane < tokens)
    y[std::size_t(m0 + lane) * w.n + n] = convert_out<OutT>(acc[0]);
  if (lane + 32 < tokens)
    y[std::size_t(m0 + lane + 32) * w.n + n] = convert_out<OutT>(acc[1]);
}

} // namespace sqformat::gpu::wsq_detail

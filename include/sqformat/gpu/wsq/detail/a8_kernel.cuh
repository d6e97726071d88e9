// sqformat/gpu/wsq/detail/a8_kernel.cuh: W(SQ)A8, INT8 activations with one scale per token.
//
// Contract: one warp per output row n; blockIdx.y selects `block_tokens` tokens (8 or 64,
// generic_block_tokens), which the warp takes in tiles of kGenericTokens (8), one after another,
// so that with 64 the row's bytes come from DRAM once for 64 tokens (from L1/L2 for the later
// tiles). Lane l takes banks l, l+32, ... and accumulates, per token, the exact int32 sums of the
// bank's low path (sentinels read as 0) and high path (the bank's H compact codes at the sentinel
// positions). The sums fit int32 for any bank: |sum| <= b * 127 * 127 < 2^31.
//
// Epilogue, exactly the order of docs/layouts.md (and of ref::sq_weight_times_uniform): for each
// bank in increasing K, first the low then the high segment,
//     acc += (s_x[m] * s_w) * float(int_sum)
// in float32 with no contraction. The terms of a round of 32 banks are broadcast lane by lane so
// that every lane adds them in bank order: the float32 result equals the reference bit for bit.
#pragma once

#include "../weights_view.hpp"
#include "a16_generic_kernel.cuh"
#include "codes.cuh"

namespace sqformat::gpu::wsq_detail {

template <class C, class OutT, int WarpsPerBlock>
__global__ void __launch_bounds__(32 * WarpsPerBlock)
    wsq_a8_kernel(WsqWeightsView<C> w, const std::int8_t* __restrict__ x,
                  const float* __restrict__ x_scale, OutT* __restrict__ y, int m,
                  int block_tokens) {
  const int lane = threadIdx.x & 31;
  const int n = blockIdx.x * WarpsPerBlock + (threadIdx.x >> 5);
  if (n >= w.n)
    return;
  const int K = w.k;
  const int banks = w.banks();
  const std::uint8_t* low_row = w.low + std::size_t(n) * w.low_row_bytes();
  const std::uint8_t* high_row = w.high + std::size_t(n) * w.high_row_bytes();
  const int m_end = min(m, static_cast<int>(blockIdx.y + 1) * block_tokens);
  for (int m0 = blockIdx.y * block_tokens; m0 < m_end; m0 += kGenericTokens) {
    const int tokens = min(kGenericTokens, m - m0);

    float sx[kGenericTokens];
    float acc[kGenericTokens];
#pragma unroll
    for (int t = 0; t < kGenericTokens; ++t) {
      sx[t] = t < tokens ? x_scale[m0 + t] : 0.0f;
      acc[t] = 0.0f;
    }

    for (int round = 0; round < banks; round += 32) {
      const int bank = round + lane;
      float term_low[kGenericTokens], term_high[kGenericTokens];
      int sum_low[kGenericTokens], sum_high[kGenericTokens];
#pragma unroll
      for (int t = 0; t < kGenericTokens; ++t)
        sum_low[t] = sum_high[t] = 0;
      float s_low = 0.0f, s_high = 0.0f;
      if (bank < banks) {
        int j = bank * C::high_per_bank;
        for (int i = 0; i < C::bank; ++i) {
          const int k = bank * C::bank + i;
          const int code = read_code<C::low_bits>(low_row, k);
          const bool is_high = code == C::low_sentinel;
          const int q = is_high ? read_bank_high_code<C>(high_row, bank, j) : code;
          j += is_high ? 1 : 0;
#pragma unroll
          for (int t = 0; t < kGenericTokens; ++t) {
            if (t < tokens) {
              const int xv = x[std::size_t(m0 + t) * K + k];
              if (is_high) {
                sum_high[t] += xv * q;
              } else {
                sum_low[t] += xv * q;
              }
            }
          }
        }
        s_low = w.scale_low[std::size_t(n) * banks + bank];
        s_high = w.scale_high[std::size_t(n) * banks + bank];
      }
#pragma unroll
      for (int t = 0; t < kGenericTokens; ++t) {
        term_low[t] = __fmul_rn(__fmul_rn(sx[t], s_low), static_cast<float>(sum_low[t]));
        term_high[t] = __fmul_rn(__fmul_rn(sx[t], s_high), static_cast<float>(sum_high[t]));
      }
      const int in_round = min(32, banks - round);
      for (int src = 0; src < in_round; ++src) {
#pragma unroll
        for (int t = 0; t < kGenericTokens; ++t) {
          acc[t] = __fadd_rn(acc[t], __shfl_sync(0xffffffffu, term_low[t], src));
          acc[t] = __fadd_rn(acc[t], __shfl_sync(0xffffffffu, term_high[t], src));
        }
      }
    }
    if (lane < tokens) {
      float v = acc[0];
#pragma unroll
      for (int t = 1; t < kGenericTokens; ++t)
        v = lane == t ? acc[t] : v;
      y[std::size_t(m0 + lane) * w.n + n] = convert_out<OutT>(v);
    }
  }
}

} // namespace sqformat::gpu::wsq_detail

// sqformat/gpu/wsq/detail/a16_generic_kernel.cuh: W(SQ)A16 for any SQ configuration, CUDA cores.
//
// Contract: one warp per output row n; blockIdx.y selects `block_tokens` tokens (8 or 64,
// generic_block_tokens), which the warp takes in tiles of kGenericTokens (8), one after another:
// the row's bytes come from DRAM for the first tile and from L1/L2 for the next, so with 64 tokens
// a block, W is streamed from DRAM once for a whole decode batch instead of once per tile. Lane l
// walks
// banks l, l+32, ... of row n, one element at a time: a low code that is not the sentinel goes to
// the bank's low sum, a sentinel takes the next compact high code (its bank starts at high index
// bank*H, and the j-th sentinel of a bank is the j-th high code). Per bank, in float32:
//     acc += s_low * sum_low + s_high * sum_high
// and the 32 lane partials are combined by a fixed butterfly. The order of every addition depends
// on the configuration and K only, never on the policy (warps per block).
//
// This kernel serves configurations the tensor-core kernel does not take (banks under 64, 3- and
// 2-bit low codes, INT4 high codes, N not a multiple of 16). It is correct first, not fast.
#pragma once

#include "../weights_view.hpp"
#include "codes.cuh"

namespace sqformat::gpu::wsq_detail {

/// Tokens whose sums a lane of the generic kernels holds (one tile).
constexpr int kGenericTokens = 8;
/// Most tokens a block of the generic kernels takes, tile by tile.
constexpr int kGenericBlockTokens = 64;

/// Tokens a block of the generic kernels takes (the grid's y step): 64 where N gives at least
/// 4096 warps (about 31 a SM on 132 SMs; W is then several MB, and each token tile after the
/// first reads its row from L1/L2 instead of DRAM), else 8 (fewer rows: more blocks along y keep
/// the SMs busy, and a W that small stays in L2 between tiles anyway).
inline int generic_block_tokens(int n) { return n >= 4096 ? kGenericBlockTokens : kGenericTokens; }

template <class C, class T, int WarpsPerBlock>
__global__ void __launch_bounds__(32 * WarpsPerBlock)
    wsq_a16_generic_kernel(WsqWeightsView<C> w, const T* __restrict__ x, T* __restrict__ y, int m,
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
    float acc[kGenericTokens];
#pragma unroll
    for (int t = 0; t < kGenericTokens; ++t)
      acc[t] = 0.0f;

    for (int bank = lane; bank < banks; bank += 32) {
      float sum_low[kGenericTokens], sum_high[kGenericTokens];
#pragma unroll
      for (int t = 0; t < kGenericTokens; ++t)
        sum_low[t] = sum_high[t] = 0.0f;
      int j = bank * C::high_per_bank; // next compact high code of this bank
      for (int i = 0; i < C::bank; ++i) {
        const int k = bank * C::bank + i;
        const int code = read_code<C::low_bits>(low_row, k);
        const bool is_high = code == C::low_sentinel;
        const float q =
            static_cast<float>(is_high ? read_bank_high_code<C>(high_row, bank, j) : code);
        j += is_high ? 1 : 0;
#pragma unroll
        for (int t = 0; t < kGenericTokens; ++t) {
          if (t < tokens) {
            const float xv = Half16<T>::to_float(x[std::size_t(m0 + t) * K + k]);
            if (is_high) {
              sum_high[t] = __fmaf_rn(xv, q, sum_high[t]);
            } else {
              sum_low[t] = __fmaf_rn(xv, q, sum_low[t]);
            }
          }
        }
      }
      const float s_low = w.scale_low[std::size_t(n) * banks + bank];
      const float s_high = w.scale_high[std::size_t(n) * banks + bank];
#pragma unroll
      for (int t = 0; t < kGenericTokens; ++t) {
        acc[t] = __fadd_rn(acc[t], __fmaf_rn(s_low, sum_low[t], __fmul_rn(s_high, sum_high[t])));
      }
    }
#pragma unroll
    for (int t = 0; t < kGenericTokens; ++t) {
#pragma unroll
      for (int offset = 16; offset > 0; offset >>= 1) {
        acc[t] = __fadd_rn(acc[t], __shfl_xor_sync(0xffffffffu, acc[t], offset));
      }
    }
    if (lane < tokens) {
      float v = acc[0];
#pragma unroll
      for (int t = 1; t < kGenericTokens; ++t)
        v = lane == t ? acc[t] : v;
      y[std::size_t(m0 + lane) * w.n + n] = Half16<T>::from_float(v);
    }
  }
}

} // namespace sqformat::gpu::wsq_detail

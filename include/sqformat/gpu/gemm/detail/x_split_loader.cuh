// sqformat/gpu/gemm/detail/x_split_loader.cuh: 32 static SQ activations of one token as the
// (even, odd) INT8 words the offset-binary weight kernels multiply with (the GEMV kernel's dp4a,
// the m16n8k32 B fragments of the streaming and the shared-memory mma.sync kernels). Internal.
//
// A word of 8 INT4 weight codes holds columns 8c .. 8c+7; its low nibbles are the even columns
// and its high nibbles the odd ones. The activations are split the same way: word 2c holds the
// bytes of columns 8c, 8c+2, 8c+4, 8c+6 and word 2c+1 those of 8c+1, 8c+3, 8c+5, 8c+7.
#pragma once

#include <cstddef>
#include <cstdint>

#include "w4a_sq_static_params.hpp"
#include "widen_low_bits.cuh"

namespace sqformat::gpu::detail {

/// The 32 activations of a piece as 8 split words, from its raw words: `raw[0..8)` the 32 INT8
/// values in K order (high block, `low` false), or `raw[0..LowBits)` their packed codes (low
/// block). Packed INT4 words are already split (low nibbles even, high nibbles odd); other
/// widths are widened to K order first.
template <int LowBits>
__device__ __forceinline__ void split_x32(const std::uint32_t (&raw)[8], bool low,
                                          std::uint32_t (&split)[8]) {
  if (low && LowBits == 4) {
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      split[2 * c] = sign_extend_nibbles(raw[c] & 0x0F0F0F0Fu);
      split[2 * c + 1] = sign_extend_nibbles((raw[c] >> 4) & 0x0F0F0F0Fu);
    }
    return;
  }
  std::uint32_t x8[8]; // 32 activations as INT8 in K order
  if (low) {
    widen_codes32<LowBits>(raw, x8);
  } else {
#pragma unroll
    for (int i = 0; i < 8; ++i)
      x8[i] = raw[i];
  }
#pragma unroll
  for (int c = 0; c < 4; ++c) {
    split[2 * c] = __byte_perm(x8[2 * c], x8[2 * c + 1], 0x6420);
    split[2 * c + 1] = __byte_perm(x8[2 * c], x8[2 * c + 1], 0x7531);
  }
}

/// The raw words of columns [rel, rel + 32) of token `token`'s high block (`low` false: 8 words of
/// X_high) or low block (`low` true: the `LowBits` words of X_low's packed codes). Split from the
/// splitting so that a kernel can issue the loads of many pieces before it uses any of them.
template <int LowBits>
__device__ __forceinline__ void load_x32_raw(const W4ASqStaticParams& p, int token, bool low,
                                             int rel, std::uint32_t (&raw)[8]) {
  if (!low) {
    const uint4* src =
        reinterpret_cast<const uint4*>(p.x_high + static_cast<std::size_t>(token) * p.k_high + rel);
    const uint4 a = __ldg(src), b = __ldg(src + 1);
    raw[0] = a.x, raw[1] = a.y, raw[2] = a.z, raw[3] = a.w;
    raw[4] = b.x, raw[5] = b.y, raw[6] = b.z, raw[7] = b.w;
  } else {
    const std::size_t row_bytes = static_cast<std::size_t>(p.k_low) * LowBits / 8;
    const std::uint32_t* src = reinterpret_cast<const std::uint32_t*>(
        static_cast<const std::uint8_t*>(p.x_low) + token * row_bytes +
        static_cast<std::size_t>(rel) * LowBits / 8);
    if constexpr (LowBits == 4) { // 16 bytes, 16-byte aligned (Kl and rel multiples of 32)
      const uint4 v = __ldg(reinterpret_cast<const uint4*>(src));
      raw[0] = v.x, raw[1] = v.y, raw[2] = v.z, raw[3] = v.w;
    } else {
#pragma unroll
      for (int i = 0; i < LowBits; ++i)
        raw[i] = __ldg(src + i);
    }
  }
}

/// split_x32 of raw words from load_x32_raw; returns the sum of the 32 values.
template <int LowBits>
__device__ __forceinline__ std::int32_t split_x32_sum(const std::uint32_t (&raw)[8], bool low,
                                                      std::uint32_t (&split)[8]) {
  split_x32<LowBits>(raw, low, split);
  std::int32_t sum = 0;
#pragma unroll
  for (int i = 0; i < 8; ++i)
    sum = __dp4a(static_cast<int>(split[i]), 0x01010101, sum);
  return sum;
}

} // namespace sqformat::gpu::detail

// sqformat/gpu/gemm/detail/x_split_loader.cuh: 32 static SQ activations of one token as the
// (even, odd) INT8 words the offset-binary weight kernels multiply with (the GEMV kernel's dp4a
// and the streaming kernel's m16n8k32 B fragments). Internal.
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

/// Columns [rel, rel + 32) of token `token`'s high block (`low` false: X_high) or low block
/// (`low` true: X_low, `LowBits` packed) as 8 split words; returns the sum of the 32 values.
template <int LowBits>
__device__ __forceinline__ std::int32_t load_split_x32(const W4ASqStaticParams& p, int token,
                                                       bool low, int rel,
                                                       std::uint32_t (&split)[8]) {
  if (low && LowBits == 4) {
    // Packed INT4 words are already split: low nibbles even, high nibbles odd.
    const std::size_t row_bytes = static_cast<std::size_t>(p.k_low) / 2;
    const uint4 v = __ldg(reinterpret_cast<const uint4*>(static_cast<const std::uint8_t*>(p.x_low) +
                                                         token * row_bytes + rel / 2));
    const std::uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      split[2 * c] = sign_extend_nibbles(w[c] & 0x0F0F0F0Fu);
      split[2 * c + 1] = sign_extend_nibbles((w[c] >> 4) & 0x0F0F0F0Fu);
    }
  } else {
    std::uint32_t x8[8]; // 32 activations as INT8 in K order
    if (!low) {
      const uint4* src = reinterpret_cast<const uint4*>(
          p.x_high + static_cast<std::size_t>(token) * p.k_high + rel);
      const uint4 a = __ldg(src), b = __ldg(src + 1);
      x8[0] = a.x, x8[1] = a.y, x8[2] = a.z, x8[3] = a.w;
      x8[4] = b.x, x8[5] = b.y, x8[6] = b.z, x8[7] = b.w;
    } else {
      const std::size_t row_bytes = static_cast<std::size_t>(p.k_low) * LowBits / 8;
      const std::uint32_t* src = reinterpret_cast<const std::uint32_t*>(
          static_cast<const std::uint8_t*>(p.x_low) + token * row_bytes +
          static_cast<std::size_t>(rel) * LowBits / 8);
      std::uint32_t packed[LowBits];
#pragma unroll
      for (int i = 0; i < LowBits; ++i)
        packed[i] = __ldg(src + i);
      widen_codes32<LowBits>(packed, x8);
    }
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      split[2 * c] = __byte_perm(x8[2 * c], x8[2 * c + 1], 0x6420);
      split[2 * c + 1] = __byte_perm(x8[2 * c], x8[2 * c + 1], 0x7531);
    }
  }
  std::int32_t sum = 0;
#pragma unroll
  for (int i = 0; i < 8; ++i)
    sum = __dp4a(static_cast<int>(split[i]), 0x01010101, sum);
  return sum;
}

} // namespace sqformat::gpu::detail

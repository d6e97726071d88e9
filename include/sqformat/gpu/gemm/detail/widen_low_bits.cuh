// sqformat/gpu/gemm/detail/widen_low_bits.cuh: packed INT4/INT3/INT2 codes -> INT8, in registers.
//
// Hopper has no tensor-core path narrower than 8 bits, so every low-bit operand is widened to s8
// before it reaches wgmma. Codes follow docs/layouts.md: a little-endian bit stream, code i in
// bits [i*w, (i+1)*w), two's complement. The widened bytes keep K order: byte b of output word
// o holds code 4*o + b.
#pragma once

#include <cstdint>

namespace sqformat::gpu::detail {

/// Sign-extends the 4-bit value in the low nibble of each byte of `v` (high nibbles are zero).
/// (v4 ^ 8) = value + 8 lies in [0, 15]; + 0x78 gives value + 0x80 without a carry between
/// bytes; ^ 0x80 turns that offset-binary byte into two's complement.
__device__ __forceinline__ std::uint32_t sign_extend_nibbles(std::uint32_t v) {
  return ((v ^ 0x08080808u) + 0x78787878u) ^ 0x80808080u;
}

/// Eight INT4 codes (one 32-bit word, code i in bits [4i, 4i+4)) -> eight s8: `lo` holds codes
/// 0..3, `hi` codes 4..7.
///   even = codes 0,2,4,6 (low nibbles of the bytes), odd = codes 1,3,5,7 (high nibbles);
///   prmt interleaves them back into K order.
__device__ __forceinline__ void widen_int4x8(std::uint32_t packed, std::uint32_t& lo,
                                             std::uint32_t& hi) {
  const std::uint32_t even = sign_extend_nibbles(packed & 0x0F0F0F0Fu);
  const std::uint32_t odd = sign_extend_nibbles((packed >> 4) & 0x0F0F0F0Fu);
  lo = __byte_perm(even, odd, 0x5140);
  hi = __byte_perm(even, odd, 0x7362);
}

/// 32 codes of `Bits` bits (the `Bits` words of their bit stream) -> 32 s8 in 8 words.
template <int Bits>
__device__ __forceinline__ void widen_codes32(const std::uint32_t* words, std::uint32_t* out) {
  static_assert(Bits == 2 || Bits == 3 || Bits == 4, "widen_codes32: Bits must be 2, 3 or 4");
  if constexpr (Bits == 4) {
#pragma unroll
    for (int i = 0; i < 4; ++i)
      widen_int4x8(words[i], out[2 * i], out[2 * i + 1]);
  } else {
    constexpr std::uint32_t mask = (1u << Bits) - 1u;
    constexpr std::uint32_t sign = 1u << (Bits - 1);
#pragma unroll
    for (int o = 0; o < 8; ++o) {
      std::uint32_t word = 0;
#pragma unroll
      for (int b = 0; b < 4; ++b) {
        const int bit = (4 * o + b) * Bits;
        const int w = bit / 32;
        const int off = bit % 32;
        // A code that straddles two words (3-bit) takes its upper bits from the next word.
        const std::uint32_t next = (off + Bits > 32) ? words[w + 1] : 0u;
        const std::uint32_t code = __funnelshift_r(words[w], next, off) & mask;
        const std::uint32_t byte = ((code ^ sign) - sign) & 0xFFu; // sign extension to 8 bits
        word |= byte << (8 * b);
      }
      out[o] = word;
    }
  }
}

/// The prepass kernels also zero the GEMM's split-tail counters (W4ASqStaticParams::
/// tail_counters), so that the GEMM that follows on the stream needs no launch of its own for
/// them: block 0 writes `count` zero words.
__device__ __forceinline__ void zero_words_in_first_block(unsigned int* words, int count) {
  if (blockIdx.x == 0)
    for (int i = threadIdx.x; i < count; i += blockDim.x)
      words[i] = 0u;
}

} // namespace sqformat::gpu::detail

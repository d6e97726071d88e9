// sqformat/gpu/datapath/detail/static_split_bank_ops.cuh: building blocks of the bank kernel of
// the static quantize-and-split (static_split_bank_kernel.cuh): the warp tile, the chunk
// descriptor, the mask spreading and the packed max of 16-bit magnitudes.
//
// A chunk is 8 consecutive channels of a row (16 bytes of X). Its descriptor is one word:
//
//   bits 31..24  m8: bit i = channel 8c + i is high
//   bits 23..0   P:  high channels before the chunk in the row (the high-block column of the
//                    chunk's first high channel; the low-block column of channel e is e - highs
//                    before e)
//
// Spread masks: m * 0x10204080 moves bit i (i < 4) of a nibble m to bit 7 of byte i (the four
// partial products land on distinct bits, so nothing carries); prmt in sign-replicate mode
// (selector nibble 8 + i) then turns byte i into 0x00 or 0xff, giving per-element masks
// without a branch or a select.
#pragma once

#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "sqformat/gpu/datapath/policy.hpp"

namespace sqformat::gpu::datapath::detail {

/// The run of whole banks one warp quantizes at a time: at least 256 channels (8 per lane) and
/// a number of banks after which both the packed high and the packed low outputs end on a 32-bit
/// word, so that warps never share an output word.
template <class C> struct StaticBankTile {
  static constexpr int word_banks = lcm(32 / gcd(C::low_per_bank * C::low_bits, 32),
                                        32 / gcd(C::high_per_bank * C::high_bits, 32));
  static constexpr int banks = lcm(max_int(256 / C::bank, 1), word_banks);
  static constexpr int elements = banks * C::bank; // a multiple of 256
  static constexpr int chunks = elements / 8;
  static constexpr int chunks_per_lane = chunks / 32;
  static constexpr int high_codes = banks * C::high_per_bank;
  static constexpr int low_codes = banks * C::low_per_bank;
  /// Int8 code buffer of one warp: high codes, then (16-byte aligned) low codes.
  static constexpr int low_offset = round_up(high_codes, 16);
  static constexpr int buffer_bytes = low_offset + round_up(low_codes, 16);
};

/// Bits 7, 15, 23, 31 of the result are bits 0..3 of the nibble `m`.
__device__ __forceinline__ std::uint32_t spread_nibble(std::uint32_t m) {
  return (m & 0xfu) * 0x10204080u;
}

/// prmt in sign-replicate mode: each result byte is 0x00 or 0xff, the sign of the byte of
/// `spread` that `selector` names.
template <std::uint32_t Selector>
__device__ __forceinline__ std::uint32_t replicate(std::uint32_t spread) {
  std::uint32_t out;
  asm("prmt.b32 %0, %1, 0, %2;" : "=r"(out) : "r"(spread), "n"(Selector));
  return out;
}

/// Element-wise max of two pairs of 16-bit floats (bf16 or fp16 by T); a NaN wins (it comes out
/// as the canonical NaN 0x7fff, larger than every other magnitude).
template <class T>
__device__ __forceinline__ std::uint32_t max_pair(std::uint32_t a, std::uint32_t b);
template <>
__device__ __forceinline__ std::uint32_t max_pair<__nv_bfloat16>(std::uint32_t a, std::uint32_t b) {
  std::uint32_t out;
  asm("max.NaN.bf16x2 %0, %1, %2;" : "=r"(out) : "r"(a), "r"(b));
  return out;
}
template <>
__device__ __forceinline__ std::uint32_t max_pair<__half>(std::uint32_t a, std::uint32_t b) {
  std::uint32_t out;
  asm("max.NaN.f16x2 %0, %1, %2;" : "=r"(out) : "r"(a), "r"(b));
  return out;
}

/// Running maxima of |x| over the high and over the low channels, as pairs of 16-bit floats.
template <class T> struct PairMax {
  std::uint32_t high = 0, low = 0;
  /// Folds in one chunk: `v` holds its 8 elements, `m8` its high mask.
  __device__ __forceinline__ void add(const uint4& v, std::uint32_t m8) {
    const std::uint32_t a = spread_nibble(m8), b = spread_nibble(m8 >> 4);
    add_pair(v.x, replicate<0x9988>(a));
    add_pair(v.y, replicate<0xbbaa>(a));
    add_pair(v.z, replicate<0x9988>(b));
    add_pair(v.w, replicate<0xbbaa>(b));
  }
  __device__ __forceinline__ void add_pair(std::uint32_t pair, std::uint32_t high_halves) {
    high = max_pair<T>(high, pair & high_halves & 0x7fff7fffu);
    low = max_pair<T>(low, pair & ~high_halves & 0x7fff7fffu);
  }
  /// The larger of the two magnitudes of a pair, as bits.
  __device__ __forceinline__ static std::uint32_t largest(std::uint32_t pair) {
    return max(pair & 0xffffu, pair >> 16);
  }
};

} // namespace sqformat::gpu::datapath::detail

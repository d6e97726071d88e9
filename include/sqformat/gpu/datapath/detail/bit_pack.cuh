// sqformat/gpu/datapath/detail/bit_pack.cuh: packing of w-bit two's-complement codes into the
// little-endian bit stream of docs/layouts.md, on the device.
//
//   code i of a row occupies bits [i·w, (i+1)·w) of the row; bit j is bit j%8 of byte j/8.
//
//   4-bit:  byte 0 = c1:c0, byte 1 = c3:c2, ...    (c0 in the low nibble)
//   3-bit:  byte 0 = c2[1:0]:c1:c0, byte 1 = c5[0]:c4:c3:c2[2], ... (codes straddle bytes)
//
// Every kernel assembles 32-bit words (word j = bits [32j, 32j+32) of the row) and stores them
// whole when the row allows it, byte by byte at the end of a row or when a row does not start
// on a word (packed rows start on a byte only).
#pragma once

#include <cstdint>

namespace sqformat::gpu::datapath::detail {

template <int Bits> constexpr std::uint32_t code_mask = (1u << Bits) - 1u;

/// Packs U codes (held in registers) into U·Bits/32 words.
template <int Bits, int U> struct PackedCodes {
  static_assert((U * Bits) % 32 == 0, "PackedCodes: U codes must fill whole 32-bit words");
  static constexpr int words = U * Bits / 32;
  std::uint32_t word[words];
};

template <int Bits, int U>
__device__ __forceinline__ PackedCodes<Bits, U> pack_codes(const int (&codes)[U]) {
  PackedCodes<Bits, U> out;
#pragma unroll
  for (int i = 0; i < PackedCodes<Bits, U>::words; ++i)
    out.word[i] = 0;
#pragma unroll
  for (int j = 0; j < U; ++j) {
    const std::uint32_t v = static_cast<std::uint32_t>(codes[j]) & code_mask<Bits>;
    const int bit = j * Bits;
    out.word[bit / 32] |= v << (bit % 32);
    if (bit % 32 + Bits > 32)
      out.word[bit / 32 + 1] |= v >> (32 - bit % 32);
  }
  return out;
}

/// Word `word` of a row of `count` codes kept one per byte (int8) in shared memory.
/// Codes at index >= count read as 0, so the unused trailing bits of a row are 0.
template <int Bits>
__device__ __forceinline__ std::uint32_t pack_word_from_codes(const std::int8_t* codes, int count,
                                                              int word) {
  const bool full = (word + 1) * 32 <= count * Bits;
  if constexpr (Bits == 8) {
    if (full)
      return *reinterpret_cast<const std::uint32_t*>(codes + 4 * word);
  } else if constexpr (Bits == 4) {
    if (full) {
      // 8 codes, one per byte, into 8 nibbles: fold the low nibbles of each byte together.
      const uint2 v = *reinterpret_cast<const uint2*>(codes + 8 * word);
      std::uint32_t lo = v.x & 0x0f0f0f0fu, hi = v.y & 0x0f0f0f0fu;
      lo = (lo | (lo >> 4)) & 0x00ff00ffu;
      hi = (hi | (hi >> 4)) & 0x00ff00ffu;
      lo = (lo | (lo >> 8)) & 0x0000ffffu;
      hi = (hi | (hi >> 8)) & 0x0000ffffu;
      return lo | (hi << 16);
    }
  } else if constexpr (Bits == 2) {
    if (full) {
      const uint4 v = *reinterpret_cast<const uint4*>(codes + 16 * word);
      const std::uint32_t part[4] = {v.x, v.y, v.z, v.w};
      std::uint32_t out = 0;
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        std::uint32_t t = part[i] & 0x03030303u;
        t = (t | (t >> 6)) & 0x000f000fu;
        t = (t | (t >> 12)) & 0x000000ffu;
        out |= t << (8 * i);
      }
      return out;
    }
  }
  // General case (3-bit codes straddle words; partial last word of a row).
  const int first_bit = 32 * word;
  const int first_code = first_bit / Bits;
  std::uint32_t out = 0;
#pragma unroll
  for (int j = 0; j < 32 / Bits + 2; ++j) {
    const int c = first_code + j;
    const int shift = c * Bits - first_bit;
    if (c < count && shift < 32) {
      const std::uint32_t v = static_cast<std::uint32_t>(codes[c]) & code_mask<Bits>;
      out |= shift >= 0 ? (v << shift) : (v >> -shift);
    }
  }
  return out;
}

/// Stores NW words at `dst`, but only the first `valid_bytes` bytes (the rest lies past the end
/// of the row). Uses the widest store the address allows.
template <int NW>
__device__ __forceinline__ void store_words(std::uint8_t* dst, const std::uint32_t (&w)[NW],
                                            int valid_bytes) {
  const auto address = reinterpret_cast<std::uintptr_t>(dst);
  if (valid_bytes >= 4 * NW) {
    if constexpr (NW % 4 == 0) {
      if (address % 16 == 0) {
#pragma unroll
        for (int i = 0; i < NW / 4; ++i)
          reinterpret_cast<uint4*>(dst)[i] =
              make_uint4(w[4 * i], w[4 * i + 1], w[4 * i + 2], w[4 * i + 3]);
        return;
      }
    }
    if constexpr (NW % 2 == 0) {
      if (address % 8 == 0) {
#pragma unroll
        for (int i = 0; i < NW / 2; ++i)
          reinterpret_cast<uint2*>(dst)[i] = make_uint2(w[2 * i], w[2 * i + 1]);
        return;
      }
    }
    if (address % 4 == 0) {
#pragma unroll
      for (int i = 0; i < NW; ++i)
        reinterpret_cast<std::uint32_t*>(dst)[i] = w[i];
      return;
    }
  }
#pragma unroll
  for (int i = 0; i < 4 * NW; ++i)
    if (i < valid_bytes)
      dst[i] = static_cast<std::uint8_t>(w[i / 4] >> (8 * (i % 4)));
}

} // namespace sqformat::gpu::datapath::detail

// sqformat/gpu/wsq/detail/codes.cuh: device-side reading of packed SQ codes and 16-bit floats.
// Internal to the W(SQ) kernels.
//
// Packed codes follow docs/layouts.md: code i of a row occupies stream bits [i*w, (i+1)*w), stream
// bit j is bit j % 8 of byte j / 8; a 3-bit code may straddle two bytes.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace sqformat::gpu::wsq_detail {

/// Code i of a packed row of `Bits`-wide two's-complement codes, sign-extended. Reads the second
/// byte only when the code straddles into it, so the last code never reads past the row.
template <int Bits> __device__ __forceinline__ int read_code(const std::uint8_t* row, int i) {
  if constexpr (Bits == 8) {
    return static_cast<std::int8_t>(__ldg(row + i));
  } else {
    const unsigned bit = static_cast<unsigned>(i) * Bits;
    const unsigned shift = bit & 7u;
    unsigned window = __ldg(row + (bit >> 3));
    if (shift + Bits > 8)
      window |= static_cast<unsigned>(__ldg(row + (bit >> 3) + 1)) << 8;
    const int raw = static_cast<int>((window >> shift) & ((1u << Bits) - 1u));
    constexpr int sign = 1 << (Bits - 1);
    return (raw ^ sign) - sign;
  }
}

/// Sentinel flags of the 8 INT4 codes of a word: bit 4q + 3 is set where code q is -8, the
/// sentinel (bit 3 set, low 3 bits zero; (code & 7) + 7 <= 14 never carries into the next code).
/// The row-thread and lanes-along-K kernels use the complement within 0x88888888 (`keep`).
__device__ __forceinline__ std::uint32_t int4_sentinel_flags(std::uint32_t word) {
  const std::uint32_t nonzero3 = (word & 0x77777777u) + 0x77777777u;
  return word & ~nonzero3 & 0x88888888u;
}

/// 8 sentinel flags of a word (bit 4j+3 set for sentinel code j, int4_sentinel_flags) to bits
/// 24..31 in code order: the even codes (bits 8i+3) times 2^21 + 2^15 + 2^9 + 2^3 land on bits
/// 24 + 2i, the odd codes (bits 8i+7) times 2^18 + 2^12 + 2^6 + 1 on bits 25 + 2i; every other
/// partial product of the two lands on its own bit below 24 or above 31, so nothing carries into
/// the top byte.
__device__ __forceinline__ std::uint32_t sentinel_flags_top(std::uint32_t flags) {
  return (flags & 0x08080808u) * 0x00208208u + (flags & 0x80808080u) * 0x00041041u;
}

/// Compact high code j of a row (j counts on from bank * H as a bank's sentinels are met),
/// clamped to the bank's last code: a malformed bank with more than H sentinels reads its own
/// last code, never the next bank's (nor past the row).
template <class C>
__device__ __forceinline__ int read_bank_high_code(const std::uint8_t* high_row, int bank, int j) {
  const int last = (bank + 1) * C::high_per_bank - 1;
  return read_code<C::high_bits>(high_row, j < last ? j : last);
}

/// The 16-bit activation types the A16 kernels take, with float conversions.
template <class T> struct Half16;
template <> struct Half16<__nv_bfloat16> {
  __device__ static float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
  __device__ static __nv_bfloat16 from_float(float v) { return __float2bfloat16_rn(v); }
};
template <> struct Half16<__half> {
  __device__ static float to_float(__half v) { return __half2float(v); }
  __device__ static __half from_float(float v) { return __float2half_rn(v); }
};

/// A 16-bit float from its bit pattern.
template <class T> __device__ __forceinline__ T bits_to_half16(std::uint16_t bits) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __ushort_as_bfloat16(bits);
  } else {
    return __ushort_as_half(bits);
  }
}

/// Output conversion (float32 results to the output element type).
template <class T> __device__ __forceinline__ T convert_out(float v) {
  if constexpr (std::is_same_v<T, float>) {
    return v;
  } else {
    return Half16<T>::from_float(v);
  }
}

} // namespace sqformat::gpu::wsq_detail

// sqformat/gpu/datapath/detail/sq_lane_bank.cuh: one lane quantizes and writes one whole bank of
// an SQ tensor (docs/layouts.md, "SQ tensor"), everything in its registers. Used by the lane
// kernels (sq_lane_pack_kernel.cuh, sq_lane_dynamic_kernel.cuh); see sq_lane_policy.hpp.
//
// The bank's high set arrives as b/4 "select words": byte i of word j is 0xff when element
// 4j + i is high, 0x00 when low. Then, per bank (b = 64, bf16, 8/4 bits as the example):
//
//   amax    |x| bits of two elements a word, masked by the select bytes widened to 16 bits,
//           max'ed two at a time (__vmaxu2): high and low amax as magnitude bits
//   codes   t = fma(x, 1/s, 1.5·2^23): the low byte of t is the code (two's complement); the
//           exact residual fma(x, 1/s, -(t - 1.5·2^23)) must be at least 2^-13 from 1/2, else
//           (also for non-finite t) that element takes the IEEE division (quantize_code), as
//           docs/datapath.md argues. Codes as bytes, 4 a word (byte_perm).
//   low     code bytes, sentinel at high positions (one bitwise select a word), folded to
//           nibbles/crumbs/3-bit fields at compile-time shifts: b·low_bits/32 words
//   high    the code bytes go to the lane's own b bytes of shared memory; the set bits of the
//           b-bit mask are walked (ffs, m &= m - 1, H static steps) and the high codes read back
//           in K order (dynamic register indexing would spill to local memory)
//   store   low words, high words, two scales: bank g of the flat tensor owns bytes
//           [g·b·low_bits/8, ...) of `low` and [g·H·high_bits/8, ...) of `high`, so
//           consecutive lanes write consecutive memory.
#pragma once

#include <cstdint>
#include <cstring>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <type_traits>

#include "sqformat/gpu/datapath/detail/element.cuh"
#include "sqformat/gpu/datapath/detail/quantize.cuh"
#include "sqformat/gpu/datapath/sq_tensor_ref.hpp"

namespace sqformat::gpu::datapath::detail::lane {

/// One bank of input as raw 32-bit words: two 16-bit elements a word (element 2i in the low
/// half) or one float a word.
template <class T, int B> struct RawBank {
  static constexpr int per_word = 4 / static_cast<int>(sizeof(T));
  static constexpr int words = B / per_word;
  std::uint32_t w[words];
};

/// Loads Words 32-bit words from a 16-byte aligned address with 16-byte loads.
template <int Words>
__device__ __forceinline__ void load_words(const void* src, std::uint32_t (&w)[Words]) {
  static_assert(Words % 4 == 0, "load_words: whole 16-byte vectors only");
  const auto* s = static_cast<const uint4*>(src);
#pragma unroll
  for (int i = 0; i < Words / 4; ++i) {
    const uint4 v = s[i];
    w[4 * i] = v.x;
    w[4 * i + 1] = v.y;
    w[4 * i + 2] = v.z;
    w[4 * i + 3] = v.w;
  }
}

/// Stores Words 32-bit words with the widest vector stores Words allows (the address is
/// aligned to 4·Words bytes).
template <int Words>
__device__ __forceinline__ void store_words(void* dst, const std::uint32_t (&w)[Words]) {
  if constexpr (Words % 4 == 0) {
#pragma unroll
    for (int i = 0; i < Words / 4; ++i)
      static_cast<uint4*>(dst)[i] = make_uint4(w[4 * i], w[4 * i + 1], w[4 * i + 2], w[4 * i + 3]);
  } else if constexpr (Words % 2 == 0) {
#pragma unroll
    for (int i = 0; i < Words / 2; ++i)
      static_cast<uint2*>(dst)[i] = make_uint2(w[2 * i], w[2 * i + 1]);
  } else {
#pragma unroll
    for (int i = 0; i < Words; ++i)
      static_cast<std::uint32_t*>(dst)[i] = w[i];
  }
}

/// Element e (a compile-time index after unrolling) as float, exactly.
template <class T, int B>
__device__ __forceinline__ float element_value(const RawBank<T, B>& r, int e) {
  if constexpr (sizeof(T) == 4) {
    return __uint_as_float(r.w[e]);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    const std::uint32_t w = r.w[e / 2];
    return __uint_as_float(e % 2 == 0 ? w << 16 : w & 0xffff0000u);
  } else {
    const std::uint32_t w = r.w[e / 2];
    return __half2float(__ushort_as_half(static_cast<unsigned short>(e % 2 == 0 ? w : w >> 16)));
  }
}

/// Magnitude bits of element e (sign cleared: -0 == +0; order of bits = order of |x|).
template <class T, int B>
__device__ __forceinline__ std::uint32_t element_magnitude(const RawBank<T, B>& r, int e) {
  if constexpr (sizeof(T) == 4)
    return r.w[e] & 0x7fffffffu;
  else
    return (e % 2 == 0 ? r.w[e / 2] : r.w[e / 2] >> 16) & 0x7fffu;
}

/// Magnitude bits at and above which a value is NaN or Inf.
template <class T> __host__ __device__ constexpr std::uint32_t non_finite_bits() {
  if constexpr (sizeof(T) == 4)
    return 0x7f800000u;
  else
    return Element<T>::non_finite_magnitude;
}
template <class T> __device__ __forceinline__ float magnitude_value(std::uint32_t bits) {
  if constexpr (sizeof(T) == 4)
    return __uint_as_float(bits);
  else
    return Element<T>::from_magnitude(bits);
}

/// Largest |x| bits over the high (select byte 0xff) and over the low elements.
template <class T, int B>
__device__ __forceinline__ void set_amax_bits(const RawBank<T, B>& r,
                                              const std::uint32_t (&sel)[B / 4],
                                              std::uint32_t& high, std::uint32_t& low) {
  if constexpr (sizeof(T) == 2) {
    // Two elements a word: widen each select byte to the 16-bit half it covers.
    std::uint32_t h2[2] = {0, 0}, l2[2] = {0, 0}; // two chains for instruction-level parallelism
#pragma unroll
    for (int p = 0; p < B / 2; ++p) {
      const std::uint32_t s = __byte_perm(sel[p / 2], 0, p % 2 == 0 ? 0x1100 : 0x3322);
      const std::uint32_t m = r.w[p] & 0x7fff7fffu;
      h2[p % 2] = __vmaxu2(h2[p % 2], m & s);
      l2[p % 2] = __vmaxu2(l2[p % 2], m & ~s);
    }
    const std::uint32_t h = __vmaxu2(h2[0], h2[1]), l = __vmaxu2(l2[0], l2[1]);
    high = max(h & 0xffffu, h >> 16);
    low = max(l & 0xffffu, l >> 16);
  } else {
    std::uint32_t h = 0, l = 0;
#pragma unroll
    for (int e = 0; e < B; ++e) {
      const std::uint32_t s = __byte_perm(sel[e / 4], 0, (e % 4) * 0x1111);
      const std::uint32_t m = r.w[e] & 0x7fffffffu;
      h = max(h, m & s);
      l = max(l, m & ~s);
    }
    high = h;
    low = l;
  }
}

/// Scales of the two sets of a bank and their correctly rounded reciprocals.
struct BankScales {
  float high, low, inv_high, inv_low;
};

/// Code bytes of the bank, 4 a word, each element quantized with its own set's scale, bit for
/// bit the reference's quantize_value: the magic-number code, and for an element whose product
/// lies within 2^-13 of a half-integer (or is non-finite) the IEEE division instead. The
/// fallback is per element, not per bank: only the lane and the element in the window take the
/// division (about one element in 2^12 of random data), the other lanes of the warp wait a few
/// instructions instead of a whole bank's worth.
template <class C, class T, int B>
__device__ __forceinline__ void bank_codes(const RawBank<T, B>& r,
                                           const std::uint32_t (&sel)[B / 4], const BankScales& s,
                                           std::uint32_t (&codes)[B / 4]) {
  constexpr float magic = 12582912.0f; // 1.5·2^23: x + magic rounds x to an integer
  constexpr float window = 0.5f - 0x1p-13f;
#pragma unroll
  for (int j = 0; j < B / 4; ++j) {
    std::uint32_t t[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float x = element_value(r, 4 * j + i);
      const bool high = (sel[j] >> (8 * i)) & 1u;
      const float inv = high ? s.inv_high : s.inv_low;
      const float rounded = fmaf(x, inv, magic);
      const float q = rounded - magic;
      const float residual = fmaf(x, inv, -q);
      t[i] = __float_as_uint(rounded);
      if (!(fabsf(residual) <= window)) // rare; also NaN (1/s overflowed, or x non-finite)
        t[i] = static_cast<std::uint32_t>(
            quantize_code_outlined(x, high ? s.high : s.low, high ? C::high_qmax : C::low_qmax));
    }
    codes[j] =
        __byte_perm(__byte_perm(t[0], t[1], 0x0040), __byte_perm(t[2], t[3], 0x0040), 0x5410);
  }
}

/// Packs code bytes (4 a word, the low `Bits` bits of each byte meaningful) into the
/// little-endian bit stream of docs/layouts.md: N byte words -> N·Bits/8 words.
template <int Bits, int N>
__device__ __forceinline__ void fold_codes(const std::uint32_t (&bytes)[N],
                                           std::uint32_t (&out)[N * Bits / 8]) {
  if constexpr (Bits == 8) {
#pragma unroll
    for (int i = 0; i < N; ++i)
      out[i] = bytes[i];
  } else if constexpr (Bits == 4) {
    // byte 2i of a word <- c(2i) | c(2i+1) << 4; then bytes 0 and 2 of two words make one word.
    std::uint32_t n[N];
#pragma unroll
    for (int i = 0; i < N; ++i)
      n[i] = (bytes[i] & 0x0f0f0f0fu) | ((bytes[i] >> 4) & 0xf0f0f0f0u);
#pragma unroll
    for (int i = 0; i < N / 2; ++i)
      out[i] = __byte_perm(n[2 * i], n[2 * i + 1], 0x6420);
  } else if constexpr (Bits == 2) {
    // byte 0 of a word <- its four crumbs; then bytes 0 of four words make one word.
    std::uint32_t c[N];
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const std::uint32_t a = (bytes[i] & 0x03030303u) | ((bytes[i] >> 6) & 0x0c0c0c0cu);
      c[i] = (a & 0x0f0f0f0fu) | ((a >> 12) & 0xf0f0f0f0u);
    }
#pragma unroll
    for (int i = 0; i < N / 4; ++i)
      out[i] = __byte_perm(__byte_perm(c[4 * i], c[4 * i + 1], 0x0040),
                           __byte_perm(c[4 * i + 2], c[4 * i + 3], 0x0040), 0x5410);
  } else {
    static_assert(Bits == 3, "fold_codes: 2, 3, 4 or 8 bits");
    static_assert((N * 4 * 3) % 32 == 0, "fold_codes: 3-bit codes must fill whole words");
#pragma unroll
    for (int i = 0; i < N * 3 / 8; ++i)
      out[i] = 0;
#pragma unroll
    for (int c = 0; c < 4 * N; ++c) {
      const std::uint32_t v = (bytes[c / 4] >> (8 * (c % 4))) & 7u;
      const int bit = 3 * c;
      out[bit / 32] |= v << (bit % 32);
      if (bit % 32 > 29)
        out[bit / 32 + 1] |= v >> (32 - bit % 32);
    }
  }
}

/// The b-bit high mask from the select words: bit e = element e is high. With the 0/1 bytes
/// m = sel & 0x01010101, (m · 0x204081) moves byte i (bit 8i) to bit 21 + i and the cross terms
/// to distinct other bits, so no carries.
template <int B> using MaskBits = std::conditional_t<(B <= 32), std::uint32_t, std::uint64_t>;
template <int B>
__device__ __forceinline__ MaskBits<B> mask_bits(const std::uint32_t (&sel)[B / 4]) {
  MaskBits<B> bits = 0;
#pragma unroll
  for (int j = 0; j < B / 4; ++j)
    bits |= static_cast<MaskBits<B>>((((sel[j] & 0x01010101u) * 0x204081u) >> 21) & 0xfu)
            << (4 * j);
  return bits;
}

/// Number of set bits of a bank mask.
template <int B> __device__ __forceinline__ int popcount(MaskBits<B> bits) {
  if constexpr (B <= 32)
    return __popc(bits);
  else
    return __popcll(bits);
}

/// Top-H ties: the lowest H - popcount(above) set bits of `equal` (|x| > T above, |x| == T
/// in equal; ties go to the lowest indices, as the reference takes them).
template <int B, int H>
__device__ __forceinline__ MaskBits<B> lowest_ties(MaskBits<B> above, MaskBits<B> equal) {
  const int need = H - popcount<B>(above);
  MaskBits<B> take = 0;
#pragma unroll
  for (int i = 0; i < H; ++i) { // at most H steps: the lowest set bit of `equal` while needed
    const MaskBits<B> lowest = equal & (~equal + 1);
    take |= i < need ? lowest : MaskBits<B>{0};
    equal ^= lowest;
  }
  return take;
}

/// Select bytes (0x00 / 0xff) of elements 4j .. 4j + 3 from their bits in `bits`.
template <int B> __device__ __forceinline__ std::uint32_t select_bytes(MaskBits<B> bits, int j) {
  // nibble n -> bytes 0x01 at bits 0, 8, 16, 24 (n · 0x204081: no overlapping terms)
  const std::uint32_t n = static_cast<std::uint32_t>(bits >> (4 * j)) & 0xfu;
  return ((n * 0x204081u) & 0x01010101u) * 0xffu;
}

/// Puts the low sentinel into the code bytes of the high elements (select bytes 0xff).
template <class C, int B>
__device__ __forceinline__ void put_sentinels(std::uint32_t (&bytes)[B / 4],
                                              const std::uint32_t (&sel)[B / 4]) {
  constexpr std::uint32_t sentinel =
      (static_cast<std::uint32_t>(C::low_sentinel) & ((1u << C::low_bits) - 1u)) * 0x01010101u;
#pragma unroll
  for (int j = 0; j < B / 4; ++j)
    bytes[j] = (bytes[j] & ~sel[j]) | (sentinel & sel[j]);
}

/// Stores bank g's folded low and high words and its two scales.
template <class C, int B>
__device__ __forceinline__ void store_bank(
    const SqTensorRef& out, std::int64_t g, const std::uint32_t (&low_words)[B * C::low_bits / 32],
    const std::uint32_t (&high_words)[C::high_per_bank * C::high_bits / 32], const BankScales& s) {
  store_words(out.low + g * (B * C::low_bits / 8), low_words);
  store_words(out.high + g * (C::high_per_bank * C::high_bits / 8), high_words);
  out.scale_low[g] = s.low;
  out.scale_high[g] = s.high;
}

/// Swizzle of a lane's b bytes of shared memory: the 16-byte chunk index is XORed with the
/// lane's position among the lanes that share a 128-byte line, so the 8 lanes of one 16-byte
/// store phase hit 8 different groups of banks.
template <int B> __device__ __forceinline__ int lane_swizzle(int lane) {
  constexpr int lanes_per_line = 128 / B, chunks = B / 16;
  return ((lane / lanes_per_line) % chunks) * 16;
}

/// The H high code bytes in K order (4 a word). `lane_codes`: this lane's b bytes of shared
/// memory. Returns the number of high elements (== H for a valid mask).
template <int B, int H>
__device__ __forceinline__ int
collect_high(const std::uint32_t (&codes)[B / 4], const std::uint32_t (&sel)[B / 4],
             std::uint8_t* lane_codes, int swizzle, std::uint32_t (&high)[H / 4]) {
  MaskBits<B> bits = mask_bits<B>(sel);
  const int count = popcount<B>(bits);
#pragma unroll
  for (int c = 0; c < B / 16; ++c)
    *reinterpret_cast<uint4*>(lane_codes + ((16 * c) ^ swizzle)) =
        make_uint4(codes[4 * c], codes[4 * c + 1], codes[4 * c + 2], codes[4 * c + 3]);
#pragma unroll
  for (int i = 0; i < H / 4; ++i)
    high[i] = 0;
#pragma unroll
  for (int i = 0; i < H; ++i) {
    int first;
    if constexpr (B <= 32)
      first = __ffs(bits);
    else
      first = __ffsll(static_cast<long long>(bits));
    bits &= bits - 1;
    const int position = (first - 1) & (B - 1); // a bad mask with < H bits still reads in bounds
    high[i / 4] |= static_cast<std::uint32_t>(lane_codes[position ^ swizzle]) << (8 * (i % 4));
  }
  return count;
}

/// Quantizes bank `g` of the flat tensor (its input `r`) and stores its low
/// words, high words and scales.
/// `sel`: select words (0xff = high, 0x00 = low). Returns status flags
/// (non-finite input; with CheckCount also a bank without exactly H high elements).
template <class C, bool CheckCount, class T, int B>
__device__ __forceinline__ unsigned
write_bank(const RawBank<T, B>& r, const std::uint32_t (&sel)[B / 4], std::int64_t g,
           const SqTensorRef& out, std::uint8_t* lane_codes, int swizzle) {
  constexpr int H = C::high_per_bank;
  std::uint32_t high_bits, low_bits;
  set_amax_bits(r, sel, high_bits, low_bits);
  unsigned flags = max(high_bits, low_bits) >= non_finite_bits<T>() ? flag_non_finite : 0u;
  BankScales s;
  s.high = symmetric_scale(magnitude_value<T>(high_bits), C::high_qmax);
  s.low = symmetric_scale(magnitude_value<T>(low_bits), C::low_qmax);
  s.inv_high = inverse_scale(s.high);
  s.inv_low = inverse_scale(s.low);

  std::uint32_t codes[B / 4];
  bank_codes<C>(r, sel, s, codes);

  std::uint32_t low_bytes[B / 4];
#pragma unroll
  for (int j = 0; j < B / 4; ++j)
    low_bytes[j] = codes[j];
  put_sentinels<C, B>(low_bytes, sel);
  std::uint32_t low_words[B * C::low_bits / 32];
  fold_codes<C::low_bits>(low_bytes, low_words);

  std::uint32_t high_bytes[H / 4];
  const int count = collect_high<B, H>(codes, sel, lane_codes, swizzle, high_bytes);
  if (CheckCount && count != H)
    flags |= flag_bad_mask;
  std::uint32_t high_words[H * C::high_bits / 32];
  fold_codes<C::high_bits>(high_bytes, high_words);
  store_bank<C, B>(out, g, low_words, high_words, s);
  return flags;
}

} // namespace sqformat::gpu::datapath::detail::lane

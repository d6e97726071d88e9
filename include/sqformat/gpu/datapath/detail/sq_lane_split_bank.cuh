// sqformat/gpu/datapath/detail/sq_lane_split_bank.cuh: one lane quantizes and writes one whole
// bank of an SQ tensor whose raw input still sits in its warp's coalesced stage (SqLanePolicy
// with HighFromStage). Same bytes as write_bank (sq_lane_bank.cuh), fewer instructions a bank:
//
//   low     EVERY element is quantized at the low scale, no per-element choice of scale: the
//           codes at high positions are garbage and get the sentinel anyway. Fixed point:
//             t = fma(x, 1/s_low, 192.5 + 2^-16)       (t in [128, 256) for |x/s_low| <= 63)
//           t has 16 fraction bits (ulp 2^-16), so bits 16..19 of its float bits are the low
//           nibble of floor(t) - 192 (192 = 12 · 16) and bits 0..15 are the fraction f of t.
//           For a low element |x/s_low| <= qmax < 8, so y = x·(1/s_low) (exact inside the fma)
//           and the reference's fl(x/s_low) differ by < 2^-20.4, and t - (y + 192.5 + 2^-16) by
//           <= 2^-17: together < 2^-16. Hence f >= 2·2^-16 gives floor(t) - 192 =
//           floor(fl(x/s_low) + 1/2) with fl(x/s_low) + 1/2 no integer, which is the reference's
//           RNE(fl(x/s_low)) (no tie, no clamp: |fl(x/s_low)| <= qmax). Three __vminu2 a word
//           give its smallest fraction field; the words with one below 2 are marked (one in
//           500 random continuous banks has one, but most warps on bf16 data with exact ties:
//           an element at amax·(2k+1)/14) and redone with the IEEE division in one branch a
//           bank that visits the marked words (16-bit elements: the whole word, out of line;
//           fp32: the elements in the window, inline).
//   high    the H high elements are read back from the stage in K order (walking the set bits
//           of the mask), their amax gives the high scale, and only they are quantized at it
//           (magic-number rounding, exact fallback as in write_bank).
//   store   as write_bank: bank g owns low bytes [g·b·low_bits/8, ...), high bytes
//           [g·H·high_bits/8, ...) and scale g.
#pragma once

#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "sqformat/gpu/datapath/detail/element.cuh"
#include "sqformat/gpu/datapath/detail/quantize.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_bank.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_staging.cuh"
#include "sqformat/gpu/datapath/sq_tensor_ref.hpp"

namespace sqformat::gpu::datapath::detail::lane {

/// Where this lane's bank of Cw 16-byte chunks starts in the warp stage (a shared-memory
/// address), and the XOR that turns a byte offset inside the bank into its swizzled offset
/// (warp_slot: the chunk index is XORed, the byte inside the chunk kept).
template <int Cw> struct StagedBankAddress {
  unsigned base;
  int swizzle;
  __device__ __forceinline__ StagedBankAddress(const uint4* warp_stage, int lane)
      : base(static_cast<unsigned>(__cvta_generic_to_shared(warp_stage + lane * Cw))),
        swizzle(16 * (warp_slot<Cw>(lane, 0) - lane * Cw)) {}
  __device__ __forceinline__ unsigned at(int byte_offset) const {
    return base + static_cast<unsigned>(byte_offset ^ swizzle);
  }
  /// Chunk c (4 words). A volatile load: the compiler neither merges it with another load of
  /// the same chunk nor moves it ahead of the code before it, so a bank re-read after a phase
  /// that did not need it does not stay live in registers through that phase.
  __device__ __forceinline__ void chunk(int c, std::uint32_t* w) const {
    asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(w[0]), "=r"(w[1]), "=r"(w[2]), "=r"(w[3])
                 : "r"(at(16 * c)));
  }
};

/// Element `position` of the staged bank as float bits (exact).
template <class T, int Cw>
__device__ __forceinline__ std::uint32_t staged_element_bits(const StagedBankAddress<Cw>& a,
                                                             int position) {
  const unsigned p = a.at(position * static_cast<int>(sizeof(T)));
  if constexpr (sizeof(T) == 4) {
    std::uint32_t v;
    asm volatile("ld.shared.u32 %0, [%1];" : "=r"(v) : "r"(p));
    return v;
  } else {
    unsigned short v;
    asm volatile("ld.shared.u16 %0, [%1];" : "=h"(v) : "r"(p));
    if constexpr (std::is_same_v<T, __nv_bfloat16>)
      return static_cast<std::uint32_t>(v) << 16;
    else
      return __float_as_uint(__half2float(__ushort_as_half(v)));
  }
}

/// The staged bank's B·sizeof(T)/4 words.
template <class T, int B, int Cw>
__device__ __forceinline__ void load_staged_bank(const StagedBankAddress<Cw>& a, RawBank<T, B>& r) {
  static_assert(RawBank<T, B>::words == 4 * Cw, "load_staged_bank: Cw chunks of the bank");
#pragma unroll
  for (int c = 0; c < Cw; ++c)
    a.chunk(c, r.w + 4 * c);
}

/// Mask bits of a bank from its B/4 words of one byte an element (bit e = byte e is set):
/// SelectBytes: bytes 0xff/0x00 (select words); else bytes 0/1 (a caller's mask; other byte
/// values give garbage bits, which the caller flags as a bad mask). Per 8 elements (words a, b):
/// v has element i's bit at 8i (a) and at 8i + 4 (b, i < 4), and v · 0x1020408 moves them to
/// bits 24..31 in element order; the other products land on distinct lower bits (no carries).
template <int B, bool SelectBytes>
__device__ __forceinline__ MaskBits<B> mask_bits_of(const std::uint32_t (&w)[B / 4]) {
  constexpr int N = B / 8;
  std::uint32_t p[N];
#pragma unroll
  for (int i = 0; i < N; ++i) {
    const std::uint32_t a = w[2 * i], b = w[2 * i + 1];
    const std::uint32_t v = SelectBytes ? (a & 0x01010101u) | (b & 0x10101010u) : a + (b << 4);
    p[i] = v * 0x1020408u;
  }
  if constexpr (N == 2) {
    return __byte_perm(p[0], p[1], 0x0073) & 0xffffu;
  } else {
    std::uint32_t word[N / 4];
#pragma unroll
    for (int i = 0; i < N / 4; ++i)
      word[i] = __byte_perm(__byte_perm(p[4 * i], p[4 * i + 1], 0x0073),
                            __byte_perm(p[4 * i + 2], p[4 * i + 3], 0x0073), 0x5410);
    if constexpr (N == 4)
      return word[0];
    else
      return static_cast<std::uint64_t>(word[1]) << 32 | word[0];
  }
}

/// Calls visit(i, position) for the positions of the first H set bits of `bits`, lowest first
/// (a mask with fewer bits gives positions in [0, B) all the same). Bit-reversed words, so each
/// step is one count-leading-zeros and one XOR; for b = 64 step i reads the low word while i is
/// below its popcount.
template <int B, int H, class Visit>
__device__ __forceinline__ void for_each_set_bit(MaskBits<B> bits, Visit visit) {
  if constexpr (B <= 32) {
    std::uint32_t r = __brev(bits);
#pragma unroll
    for (int i = 0; i < H; ++i) {
      const int p = __clz(r) & 31;
      r ^= 0x80000000u >> p;
      visit(i, p & (B - 1));
    }
  } else {
    const auto lo = static_cast<std::uint32_t>(bits), hi = static_cast<std::uint32_t>(bits >> 32);
    std::uint32_t rlo = __brev(lo), rhi = __brev(hi);
    const int n_lo = __popc(lo);
#pragma unroll
    for (int i = 0; i < H; ++i) {
      const bool in_lo = i < n_lo;
      const int p = __clz(in_lo ? rlo : rhi) & 31;
      const std::uint32_t bit = 0x80000000u >> p;
      if (in_lo)
        rlo ^= bit;
      else
        rhi ^= bit;
      visit(i, in_lo ? p : p + 32);
    }
  }
}

/// Low-code bytes of the bank at the low scale, 4 a word (the low nibble of each byte is the
/// code modulo 16, the high nibble garbage), for every element; returns the mask of the words
/// (bit j: elements 4j .. 4j + 3) that hold an element whose fraction field is below 2 (it
/// needs the exact path).
template <class T, int B>
__device__ __forceinline__ std::uint32_t low_code_bytes(const RawBank<T, B>& r, float inv_low,
                                                        std::uint32_t (&bytes)[B / 4]) {
  static_assert(B / 4 <= 32, "low_code_bytes: one mask bit a word of 4 elements");
  constexpr float magic = 192.5f + 0x1p-16f;
  std::uint32_t window_words = 0;
#pragma unroll
  for (int j = 0; j < B / 4; ++j) {
    std::uint32_t t[4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
      t[i] = __float_as_uint(fmaf(element_value(r, 4 * j + i), inv_low, magic));
    // The low halves are the fraction fields; the high halves' minimum is not used.
    const std::uint32_t fraction = __vminu2(__vminu2(t[0], t[1]), __vminu2(t[2], t[3]));
    window_words |= (fraction & 0xfffeu) == 0 ? 1u << j : 0u;
    bytes[j] =
        __byte_perm(__byte_perm(t[0], t[1], 0x0062), __byte_perm(t[2], t[3], 0x0062), 0x5410);
  }
  return window_words;
}

/// Whether write_split_bank's exact (IEEE division) paths run out of line: one copy of the
/// division for the kernel instead of one at every unrolled element. With 16-bit elements the
/// inline copies measured as instruction-fetch stalls on an H100; with fp32 elements (the packer
/// at 128 registers) the calls' register saves spilled and measured slower.
template <class T> constexpr bool exact_paths_out_of_line = sizeof(T) == 2;

/// The reference's codes (IEEE division) of elements 4j .. 4j + 3 of the staged bank at the
/// low scale, as code bytes (4 a word), out of line (exact_paths_out_of_line).
template <class C, class T, int Cw>
__device__ __noinline__ std::uint32_t exact_low_code_word(StagedBankAddress<Cw> staged, int j,
                                                          float scale_low) {
  std::uint32_t word = 0;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float x = __uint_as_float(staged_element_bits<T>(staged, 4 * j + i));
    const auto code = static_cast<std::uint32_t>(quantize_code(x, scale_low, C::low_qmax));
    word |= (code & 0xffu) << (8 * i);
  }
  return word;
}

/// The rare path of low_code_bytes: the words that `window_words` marks (every word when
/// 1/s_low is not finite) are redone with the reference's IEEE division, their elements read
/// back from the stage; one or two words a bank on data with many exact ties (e.g. bf16).
/// Out of line (exact_paths_out_of_line) the whole word is redone (outside the window the
/// division gives a low element's fixed-point code, same low bits, and high elements get the
/// sentinel after this); inline only the elements in the window, with an opaque copy of 1/s_low
/// that keeps the compiler from holding the main path's values across the branch.
template <class C, class T, int B, int Cw>
__device__ __forceinline__ void
fix_low_code_bytes(const StagedBankAddress<Cw>& staged, float scale_low, float inv_low,
                   std::uint32_t window_words, std::uint32_t (&bytes)[B / 4]) {
  const bool all = __float_as_uint(inv_low) >= 0x7f800000u; // 1/s_low overflowed
  if constexpr (exact_paths_out_of_line<T>) {
#pragma unroll
    for (int j = 0; j < B / 4; ++j)
      if (all || ((window_words >> j) & 1u) != 0)
        bytes[j] = exact_low_code_word<C, T>(staged, j, scale_low);
  } else {
    auto put = [&](int e, int code) {
      const int shift = 8 * (e % 4);
      bytes[e / 4] = (bytes[e / 4] & ~(0xffu << shift)) |
                     ((static_cast<std::uint32_t>(code) & 0xffu) << shift);
    };
    if (all) {
#pragma unroll
      for (int e = 0; e < B; ++e)
        put(e, quantize_code(__uint_as_float(staged_element_bits<T>(staged, e)), scale_low,
                             C::low_qmax));
      return;
    }
    constexpr float magic = 192.5f + 0x1p-16f;
    float inv;
    asm volatile("mov.b32 %0, %1;" : "=f"(inv) : "f"(inv_low));
#pragma unroll
    for (int j = 0; j < B / 4; ++j) {
      if (((window_words >> j) & 1u) == 0)
        continue;
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float x = __uint_as_float(staged_element_bits<T>(staged, 4 * j + i));
        if ((__float_as_uint(fmaf(x, inv, magic)) & 0xfffeu) == 0)
          put(4 * j + i, quantize_code(x, scale_low, C::low_qmax));
      }
    }
  }
}

/// Quantizes bank `g` (raw words `r`, also staged at `staged`) with high set `sel` (select
/// words, 0xff = high) = `high_mask` (bit e = element e is high), `low_amax` the largest |x|
/// magnitude bits (T's format) over the low elements; stores it like write_bank. Returns
/// status flags (non-finite input; with CheckCount a bank without exactly H high elements).
template <class C, bool CheckCount, class T, int B, int Cw>
__device__ __forceinline__ unsigned
write_split_bank(const RawBank<T, B>& r, const StagedBankAddress<Cw>& staged,
                 const std::uint32_t (&sel)[B / 4], MaskBits<B> high_mask, std::uint32_t low_amax,
                 std::int64_t g, const SqTensorRef& out) {
  constexpr int H = C::high_per_bank;
  unsigned flags = 0;
  if (CheckCount && popcount<B>(high_mask) != H)
    flags |= flag_bad_mask;

  // The high elements in K order, as float bits (a bad mask with fewer than H bits reads some
  // element again, in bounds).
  std::uint32_t hx[H];
  std::uint32_t high_amax = 0;
  for_each_set_bit<B, H>(high_mask, [&](int i, int position) {
    hx[i] = staged_element_bits<T>(staged, position);
    high_amax = max(high_amax, hx[i] & 0x7fffffffu);
  });
  const float low_amax_value = magnitude_value<T>(low_amax);
  if (max(high_amax, __float_as_uint(low_amax_value)) >= 0x7f800000u)
    flags |= flag_non_finite;
  BankScales s;
  s.high = symmetric_scale(__uint_as_float(high_amax), C::high_qmax);
  s.low = symmetric_scale(low_amax_value, C::low_qmax);
  s.inv_high = inverse_scale(s.high);
  s.inv_low = inverse_scale(s.low);

  // Low part: codes at the low scale, sentinel at the high positions, folded.
  std::uint32_t bytes[B / 4];
  const std::uint32_t window_words = low_code_bytes(r, s.inv_low, bytes);
  if (window_words != 0 || __float_as_uint(s.inv_low) >= 0x7f800000u)
    fix_low_code_bytes<C, T, B>(staged, s.low, s.inv_low, window_words, bytes);
  put_sentinels<C, B>(bytes, sel);
  std::uint32_t low_words[B * C::low_bits / 32];
  if constexpr (C::low_bits == 4) {
    // fold_codes<4> with the nibble merge as one bitwise select (lop3): byte 2i of a word <-
    // c(2i) | c(2i+1) << 4, then bytes 0 and 2 of two words make one word.
#pragma unroll
    for (int i = 0; i < B / 8; ++i) {
      std::uint32_t n[2];
#pragma unroll
      for (int h = 0; h < 2; ++h)
        asm("lop3.b32 %0, %1, %2, %3, 0xe2;" // (a & b) | (~b & c)
            : "=r"(n[h])
            : "r"(bytes[2 * i + h]), "n"(0x0f0f0f0f), "r"(bytes[2 * i + h] >> 4));
      low_words[i] = __byte_perm(n[0], n[1], 0x6420);
    }
  } else {
    fold_codes<C::low_bits>(bytes, low_words);
  }

  // High part: magic-number codes of the H gathered elements, the exact division where the
  // residual is within 2^-13 of 1/2 (or not finite).
  constexpr float magic = 12582912.0f; // 1.5·2^23
  constexpr float window = 0.5f - 0x1p-13f;
  std::uint32_t t[H];
  bool exact = true;
#pragma unroll
  for (int i = 0; i < H; ++i) {
    const float x = __uint_as_float(hx[i]);
    const float rounded = fmaf(x, s.inv_high, magic);
    const float residual = fmaf(x, s.inv_high, -(rounded - magic));
    t[i] = __float_as_uint(rounded);
    exact = exact && fabsf(residual) <= window;
  }
  if (!exact) {
#pragma unroll
    for (int i = 0; i < H; ++i) {
      const float x = __uint_as_float(hx[i]);
      const float rounded = fmaf(x, s.inv_high, magic);
      if (!(fabsf(fmaf(x, s.inv_high, -(rounded - magic))) <= window))
        t[i] = static_cast<std::uint32_t>(exact_paths_out_of_line<T>
                                              ? quantize_code_outlined(x, s.high, C::high_qmax)
                                              : quantize_code(x, s.high, C::high_qmax));
    }
  }
  std::uint32_t high_bytes[H / 4];
#pragma unroll
  for (int j = 0; j < H / 4; ++j)
    high_bytes[j] = __byte_perm(__byte_perm(t[4 * j], t[4 * j + 1], 0x0040),
                                __byte_perm(t[4 * j + 2], t[4 * j + 3], 0x0040), 0x5410);
  std::uint32_t high_words[H * C::high_bits / 32];
  fold_codes<C::high_bits>(high_bytes, high_words);
  store_bank<C, B>(out, g, low_words, high_words, s);
  return flags;
}

} // namespace sqformat::gpu::datapath::detail::lane

// sqformat/gpu/datapath/detail/static_split_column_pass.cuh: pass 2 of the bank kernel of the
// static quantize-and-split in OUTPUT order (StaticSplitBankPolicy<..., ColumnGather = true>).
//
// The block keeps the layer's permutation as 16-bit channel numbers in shared memory (the
// "channel table", 2 bytes per column). A lane owns one 32-bit output word at a time, i.e.
// 32 / bits consecutive columns of x_high or x_low:
//
//   channel numbers of its columns: one 8- or 16-byte shared-memory load
//   x of each column: a 16-bit shared-memory load from the staged row (the gather)
//   codes: t = fma(x, 1/s, 1.5·2^23), the low byte of t is the code; the exact residual
//          r = fma(x, 1/s, 1.5·2^23 - t) must be at least 2^-13 from 1/2 for every column of
//          the word (else, or with a subnormal scale, the word is redone with the IEEE division,
//          docs/datapath.md); one scale for the whole word (a word never mixes the two blocks)
//   pack: byte permutes and masks fold the code bytes into the word, one 4-byte store
//
// Compared with the channel-order pass (codes scattered byte by byte to their high or low slot,
// then packed), this needs no per-element address or scale select and no staging. The gathers
// have 4-5-way shared-memory bank conflicts (neighbouring lanes are 8 columns apart); a variant
// that staged code bytes per warp to avoid them measured 10-15 % slower (more instructions).
// It serves bit widths whose codes fill whole words (2, 4, 8) and rows whose high and low
// blocks both end on a word.
#pragma once

#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "sqformat/gpu/datapath/detail/quantize.cuh"
#include "sqformat/gpu/datapath/detail/static_split_staging.cuh"

namespace sqformat::gpu::datapath::detail {

/// Whether the column pass can serve this config (compile time) ...
template <class C>
constexpr bool column_pass_bits_ok = (C::high_bits == 8 || C::high_bits == 4) &&
                                     (C::low_bits == 4 || C::low_bits == 2);

/// ... and this K (run time): 16-bit channel numbers, both blocks end on a word, and the
/// low block's channel numbers start on a 16-byte boundary of the table.
template <class C> SQFORMAT_HD constexpr bool column_pass_k_ok(std::int64_t k) {
  const std::int64_t kh = k / C::bank * C::high_per_bank, kl = k - kh;
  return column_pass_bits_ok<C> && k <= 65536 && (kh * C::high_bits) % 32 == 0 &&
         (kl * C::low_bits) % 32 == 0 && kh % 8 == 0;
}

/// 16-bit element -> float, exactly.
template <class T> __device__ __forceinline__ float float_of_bits(std::uint32_t bits);
template <> __device__ __forceinline__ float float_of_bits<__nv_bfloat16>(std::uint32_t bits) {
  return __uint_as_float(bits << 16);
}
template <> __device__ __forceinline__ float float_of_bits<__half>(std::uint32_t bits) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(bits)));
}

/// Low bytes of four words -> one word (byte i from t[i]).
__device__ __forceinline__ std::uint32_t low_bytes_of(std::uint32_t a, std::uint32_t b,
                                                      std::uint32_t c, std::uint32_t d) {
  return __byte_perm(__byte_perm(a, b, 0x0040), __byte_perm(c, d, 0x0040), 0x5410);
}

/// Folds 32 / Bits code bytes (the low byte of each t[i] holds a code) into one little-endian
/// word of Bits-bit fields (docs/layouts.md, "Bit packing").
template <int Bits> __device__ __forceinline__ std::uint32_t fold_word(const std::uint32_t* t) {
  if constexpr (Bits == 8) {
    return low_bytes_of(t[0], t[1], t[2], t[3]);
  } else if constexpr (Bits == 4) {
    // Byte 2i of n <- code(2i) | code(2i+1) << 4; bytes 0 and 2 of two such words make the word.
    std::uint32_t n[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const std::uint32_t b = low_bytes_of(t[4 * h], t[4 * h + 1], t[4 * h + 2], t[4 * h + 3]);
      n[h] = (b & 0x0f0f0f0fu) | ((b >> 4) & 0xf0f0f0f0u);
    }
    return __byte_perm(n[0], n[1], 0x6420);
  } else {
    static_assert(Bits == 2, "fold_word: 2, 4 or 8 bits");
    // Byte 0 of c <- four crumbs; bytes 0 of four such words make the word.
    std::uint32_t c[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const std::uint32_t b = low_bytes_of(t[4 * q], t[4 * q + 1], t[4 * q + 2], t[4 * q + 3]);
      const std::uint32_t a = (b & 0x03030303u) | ((b >> 6) & 0x0c0c0c0cu);
      c[q] = (a & 0x0f0f0f0fu) | ((a >> 12) & 0xf0f0f0f0u);
    }
    return low_bytes_of(c[0], c[1], c[2], c[3]);
  }
}

/// One output word: columns [c0, c0 + 32/Bits) of a block whose channel numbers start at
/// `channels` (shared memory), values gathered from the staged row `xs` (shared memory).
template <int Bits, class T>
__device__ __forceinline__ std::uint32_t
quantize_column_word(const std::uint16_t* channels, const std::uint16_t* xs, int c0, float scale,
                     float inverse, int qmax, bool exact) {
  constexpr int N = 32 / Bits;
  std::uint32_t id[N / 2];
  if constexpr (N == 4) {
    const uint2 v = *reinterpret_cast<const uint2*>(channels + c0);
    id[0] = v.x, id[1] = v.y;
  } else {
#pragma unroll
    for (int q = 0; q < N / 8; ++q) {
      const uint4 v = reinterpret_cast<const uint4*>(channels + c0)[q];
      id[4 * q] = v.x, id[4 * q + 1] = v.y, id[4 * q + 2] = v.z, id[4 * q + 3] = v.w;
    }
  }
  float x[N];
#pragma unroll
  for (int i = 0; i < N; ++i) {
    const std::uint32_t ch = i % 2 == 0 ? (id[i / 2] & 0xffffu) : (id[i / 2] >> 16);
    x[i] = float_of_bits<T>(xs[ch]);
  }
  std::uint32_t t[N];
  float worst = 0.0f;
#pragma unroll
  for (int i = 0; i < N; ++i) {
    const float r = fmaf(x[i], inverse, rounding_magic);
    worst = fmaxf(worst, fabsf(fmaf(x[i], inverse, rounding_magic - r)));
    t[i] = __float_as_uint(r);
  }
  // NaN residuals only come from a non-finite x, which pass 1 has flagged (outputs unspecified).
  if (exact || !(worst <= 0.5f - 0x1p-13f)) {
#pragma unroll
    for (int i = 0; i < N; ++i)
      t[i] = static_cast<std::uint32_t>(quantize_code(x[i], scale, qmax));
  }
  return fold_word<Bits>(t);
}

/// Pass 2 of one row in output order. `first`/`stride`: this lane's first word and the step
/// between its words (the block's lanes share the words of both blocks).
template <class C, class T>
__device__ __forceinline__ void
quantize_row_by_columns(const std::uint16_t* channels, const std::uint16_t* xs, int kh, int kl,
                        std::uint32_t* high_row, std::uint32_t* low_row, float scale_high,
                        float scale_low, float inverse_high, float inverse_low, bool exact,
                        int first, int stride) {
  constexpr int nh = 32 / C::high_bits, nl = 32 / C::low_bits;
  const int high_words = kh / nh, low_words = kl / nl;
  for (int w = first; w < high_words; w += stride)
    high_row[w] = quantize_column_word<C::high_bits, T>(channels, xs, w * nh, scale_high,
                                                        inverse_high, C::high_qmax, exact);
  // The low words continue where this lane's high words stopped, so the lanes stay balanced.
  int w = first - high_words % stride;
  if (w < 0)
    w += stride;
  for (; w < low_words; w += stride)
    low_row[w] = quantize_column_word<C::low_bits, T>(channels + kh, xs, w * nl, scale_low,
                                                      inverse_low, C::low_qmax, exact);
}

} // namespace sqformat::gpu::datapath::detail

// sqformat/gpu/datapath/detail/static_split_column_pass.cuh: pass 2 of the column kernel of the
// static quantize-and-split, in OUTPUT order.
//
// The block keeps the layer's permutation as a channel table in shared memory (ColumnTable: one
// byte a column relative to the word's first bank). A lane owns one 32-bit output word at a
// time, i.e. 32 / bits consecutive columns of x_high or x_low:
//
//   table entries of its columns: one 4-, 8- or 16-byte shared-memory load
//   x of each column: a 16-bit shared-memory load from the staged row (the gather)
//   codes: 8-bit fields: t = fma(x, 1/s, 1.5·2^23), the low byte of t is the code; the exact
//          residual r = fma(x, 1/s, 1.5·2^23 - t) must be at least 2^-13 from 1/2 for every
//          column of the word; 2- and 4-bit fields: one fma, t = fma(x, 1/s, 192.5), the code
//          in bits 16..23 and a fraction check (quantize_column_words); else, or with a
//          subnormal scale, those values are redone with the IEEE division (docs/datapath.md); one
//          scale for the whole word (a word never mixes the two blocks)
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
#include "sqformat/gpu/datapath/policy.hpp"

namespace sqformat::gpu::datapath::detail {

/// Banks that the `n` columns of one output word can touch, with `run` columns a bank.
constexpr int column_word_span(int run, int n) { return (n + run - 2) / run + 1; }

/// Whether the column pass can serve this config (compile time): codes that fill whole words
/// (2, 4 or 8 bits), and a channel table whose entries fit a byte (span · b <= 256 for both
/// blocks; true for every config of the test list; others run the bank kernel) ...
template <class C>
constexpr bool
    column_pass_bits_ok = (C::high_bits == 8 || C::high_bits == 4) &&
                          (C::low_bits == 4 || C::low_bits == 2) &&
                          column_word_span(C::high_per_bank, 32 / C::high_bits) * C::bank <= 256 &&
                          column_word_span(C::low_per_bank, 32 / C::low_bits) * C::bank <= 256;

/// The channel table: one byte per output column (the high block's columns, then, from a
/// 16-byte boundary, the low block's), naming the channel of X the column takes as channel -
/// (first channel of the bank of the first column of the column's output word). A word's columns
/// lie in at most `column_word_span` consecutive banks, so entries stay below span · b <= 256.
/// The one-byte table is what lets the column kernel keep three rows of K = 28672 in flight
/// (docs/datapath.md).
template <class C> struct ColumnTable {
  static_assert(column_pass_bits_ok<C>, "ColumnTable: the config's entries do not fit a byte");
  static constexpr int high_columns = 32 / C::high_bits; // columns of one output word
  static constexpr int low_columns = 32 / C::low_bits;
  using Entry = std::uint8_t;
  /// Entry index of the low block's first column.
  SQFORMAT_HD static constexpr std::int64_t low_start(std::int64_t kh) {
    return (kh + 15) / 16 * 16;
  }
  SQFORMAT_HD static constexpr std::int64_t bytes(std::int64_t k) {
    const std::int64_t kh = k / C::bank * C::high_per_bank;
    return low_start(kh) + (k - kh + 15) / 16 * 16;
  }
  /// First channel of the bank that holds column c0 of a block with `Run` columns a bank.
  template <int Run> __device__ __forceinline__ static int base(int c0) {
    return c0 / Run * C::bank;
  }
  /// The entry of column c (of the block with `Run` columns a bank and `Columns` columns a
  /// word) for channel `channel`, which lies in the column's bank.
  template <int Run, int Columns>
  __device__ __forceinline__ static Entry entry(int c, std::uint32_t channel) {
    return static_cast<Entry>(channel - static_cast<std::uint32_t>(base<Run>(c - c % Columns)));
  }
};

/// ... and this K (run time): both blocks end on a word.
template <class C> SQFORMAT_HD constexpr bool column_pass_k_ok(std::int64_t k) {
  const std::int64_t kh = k / C::bank * C::high_per_bank, kl = k - kh;
  return column_pass_bits_ok<C> && (kh * C::high_bits) % 32 == 0 && (kl * C::low_bits) % 32 == 0;
}

/// 16-bit element -> float, exactly.
template <class T> __device__ __forceinline__ float float_of_bits(std::uint32_t bits);
template <> __device__ __forceinline__ float float_of_bits<__nv_bfloat16>(std::uint32_t bits) {
  return __uint_as_float(bits << 16);
}
template <> __device__ __forceinline__ float float_of_bits<__half>(std::uint32_t bits) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(bits)));
}

/// Byte `B` of four words -> one word (byte i from the i-th).
template <int B = 0>
__device__ __forceinline__ std::uint32_t bytes_of(std::uint32_t a, std::uint32_t b, std::uint32_t c,
                                                  std::uint32_t d) {
  constexpr unsigned pick = B | (4 + B) << 4; // byte 0 <- byte B of the first, 1 <- of the second
  return __byte_perm(__byte_perm(a, b, pick), __byte_perm(c, d, pick), 0x5410);
}

/// Folds 32 / Bits codes into one little-endian word of Bits-bit fields (docs/layouts.md, "Bit
/// packing"). Byte `B` of each t[i] holds code i (for Bits < 8: in its low Bits bits).
template <int Bits, int B = 0>
__device__ __forceinline__ std::uint32_t fold_word(const std::uint32_t* t) {
  if constexpr (Bits == 8) {
    return bytes_of<B>(t[0], t[1], t[2], t[3]);
  } else if constexpr (Bits == 4) {
    // Byte 2i of n <- code(2i) | code(2i+1) << 4; bytes 0 and 2 of two such words make the word.
    std::uint32_t n[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const std::uint32_t b = bytes_of<B>(t[4 * h], t[4 * h + 1], t[4 * h + 2], t[4 * h + 3]);
      n[h] = (b & 0x0f0f0f0fu) | ((b >> 4) & 0xf0f0f0f0u);
    }
    return __byte_perm(n[0], n[1], 0x6420);
  } else {
    static_assert(Bits == 2, "fold_word: 2, 4 or 8 bits");
    // Byte 0 of c <- four crumbs; bytes 0 of four such words make the word.
    std::uint32_t c[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const std::uint32_t b = bytes_of<B>(t[4 * q], t[4 * q + 1], t[4 * q + 2], t[4 * q + 3]);
      const std::uint32_t a = (b & 0x03030303u) | ((b >> 6) & 0x0c0c0c0cu);
      c[q] = (a & 0x0f0f0f0fu) | ((a >> 12) & 0xf0f0f0f0u);
    }
    return bytes_of(c[0], c[1], c[2], c[3]);
  }
}

/// Loads the N one-byte entries of one word (N = 4, 8 or 16 bytes, aligned to that) into
/// 32-bit words.
template <int N>
__device__ __forceinline__ void load_entries(const std::uint8_t* entries,
                                             std::uint32_t (&id)[N / 4]) {
  if constexpr (N == 4) {
    id[0] = *reinterpret_cast<const std::uint32_t*>(entries);
  } else if constexpr (N == 8) {
    const uint2 v = *reinterpret_cast<const uint2*>(entries);
    id[0] = v.x, id[1] = v.y;
  } else {
    static_assert(N == 16, "load_entries: 4, 8 or 16 entries");
    const uint4 v = *reinterpret_cast<const uint4*>(entries);
    id[0] = v.x, id[1] = v.y, id[2] = v.z, id[3] = v.w;
  }
}

/// Entry i of a word's entries held in 32-bit words.
__device__ __forceinline__ std::uint32_t entry_of(const std::uint32_t* id, int i) {
  return __byte_perm(id[i / 4], 0u, 0x4440u | static_cast<unsigned>(i % 4));
}

/// 192.5: for |y| < 7.5, t = fma(x, 1/s, 192.5) lies in [128, 256), where floats are 2^-16
/// apart. Bits 16..23 of t are then floor(y + 1/2) + 64 (the code in the low 4 bits), bits
/// 0..15 the fraction of y + 1/2 in units of 2^-16.
constexpr float small_code_magic = 192.5f;

/// Codes in [-Qmax, Qmax], Qmax <= 7, of N values: byte 2 of t[i] is code i + 64 (its low bits
/// the code, bit 7 clear), by one fma each (t = fma(x, 1/s, 192.5)); the values whose fraction
/// bits come out zero (within 2^-17 of a half-integer), or all with a subnormal scale (`exact`),
/// take the IEEE division instead (bf16 inputs make exact ties common: x = amax / 2 is one).
/// NaN/Inf x (flagged by pass 1, outputs unspecified) give arbitrary bits.
template <int Qmax, int N>
__device__ __forceinline__ void small_codes(const float (&x)[N], float scale, float inverse,
                                            bool exact, std::uint32_t (&t)[N]) {
  static_assert(Qmax <= 7 && N % 2 == 0, "small_codes: codes of at most 7, pairs of values");
  std::uint32_t fraction = 0xffffffffu; // 16-bit minima of the fractions, two lanes
#pragma unroll
  for (int i = 0; i < N; ++i)
    t[i] = __float_as_uint(fmaf(x[i], inverse, small_code_magic));
#pragma unroll
  for (int i = 0; i < N; i += 2)
    fraction = __vminu2(fraction, __byte_perm(t[i], t[i + 1], 0x5410));
  if (exact || (fraction & 0xffffu) == 0 || (fraction >> 16) == 0) {
#pragma unroll
    for (int i = 0; i < N; ++i)
      if (exact || (t[i] & 0xffffu) == 0)
        t[i] = static_cast<std::uint32_t>(quantize_code_outlined(x[i], scale, Qmax) + 64) << 16;
  }
}

/// One output word of 32 / Bits codes in [-Qmax, Qmax] from the values x (all of one block, so
/// one scale). Codes of at most 7 (2- and 4-bit fields) take one fma each: t = fma(x, 1/s,
/// 192.5), code in bits 16..23. The fraction bits are 0 exactly when y + 1/2 (y = x · (1/s),
/// |y - x/s| < 2^-21) rounds to an integer on the 2^-16 grid, i.e. y lies within 2^-17 of a
/// half-integer; otherwise x/s lies more than 2^-17 - 2^-21 from one and its IEEE quotient
/// (within 2^-22 of x/s) more than 2^-17 - 2^-21 - 2^-22, so rint of it is floor(y + 1/2). A
/// word with a zero fraction (one 16-bit min per two columns finds it) has those values redone
/// with the IEEE division. Larger codes: t = fma(x, 1/s, 1.5 · 2^23) (code in the low byte) and the
/// exact residual, as the lane kernels (docs/datapath.md).
template <int Bits, int Qmax>
__device__ __forceinline__ std::uint32_t
quantize_values_word(const float (&x)[32 / Bits], float scale, float inverse, bool exact) {
  constexpr int N = 32 / Bits;
  std::uint32_t t[N];
  if constexpr (Qmax <= 7) {
    static_assert(Bits <= 4, "quantize_values_word: codes of at most 7 fill 2- or 4-bit fields");
    small_codes<Qmax>(x, scale, inverse, exact, t);
    return fold_word<Bits, 2>(t);
  } else {
    float worst = 0.0f, residual[N];
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const float r = fmaf(x[i], inverse, rounding_magic);
      residual[i] = fabsf(fmaf(x[i], inverse, rounding_magic - r));
      worst = fmaxf(worst, residual[i]);
      t[i] = __float_as_uint(r);
    }
    // NaN residuals only come from a non-finite x, which pass 1 has flagged (outputs
    // unspecified). Only the values near a half-integer take the division.
    if (exact || !(worst <= 0.5f - 0x1p-13f)) {
#pragma unroll
      for (int i = 0; i < N; ++i)
        if (exact || !(residual[i] <= 0.5f - 0x1p-13f))
          t[i] = static_cast<std::uint32_t>(quantize_code_outlined(x[i], scale, Qmax));
    }
    return fold_word<Bits>(t);
  }
}

/// U output words of one block at once (their gathers in flight together): word u covers
/// columns [c0[u], c0[u] + 32/Bits) of a block whose entries start at `entries`; `Run`
/// columns a bank, codes in [-Qmax, Qmax]. Values come from the staged row `xs` (shared memory)
/// and are quantized by quantize_values_word.
template <class Table, int Bits, int Run, int Qmax, int U, class T>
__device__ __forceinline__ void quantize_column_words(const typename Table::Entry* entries,
                                                      const std::uint16_t* xs, const int (&c0)[U],
                                                      float scale, float inverse, bool exact,
                                                      std::uint32_t (&out)[U]) {
  constexpr int N = 32 / Bits;
  std::uint32_t id[U][N / 4];
#pragma unroll
  for (int u = 0; u < U; ++u)
    load_entries<N>(entries + c0[u], id[u]);
  float x[U][N];
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const std::uint16_t* row = xs + Table::template base<Run>(c0[u]);
#pragma unroll
    for (int i = 0; i < N; ++i)
      x[u][i] = float_of_bits<T>(row[entry_of(id[u], i)]);
  }
#pragma unroll
  for (int u = 0; u < U; ++u)
    out[u] = quantize_values_word<Bits, Qmax>(x[u], scale, inverse, exact);
}

/// The words w, w + stride, ... (w from `first`) of one block's row, `Unroll` at a time. The
/// output pointer advances by the stride (a loop-carried pointer: under the register cap the
/// compiler would otherwise redo the 64-bit address arithmetic for every word).
template <class Table, int Bits, int Run, int Qmax, int Unroll, class T>
__device__ __forceinline__ void
quantize_block_words(const typename Table::Entry* entries, const std::uint16_t* xs,
                     std::uint32_t* out_row, int words, int first, int stride, float scale,
                     float inverse, bool exact) {
  constexpr int N = 32 / Bits;
  std::uint32_t* out = out_row + first;
  for (int w = first; w < words; w += Unroll * stride, out += Unroll * stride) {
    int c0[Unroll];
#pragma unroll
    for (int u = 0; u < Unroll; ++u) // past the end: a copy of word w, not stored
      c0[u] = (w + u * stride < words ? w + u * stride : w) * N;
    std::uint32_t word[Unroll];
    quantize_column_words<Table, Bits, Run, Qmax, Unroll, T>(entries, xs, c0, scale, inverse, exact,
                                                             word);
#pragma unroll
    for (int u = 0; u < Unroll; ++u)
      if (w + u * stride < words)
        out[u * stride] = word[u];
  }
}

/// Pass 2 of one row in output order. `first`/`stride`: this lane's first word and the step
/// between its words (the block's lanes share the words of both blocks). `table`: the high
/// block's entries (the low block's start at Table::low_start(kh)).
template <class C, class Table, class T, int Unroll = 1>
__device__ __forceinline__ void
quantize_row_by_columns(const typename Table::Entry* table, const std::uint16_t* xs, int kh, int kl,
                        std::uint32_t* high_row, std::uint32_t* low_row, float scale_high,
                        float scale_low, float inverse_high, float inverse_low, bool exact,
                        int first, int stride) {
  constexpr int nh = 32 / C::high_bits, nl = 32 / C::low_bits;
  const int high_words = kh / nh, low_words = kl / nl;
  quantize_block_words<Table, C::high_bits, C::high_per_bank, C::high_qmax, Unroll, T>(
      table, xs, high_row, high_words, first, stride, scale_high, inverse_high, exact);
  // The low words continue where this lane's high words stopped, so the lanes stay balanced.
  int w = first - high_words % stride;
  if (w < 0)
    w += stride;
  quantize_block_words<Table, C::low_bits, C::low_per_bank, C::low_qmax, Unroll, T>(
      table + Table::low_start(kh), xs, low_row, low_words, w, stride, scale_low, inverse_low,
      exact);
}

} // namespace sqformat::gpu::datapath::detail

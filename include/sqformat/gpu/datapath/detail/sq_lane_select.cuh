// sqformat/gpu/datapath/detail/sq_lane_select.cuh: the K-th largest of a bank's 16-bit
// magnitudes held by one lane (registers, compile-time indices only), for the dynamic top-H
// selection of the lane kernel. A small selection network instead of K rounds of maxima, run
// on the raw words two values at a time (__vmaxu2/__vminu2 on the 16-bit halves):
//
//   1. sort every group of P words descending (P = the power of two >= K; bitonic network):
//      the even and the odd elements of the group each get sorted
//   2. merge each group into the running top P: a[i] = max(a[i], b[P-1-i]) leaves the P largest
//      of both as a bitonic sequence, a half-cleaner cascade sorts it again
//   3. the top K of the even and of the odd elements merge into the K-th largest of the bank:
//      min over i of max(even[i], odd[K-1-i])
//
// For b = 64, K = 8: 4 sorts of 8 words (24 compare-exchanges each), 3 merges (8 max + 12
// compare-exchanges), about 5 min/max instructions per element; 16 words live at a time.
#pragma once

#include <cstdint>

namespace sqformat::gpu::datapath::detail::lane {

__host__ __device__ constexpr int pow2_at_least(int v) {
  return v <= 1 ? 1 : 2 * pow2_at_least((v + 1) / 2);
}

/// a, b <- max, min: of 32-bit keys, or (Pairs) of the two 16-bit halves independently.
template <bool Pairs>
__device__ __forceinline__ void order_descending(std::uint32_t& a, std::uint32_t& b) {
  std::uint32_t hi, lo;
  if constexpr (Pairs) {
    hi = __vmaxu2(a, b);
    lo = __vminu2(a, b);
  } else {
    hi = max(a, b);
    lo = min(a, b);
  }
  a = hi;
  b = lo;
}

/// Sorts key[first, first + P) descending (bitonic sorting network). `first` must be a
/// compile-time constant after unrolling (every caller's loop is unrolled), so that the keys
/// stay in registers.
template <int P, bool Pairs = false, int N>
__device__ __forceinline__ void sort_group(std::uint32_t (&key)[N], int first) {
#pragma unroll
  for (int size = 2; size <= P; size *= 2) {
#pragma unroll
    for (int stride = size / 2; stride > 0; stride /= 2) {
#pragma unroll
      for (int i = 0; i < P; ++i) {
        const int j = i ^ stride;
        if (j > i) {
          if ((i & size) == 0)
            order_descending<Pairs>(key[first + i], key[first + j]);
          else
            order_descending<Pairs>(key[first + j], key[first + i]);
        }
      }
    }
  }
}

/// Sorts the bitonic sequence key[first, first + P) descending (half-cleaner cascade).
template <int P, bool Pairs = false, int N>
__device__ __forceinline__ void sort_bitonic(std::uint32_t (&key)[N], int first) {
#pragma unroll
  for (int stride = P / 2; stride > 0; stride /= 2) {
#pragma unroll
    for (int i = 0; i < P; ++i)
      if ((i & stride) == 0)
        order_descending<Pairs>(key[first + i], key[first + i + stride]);
  }
}

/// The P largest of the Words 16-bit pairs words_of(0), ..., words_of(Words-1), sorted
/// descending, for the low halves and the high halves separately (P a power of two, Words a
/// multiple of P; equal values allowed), group by group (steps 1 and 2 above), two
/// selections per instruction (__vmaxu2/__vminu2): only 2P words are live.
template <int Words, int P, class WordOf>
__device__ __forceinline__ void top_pairs(WordOf word_of, std::uint32_t (&top)[P]) {
  static_assert(Words % P == 0, "top_pairs: whole groups of P words");
#pragma unroll
  for (int i = 0; i < P; ++i)
    top[i] = word_of(i);
  sort_group<P, true>(top, 0);
#pragma unroll
  for (int g = P; g < Words; g += P) {
    std::uint32_t next[P];
#pragma unroll
    for (int i = 0; i < P; ++i)
      next[i] = word_of(g + i);
    sort_group<P, true>(next, 0);
#pragma unroll
    for (int i = 0; i < P; ++i)
      top[i] = __vmaxu2(top[i], next[P - 1 - i]);
    sort_bitonic<P, true>(top, 0);
  }
}

/// The K-th largest of the 2·Words 16-bit values held two a word (K <= Words; equal values
/// allowed, so several elements may equal the result). With a and b the sorted top K of the
/// low and of the high halves, the K-th largest of their union is min over i of
/// max(a[i], b[K-1-i]).
template <int Words, int K, class WordOf>
__device__ __forceinline__ std::uint32_t kth_largest_of_pairs(WordOf word_of) {
  constexpr int P = pow2_at_least(K);
  std::uint32_t top[P];
  top_pairs<Words, P>(word_of, top);
  std::uint32_t t = 0xffffu;
#pragma unroll
  for (int i = 0; i < K; ++i)
    t = min(t, max(top[i] & 0xffffu, top[K - 1 - i] >> 16));
  return t;
}

} // namespace sqformat::gpu::datapath::detail::lane

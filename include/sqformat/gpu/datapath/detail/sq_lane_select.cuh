// sqformat/gpu/datapath/detail/sq_lane_select.cuh: the H-th largest of b distinct keys held by
// one lane (registers, compile-time indices only), for the dynamic top-H selection of the lane
// kernel. A small selection network instead of H rounds of minima:
//
//   1. sort every group of P keys descending (P = the power of two >= H; bitonic network)
//   2. merge each group into the running top P: a[i] = max(a[i], b[P-1-i]) leaves the P largest
//      of both as a bitonic sequence, a half-cleaner cascade sorts it again
//   3. the last merge needs no sort when P == H: the threshold is the minimum of the survivors
//
// For b = 64, H = 8: 8 sorts of 8 (24 compare-exchanges each), 7 merges (8 max + 12
// compare-exchanges), about 10 min/max per key; 16 keys live at a time.
#pragma once

#include <cstdint>

namespace sqformat::gpu::datapath::detail::lane {

__host__ __device__ constexpr int pow2_at_least(int v) {
  return v <= 1 ? 1 : 2 * pow2_at_least((v + 1) / 2);
}

/// a, b <- max, min.
__device__ __forceinline__ void order_descending(std::uint32_t& a, std::uint32_t& b) {
  const std::uint32_t hi = max(a, b), lo = min(a, b);
  a = hi;
  b = lo;
}

/// Sorts key[first, first + P) descending (bitonic sorting network). `first` must be a
/// compile-time constant after unrolling (every caller's loop is unrolled), so that the keys
/// stay in registers.
template <int P, int N>
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
            order_descending(key[first + i], key[first + j]);
          else
            order_descending(key[first + j], key[first + i]);
        }
      }
    }
  }
}

/// Sorts the bitonic sequence key[first, first + P) descending (half-cleaner cascade).
template <int P, int N>
__device__ __forceinline__ void sort_bitonic(std::uint32_t (&key)[N], int first) {
#pragma unroll
  for (int stride = P / 2; stride > 0; stride /= 2) {
#pragma unroll
    for (int i = 0; i < P; ++i)
      if ((i & stride) == 0)
        order_descending(key[first + i], key[first + i + stride]);
  }
}

/// The K-th largest of the B keys key_of(0), ..., key_of(B-1) (1 <= K <= B, keys distinct).
/// Groups of P keys are made, sorted and merged into a running top P one after the other, so
/// only 2P keys are live at a time (registers) and each key is computed once, when its group
/// comes. key_of must be callable with a compile-time index (after unrolling).
template <int B, int K, class KeyOf>
__device__ __forceinline__ std::uint32_t kth_largest(KeyOf key_of) {
  constexpr int P = pow2_at_least(K);
  static_assert(K >= 1 && B % P == 0, "kth_largest: the bank must hold whole groups of P keys");
  std::uint32_t top[P];
#pragma unroll
  for (int i = 0; i < P; ++i)
    top[i] = key_of(i);
  sort_group<P>(top, 0);
#pragma unroll
  for (int g = P; g < B; g += P) {
    std::uint32_t next[P];
#pragma unroll
    for (int i = 0; i < P; ++i)
      next[i] = key_of(g + i);
    sort_group<P>(next, 0);
#pragma unroll
    for (int i = 0; i < P; ++i)
      top[i] = max(top[i], next[P - 1 - i]);
    if (g + P < B || P != K) // the last merge with P == K only needs its minimum
      sort_bitonic<P>(top, 0);
  }
  if constexpr (P == K && B > P) {
    std::uint32_t t = top[0];
#pragma unroll
    for (int i = 1; i < P; ++i)
      t = min(t, top[i]);
    return t;
  } else {
    return top[K - 1];
  }
}

/// Threshold of the top-H selection among key_of(0..B-1): key >= threshold <=> the key is among
/// the H largest. When H > b/2 the (b-H)-th smallest is found instead (on complemented keys),
/// which needs the smaller network.
template <int B, int H, class KeyOf>
__device__ __forceinline__ std::uint32_t top_h_threshold(KeyOf key_of) {
  if constexpr (H <= B - H) {
    return kth_largest<B, H>(key_of);
  } else {
    // t = the largest low key (the (b-H)-th smallest); high <=> key > t.
    const std::uint32_t t = ~kth_largest<B, B - H>([&](int e) { return ~key_of(e); });
    return t + 1u;
  }
}

} // namespace sqformat::gpu::datapath::detail::lane

// sqformat/gpu/datapath/detail/bank_group.cuh: warp-level building blocks for kernels that handle
// an SQ tensor bank by bank.
//
// A "bank group" is G consecutive lanes of one warp (G a power of two <= 32); lane j of the group
// holds elements [j·E, (j+1)·E) of the bank, E = b / G. Every function here is called by all 32
// lanes of a warp together (the shuffles use the full mask); a group whose bank lies past the end
// of the row still takes part and simply discards its results.
#pragma once

#include <cstdint>

#include "sqformat/gpu/datapath/detail/quantize.cuh"

namespace sqformat::gpu::datapath::detail {

constexpr unsigned full_warp = 0xffffffffu;

template <int G> __device__ __forceinline__ float group_max(float v) {
#pragma unroll
  for (int offset = G / 2; offset > 0; offset /= 2)
    v = fmaxf(v, __shfl_xor_sync(full_warp, v, offset));
  return v;
}

template <int G> __device__ __forceinline__ std::uint32_t group_min(std::uint32_t v) {
#pragma unroll
  for (int offset = G / 2; offset > 0; offset /= 2)
    v = min(v, __shfl_xor_sync(full_warp, v, offset));
  return v;
}

/// Inclusive prefix sum over the lanes of a group.
template <int G> __device__ __forceinline__ int group_inclusive_sum(int v, int lane) {
#pragma unroll
  for (int offset = 1; offset < G; offset *= 2) {
    const int t = __shfl_up_sync(full_warp, v, offset, G);
    if (lane >= offset)
      v += t;
  }
  return v;
}

/// Marks the H elements of a bank with the largest keys. Keys must be distinct within the bank
/// and below 2^30 (the callers put |x| in the high bits and the reversed index in the low bits,
/// so that equal |x| rank the lower index first).
///
/// Instead of sorting, it finds the H-th largest key T by H rounds of "largest key below the
/// previous one" (a group min of unsigned differences: keys at or above the bound wrap to huge
/// values and never win), and then marks key >= T. When H > b/2 it finds the (b-H)-th smallest
/// key instead. Cost per lane: min(H, b-H) · (2E + 2·log2 G) integer operations.
template <int G, int E, int H>
__device__ __forceinline__ void select_top_h(const std::uint32_t (&key)[E], bool (&high)[E]) {
  constexpr int B = G * E;
  if constexpr (H <= B - H) {
    std::uint32_t bound = 1u << 30; // above every key
#pragma unroll 2
    for (int round = 0; round < H; ++round) {
      std::uint32_t d = 0xffffffffu;
#pragma unroll
      for (int e = 0; e < E; ++e)
        d = min(d, bound - 1u - key[e]);
      bound = bound - 1u - group_min<G>(d); // the largest key below the previous bound
    }
#pragma unroll
    for (int e = 0; e < E; ++e)
      high[e] = key[e] >= bound;
  } else {
    std::uint32_t floor = 0; // keys below it are already counted as low
#pragma unroll 2
    for (int round = 0; round < B - H; ++round) {
      std::uint32_t d = 0xffffffffu;
#pragma unroll
      for (int e = 0; e < E; ++e)
        d = min(d, key[e] - floor);
      floor = floor + group_min<G>(d) + 1u; // just above the smallest key not yet counted
    }
#pragma unroll
    for (int e = 0; e < E; ++e)
      high[e] = key[e] >= floor;
  }
}

/// Quantizes one bank whose high elements are marked: writes the b low codes (sentinel at high
/// positions) to `low_codes`, the H high codes in K order to `high_codes` (both int8, one per
/// byte, in shared memory), and the two scales. Returns false in lane 0 of a group whose bank
/// does not hold exactly H high elements (only possible with a caller's mask).
template <class C, int G, int E>
__device__ __forceinline__ bool quantize_bank(const float (&v)[E], const bool (&high)[E], int lane,
                                              bool active, std::int8_t* low_codes,
                                              std::int8_t* high_codes, float* scale_low,
                                              float* scale_high) {
  float amax_high = 0.0f, amax_low = 0.0f;
  int high_count = 0;
#pragma unroll
  for (int e = 0; e < E; ++e) {
    const float a = fabsf(v[e]);
    amax_high = fmaxf(amax_high, high[e] ? a : 0.0f);
    amax_low = fmaxf(amax_low, high[e] ? 0.0f : a);
    high_count += high[e] ? 1 : 0;
  }
  amax_high = group_max<G>(amax_high);
  amax_low = group_max<G>(amax_low);
  const int inclusive = group_inclusive_sum<G>(high_count, lane);
  const int total = __shfl_sync(full_warp, inclusive, G - 1, G);
  const float s_high = symmetric_scale(amax_high, C::high_qmax);
  const float s_low = symmetric_scale(amax_low, C::low_qmax);
  if (!active)
    return true;
  // One branch-free path for both sets (the lanes of a warp disagree about which elements are
  // high): select the element's scale, reciprocal and range, quantize once.
  const float inv_high = inverse_scale(s_high), inv_low = inverse_scale(s_low);
  int position = inclusive - high_count;
#pragma unroll
  for (int e = 0; e < E; ++e) {
    const bool h = high[e];
    const int code = quantize_code_by_inverse(v[e], h ? s_high : s_low, h ? inv_high : inv_low,
                                              h ? C::high_qmax : C::low_qmax);
    low_codes[lane * E + e] = static_cast<std::int8_t>(h ? C::low_sentinel : code);
    if (h && position < C::high_per_bank)
      high_codes[position] = static_cast<std::int8_t>(code);
    position += h ? 1 : 0;
  }
  if (lane == 0) {
    *scale_low = s_low;
    *scale_high = s_high;
  }
  return total == C::high_per_bank;
}

} // namespace sqformat::gpu::datapath::detail

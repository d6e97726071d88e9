// sqformat/gpu/datapath/detail/sq_lane_top_h_split.cuh: the dynamic quantizer's top-H selection
// for write_split_bank (SqLanePolicy with HighFromStage): the same high set as top_h_select
// (sq_lane_dynamic_kernel.cuh), and with it the mask bits and the low set's amax, with the
// tie-break out of the common path:
//
//   T     = the H-th largest |x| bits (kth_largest_of_pairs, sq_lane_select.cuh)
//   ge    = |x| >= T as select bytes and as mask bits. At least H elements have |x| >= T; when
//           exactly H do (no tie at T beyond what is needed: the common case) they are the
//           high set. Otherwise (a warp-divergent, rare branch) the high set is |x| > T plus
//           the lowest indices of |x| == T, as in top_h_select.
//   low amax: with d = (m | 0x8000) - T per 16-bit half (m = |x| bits < 2^15: no borrow between
//           the halves), d is a positive int16 exactly when m < T, and larger for larger m, so a
//           signed max over the d words gives the largest |x| below T; it is the low amax unless
//           an element equal to T stays low (then T is).
#pragma once

#include <cstdint>

#include "sqformat/gpu/datapath/detail/sq_lane_bank.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_select.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_split_bank.cuh"

namespace sqformat::gpu::datapath::detail::lane {

/// 0xff/0x00 bytes from bits 15, 31 of `lo` and of `hi` (prmt, sign-replicating selectors).
__device__ __forceinline__ std::uint32_t sign_bytes(std::uint32_t lo, std::uint32_t hi) {
  std::uint32_t r;
  asm("prmt.b32 %0, %1, %2, 0xfdb9;" : "=r"(r) : "r"(lo), "r"(hi));
  return r;
}

/// `staged`: the bank (16-bit elements) in the warp's stage. Sets `r` (the bank's raw words,
/// read after the selection network so that they are not live through it), `sel` (0xff =
/// high), `high` (bit e = element e is high) and `low_amax` (largest |x| bits of the low
/// elements).
template <int B, int H, class T, int Cw>
__device__ __forceinline__ void top_h_split(const StagedBankAddress<Cw>& staged, RawBank<T, B>& r,
                                            std::uint32_t (&sel)[B / 4], MaskBits<B>& high,
                                            std::uint32_t& low_amax) {
  static_assert(H <= B / 2, "top_h_split: H <= b/2 (every half of the pairs holds H values)");
  static_assert(sizeof(T) == 2, "top_h_split: 16-bit elements, two a word");
  std::uint32_t chunk[4]; // the network asks for words 0, 1, ..., B/2 - 1 in order
  const std::uint32_t t = kth_largest_of_pairs<B / 2, H>([&](int p) {
    if (p % 4 == 0)
      staged.chunk(p / 4, chunk);
    return chunk[p % 4] & 0x7fff7fffu;
  });
  load_staged_bank(staged, r);
  const std::uint32_t(&w)[B / 2] = r.w;
  const std::uint32_t ge_t = t * 0x10001u;
  std::uint32_t below = 0x80008000u; // signed max of the d words
#pragma unroll
  for (int j = 0; j < B / 4; ++j) {
    const std::uint32_t d0 = (w[2 * j] | 0x80008000u) - ge_t,
                        d1 = (w[2 * j + 1] | 0x80008000u) - ge_t;
    sel[j] = sign_bytes(d0, d1);
    below = __vmaxs2(below, __vmaxs2(d0, d1));
  }
  high = mask_bits_of<B, true>(sel);
  const int count = popcount<B>(high);
  if (count != H) { // ties at T: |x| > T, then the lowest indices of |x| == T
    // Lean on registers (w, sel and the rest stay live across this branch): the |x| > T
    // bytes are made twice, 8 elements at a time, instead of kept.
    const std::uint32_t gt_t = ge_t + 0x10001u;
    auto gt_bytes = [&](int j) {
      return sign_bytes((w[2 * j] | 0x80008000u) - gt_t, (w[2 * j + 1] | 0x80008000u) - gt_t);
    };
    MaskBits<B> above = 0;
#pragma unroll
    for (int i = 0; i < B / 8; ++i) { // as mask_bits_of<B, true>
      const std::uint32_t v = (gt_bytes(2 * i) & 0x01010101u) | (gt_bytes(2 * i + 1) & 0x10101010u);
      above |= static_cast<MaskBits<B>>((v * 0x1020408u) >> 24) << (8 * i);
    }
    const MaskBits<B> take = lowest_ties<B, H>(above, high & ~above);
    high = above | take;
#pragma unroll
    for (int j = 0; j < B / 4; ++j)
      sel[j] = gt_bytes(j) | select_bytes<B>(take, j);
  }
  const int below_max = max(static_cast<int>(static_cast<std::int16_t>(below & 0xffffu)),
                            static_cast<int>(static_cast<std::int16_t>(below >> 16)));
  low_amax = count > H || below_max < 0
                 ? t
                 : static_cast<std::uint32_t>(below_max - 0x8000 + static_cast<int>(t));
}

} // namespace sqformat::gpu::datapath::detail::lane

// sqformat/gpu/datapath/detail/sq_lane_dynamic_kernel.cuh: the dynamic top-H quantizer's lane
// kernel (see sq_lane_policy.hpp and sq_lane_bank.cuh): a thread quantizes bank g of the flat
// M×K activations (bf16 or fp16).
//
//   X bank -> registers: 16-byte loads (Stages = 1), through the warp's coalesced cp.async
//           stage (CoalescedLoads) or through the thread's cp.async slots (Stages > 1),
//           sq_lane_staging.cuh
//   select  T = the H-th largest |x| (15 bits, sign cleared: -0 == +0), found by a selection
//           network on the raw words' 16-bit halves two at a time (sq_lane_select.cuh), 32
//           words live instead of 32-bit keys; |x| > T is high, and of the elements with
//           |x| == T the lowest indices fill the rest (the reference's tie-break), by bit masks
//   write_bank as for the weight packer
//   With HighFromStage (SqLanePolicy): top_h_split (sq_lane_top_h_split.cuh) and
//   write_split_bank (sq_lane_split_bank.cuh) instead.
#pragma once

#include <cstdint>

#include "sqformat/gpu/datapath/detail/quantize.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_bank.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_select.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_split_bank.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_staging.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_top_h_split.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_warp_pipeline.cuh"
#include "sqformat/gpu/datapath/sq_tensor_ref.hpp"

namespace sqformat::gpu::datapath::detail {

namespace lane {
/// Select words (0xff = high) of the top-H elements of a bank of 16-bit values (raw words, two
/// elements a word): the H elements of largest |x|, equal |x| -> the lower index (-0 == +0).
///   T     = the H-th largest |x| bits (16-bit pair network, kth_largest_of_pairs)
///   above = |x| > T (fewer than H), equal = |x| == T: bit masks in index order
///   high  = above + the first H - popc(above) elements of equal (lowest bits first)
template <int B, int H>
__device__ __forceinline__ void top_h_select(const std::uint32_t (&w)[B / 2],
                                             std::uint32_t (&sel)[B / 4]) {
  static_assert(H <= B / 2, "top_h_select: H <= b/2 (every half of the pairs holds H values)");
  const std::uint32_t t = kth_largest_of_pairs<B / 2, H>([&](int p) { return w[p] & 0x7fff7fffu; });
  // Per 16-bit half, (m | 0x8000) - t never borrows into the next half (m, t < 2^15) and has
  // bit 15 set exactly when m >= t; with t + 1, when m > t. prmt's sign-replicate selectors
  // (8 + byte) widen bits 15 and 31 of two words into the select bytes of their four elements.
  const std::uint32_t ge_t = t * 0x10001u, gt_t = ge_t + 0x10001u;
  std::uint32_t equal_sel[B / 4];
#pragma unroll
  for (int j = 0; j < B / 4; ++j) {
    const std::uint32_t a0 = w[2 * j] | 0x80008000u, a1 = w[2 * j + 1] | 0x80008000u;
    const std::uint32_t gt = sign_bytes(a0 - gt_t, a1 - gt_t),
                        ge = sign_bytes(a0 - ge_t, a1 - ge_t);
    sel[j] = gt;
    equal_sel[j] = ge & ~gt;
  }
  const MaskBits<B> above = mask_bits<B>(sel), equal = mask_bits<B>(equal_sel);
  const MaskBits<B> take = lowest_ties<B, H>(above, equal);
#pragma unroll
  for (int j = 0; j < B / 4; ++j)
    sel[j] |= select_bytes<B>(take, j);
}
} // namespace lane

/// 16-byte chunks of one bank of X (see sq_lane_pack_chunks).
template <class C, class T> constexpr int sq_lane_dynamic_chunks = C::bank * sizeof(T) / 16;

template <class C, class P, class T>
__global__ void __launch_bounds__(P::threads, P::min_blocks_per_sm)
    sq_lane_dynamic_kernel(const T* __restrict__ x, std::int64_t banks, SqTensorRef out,
                           unsigned* status) {
  static_assert(sizeof(T) == 2, "sq_lane_dynamic_kernel: 16-bit inputs (selected two a word)");
  constexpr int B = C::bank, S = P::stages, chunks = B * 2 / 16;
  __shared__ __align__(16) std::uint8_t codes[P::threads * B];
  std::uint8_t* lane_codes = codes + threadIdx.x * B;
  const int swizzle = lane::lane_swizzle<B>(threadIdx.x % 32);
  unsigned flags = 0;

  auto quantize = [&](std::int64_t g, const lane::RawBank<T, B>& r) {
    std::uint32_t sel[B / 4];
    lane::top_h_select<B, C::high_per_bank>(r.w, sel);
    flags |= lane::write_bank<C, false>(r, sel, g, out, lane_codes, swizzle);
  };

  std::int64_t g = static_cast<std::int64_t>(blockIdx.x) * P::threads + threadIdx.x;
  if constexpr (P::high_from_stage) {
    extern __shared__ uint4 staging[];
    lane::for_each_warp_batch<P::threads, S, 32 * chunks>(
        banks, staging,
        [&](std::int64_t first, int valid, unsigned stage) {
          lane::stage_warp_banks_fast<chunks>(stage, x + first * B, valid);
        },
        [&](std::int64_t first, const uint4* warp_stage) {
          const std::int64_t bank = first + threadIdx.x % 32;
          if (bank >= banks)
            return;
          const lane::StagedBankAddress<chunks> staged(warp_stage,
                                                       static_cast<int>(threadIdx.x % 32));
          lane::RawBank<T, B> r;
          std::uint32_t sel[B / 4], low_amax;
          lane::MaskBits<B> high_bits;
          lane::top_h_split<B, C::high_per_bank>(staged, r, sel, high_bits, low_amax);
          flags |= lane::write_split_bank<C, false>(r, staged, sel, high_bits, low_amax, bank, out);
        });
  } else if constexpr (S == 1 && P::coalesced_loads) {
    extern __shared__ uint4 staging[];
    uint4* warp_stage = staging + (threadIdx.x / 32) * 32 * chunks;
    const std::int64_t first = g - threadIdx.x % 32; // the warp's first bank (warp-uniform)
    if (first < banks) {
      const int valid = static_cast<int>(banks - first < 32 ? banks - first : 32);
      lane::stage_warp_banks<chunks>(warp_stage, x + first * B, valid);
      lane::commit_stage();
      lane::wait_stages<0>();
      __syncwarp(); // the other lanes' copies are visible
      if (g < banks) {
        lane::RawBank<T, B> r;
        lane::read_warp_bank<chunks>(warp_stage, r.w);
        quantize(g, r);
      }
    }
  } else if constexpr (S == 1) {
    if (g < banks) {
      lane::RawBank<T, B> r;
      lane::load_words(x + g * B, r.w);
      quantize(g, r);
    }
  } else {
    extern __shared__ uint4 staging[];
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * P::threads;
    auto stage = [&](std::int64_t bank, int buffer) {
      if (bank < banks)
        lane::stage_chunks<P::threads, 0, chunks>(staging + buffer * chunks * P::threads,
                                                  x + bank * B);
      lane::commit_stage(); // an empty group past the end keeps the group count uniform
    };
#pragma unroll
    for (int s = 0; s < S - 1; ++s)
      stage(g + s * stride, s);
    for (int i = 0; g < banks; g += stride, i = (i + 1) % S) {
      stage(g + (S - 1) * stride, (i + S - 1) % S); // the buffer read one iteration ago
      lane::wait_stages<S - 1>();
      lane::RawBank<T, B> r;
      lane::read_chunks<P::threads, 0>(staging + i * chunks * P::threads, r.w);
      quantize(g, r);
    }
  }
  if (flags != 0)
    raise_flag(status, flags);
}

} // namespace sqformat::gpu::datapath::detail

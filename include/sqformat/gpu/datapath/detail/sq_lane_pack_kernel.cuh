// sqformat/gpu/datapath/detail/sq_lane_pack_kernel.cuh: the weight packer's lane kernel (see
// sq_lane_policy.hpp and sq_lane_bank.cuh): a thread packs bank g of the flat N×K tensor.
//
//   W bank (b·sizeof(T) bytes) and mask bank (b bytes) -> registers: 16-byte loads (Stages = 1),
//   through the warp's coalesced cp.async stage (CoalescedLoads) or through the thread's
//   cp.async slots (Stages > 1), sq_lane_staging.cuh
//   mask bytes -> select words (byte · 0xff; a byte > 1 flags the launch: the reference rejects
//   it), the bank's high count must be H -> write_bank
#pragma once

#include <cstdint>

#include "sqformat/gpu/datapath/detail/quantize.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_bank.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_split_bank.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_staging.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_warp_pipeline.cuh"
#include "sqformat/gpu/datapath/sq_tensor_ref.hpp"

namespace sqformat::gpu::datapath::detail {

/// The caller's mask bytes (0 or 1 each) -> select bytes (0x00 / 0xff), in place. Returns
/// flag_bad_mask if a byte is neither (the reference rejects such a mask).
template <int B> __device__ __forceinline__ unsigned widen_mask_bytes(std::uint32_t (&sel)[B / 4]) {
  std::uint32_t any = 0;
#pragma unroll
  for (int j = 0; j < B / 4; ++j) {
    any |= sel[j];
    sel[j] *= 0xffu; // bytes 0/1 -> 0x00/0xff (other bytes are flagged)
  }
  return (any & 0xfefefefeu) != 0 ? flag_bad_mask : 0u;
}

/// 16-byte chunks of one bank's inputs (W, mask): the staged kernel's dynamic shared memory is
/// Stages · chunks · Threads · 16 bytes.
template <class C, class T> constexpr int sq_lane_pack_chunks = C::bank*(sizeof(T) + 1) / 16;

template <class C, class P, class T>
__global__ void __launch_bounds__(P::threads, P::min_blocks_per_sm)
    sq_lane_pack_kernel(const T* __restrict__ w, const std::uint8_t* __restrict__ mask,
                        std::int64_t banks, SqTensorRef out, unsigned* status) {
  constexpr int B = C::bank, S = P::stages;
  constexpr int w_chunks = B * static_cast<int>(sizeof(T)) / 16, chunks = w_chunks + B / 16;
  __shared__ __align__(16) std::uint8_t codes[P::threads * B];
  std::uint8_t* lane_codes = codes + threadIdx.x * B;
  const int swizzle = lane::lane_swizzle<B>(threadIdx.x % 32);
  unsigned flags = 0;

  auto pack = [&](std::int64_t g, const lane::RawBank<T, B>& r, std::uint32_t(&sel)[B / 4]) {
    flags |= widen_mask_bytes<B>(sel);
    flags |= lane::write_bank<C, true>(r, sel, g, out, lane_codes, swizzle);
  };

  std::int64_t g = static_cast<std::int64_t>(blockIdx.x) * P::threads + threadIdx.x;
  if constexpr (P::high_from_stage) {
    extern __shared__ uint4 staging[];
    lane::for_each_warp_batch<P::threads, S, 32 * chunks>(
        banks, staging,
        [&](std::int64_t first, int valid, unsigned stage) {
          lane::stage_warp_banks_fast<w_chunks>(stage, w + first * B, valid);
          lane::stage_warp_banks_fast<B / 16>(stage + 32 * w_chunks * 16, mask + first * B, valid);
        },
        [&](std::int64_t first, const uint4* w_stage) {
          const std::int64_t bank = first + threadIdx.x % 32;
          if (bank >= banks)
            return;
          const lane::StagedBankAddress<w_chunks> staged(w_stage,
                                                         static_cast<int>(threadIdx.x % 32));
          std::uint32_t sel[B / 4];
          lane::read_warp_bank_fast<B / 16>(w_stage + 32 * w_chunks, sel);
          const lane::MaskBits<B> high_bits = lane::mask_bits_of<B, false>(sel);
          flags |= widen_mask_bytes<B>(sel);
          lane::RawBank<T, B> r;
          lane::load_staged_bank(staged, r);
          std::uint32_t high_amax, low_amax; // high_amax unused: write_split_bank finds it
          lane::set_amax_bits(r, sel, high_amax, low_amax);
          flags |= lane::write_split_bank<C, true>(r, staged, sel, high_bits, low_amax, bank, out);
        });
  } else if constexpr (S == 1 && P::coalesced_loads) {
    extern __shared__ uint4 staging[];
    uint4* w_stage = staging + (threadIdx.x / 32) * 32 * chunks;
    uint4* mask_stage = w_stage + 32 * w_chunks;
    const std::int64_t first = g - threadIdx.x % 32; // the warp's first bank (warp-uniform)
    if (first < banks) {
      const int valid = static_cast<int>(banks - first < 32 ? banks - first : 32);
      lane::stage_warp_banks<w_chunks>(w_stage, w + first * B, valid);
      lane::stage_warp_banks<B / 16>(mask_stage, mask + first * B, valid);
      lane::commit_stage();
      lane::wait_stages<0>();
      __syncwarp(); // the other lanes' copies are visible
      if (g < banks) {
        lane::RawBank<T, B> r;
        std::uint32_t sel[B / 4];
        lane::read_warp_bank<w_chunks>(w_stage, r.w);
        lane::read_warp_bank<B / 16>(mask_stage, sel);
        pack(g, r, sel);
      }
    }
  } else if constexpr (S == 1) {
    if (g < banks) {
      lane::RawBank<T, B> r;
      std::uint32_t sel[B / 4];
      lane::load_words(w + g * B, r.w);
      lane::load_words(mask + g * B, sel);
      pack(g, r, sel);
    }
  } else {
    extern __shared__ uint4 staging[];
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * P::threads;
    auto stage = [&](std::int64_t bank, int buffer) {
      if (bank < banks) {
        lane::stage_chunks<P::threads, 0, w_chunks>(staging + buffer * chunks * P::threads,
                                                    w + bank * B);
        lane::stage_chunks<P::threads, w_chunks, B / 16>(staging + buffer * chunks * P::threads,
                                                         mask + bank * B);
      }
      lane::commit_stage(); // an empty group past the end keeps the group count uniform
    };
#pragma unroll
    for (int s = 0; s < S - 1; ++s)
      stage(g + s * stride, s);
    for (int i = 0; g < banks; g += stride, i = (i + 1) % S) {
      stage(g + (S - 1) * stride, (i + S - 1) % S); // the buffer read one iteration ago
      lane::wait_stages<S - 1>();
      lane::RawBank<T, B> r;
      std::uint32_t sel[B / 4];
      lane::read_chunks<P::threads, 0>(staging + i * chunks * P::threads, r.w);
      lane::read_chunks<P::threads, w_chunks>(staging + i * chunks * P::threads, sel);
      pack(g, r, sel);
    }
  }
  if (flags != 0)
    raise_flag(status, flags);
}

} // namespace sqformat::gpu::datapath::detail

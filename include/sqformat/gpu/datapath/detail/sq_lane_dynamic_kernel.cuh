// sqformat/gpu/datapath/detail/sq_lane_dynamic_kernel.cuh: the dynamic top-H quantizer's lane
// kernel (see sq_lane_policy.hpp and sq_lane_bank.cuh): a thread quantizes bank g of the flat
// M×K activations (bf16 or fp16).
//
//   X bank -> registers: 16-byte loads (Stages = 1) or through the thread's cp.async slots
//           (Stages > 1, sq_lane_staging.cuh)
//   keys    key = |x| bits << log2(b) | (b-1-index): distinct, larger key = wins, equal |x| ->
//           lower index, -0 == +0 (the sign is cleared) -- the reference's tie-break
//   select  T = the H-th largest key (sq_lane_select.cuh); the keys are rebuilt from the raw
//           words (cheaper than keeping a copy in registers) and key >= T gives the select words
//   write_bank as for the weight packer
#pragma once

#include <cstdint>

#include "sqformat/gpu/datapath/detail/quantize.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_bank.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_select.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_staging.cuh"
#include "sqformat/gpu/datapath/sq_tensor_ref.hpp"

namespace sqformat::gpu::datapath::detail {

namespace lane {
__host__ __device__ constexpr int log2_of(int v) { return v <= 1 ? 0 : 1 + log2_of(v / 2); }

template <class T, int B>
__device__ __forceinline__ std::uint32_t selection_key(const RawBank<T, B>& r, int e) {
  return (element_magnitude(r, e) << log2_of(B)) | static_cast<std::uint32_t>(B - 1 - e);
}
} // namespace lane

/// 16-byte chunks of one bank of X (see sq_lane_pack_chunks).
template <class C, class T> constexpr int sq_lane_dynamic_chunks = C::bank * sizeof(T) / 16;

template <class C, class P, class T>
__global__ void __launch_bounds__(P::threads, P::min_blocks_per_sm)
    sq_lane_dynamic_kernel(const T* __restrict__ x, std::int64_t banks, SqTensorRef out,
                           unsigned* status) {
  static_assert(sizeof(T) == 2, "sq_lane_dynamic_kernel: 16-bit inputs (the key holds 15 bits "
                                "of |x|)");
  constexpr int B = C::bank, S = P::stages, chunks = B * 2 / 16;
  __shared__ __align__(16) std::uint8_t codes[P::threads * B];
  std::uint8_t* lane_codes = codes + threadIdx.x * B;
  const int swizzle = lane::lane_swizzle<B>(threadIdx.x % 32);
  unsigned flags = 0;

  auto quantize = [&](std::int64_t g, const lane::RawBank<T, B>& r) {
    const std::uint32_t threshold = lane::top_h_threshold<B, C::high_per_bank>(
        [&](int e) { return lane::selection_key(r, e); });
    std::uint32_t sel[B / 4];
#pragma unroll
    for (int j = 0; j < B / 4; ++j) {
      std::uint32_t s[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) // all ones when key >= threshold (keys < 2^22, threshold >= 1)
        s[i] = static_cast<std::uint32_t>(
            static_cast<std::int32_t>(threshold - 1u - lane::selection_key(r, 4 * j + i)) >> 31);
      sel[j] =
          __byte_perm(__byte_perm(s[0], s[1], 0x0040), __byte_perm(s[2], s[3], 0x0040), 0x5410);
    }
    flags |= lane::write_bank<C, false>(x + g * B, r, sel, g, out, lane_codes, swizzle);
  };

  std::int64_t g = static_cast<std::int64_t>(blockIdx.x) * P::threads + threadIdx.x;
  if constexpr (S == 1) {
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

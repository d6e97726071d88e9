// sqformat/gpu/gemm/detail/widen_low_sum_kernel.cuh: the prepass of the prepacked-weight path.
// Like widen_low_bits_kernel it widens the packed X_low block into an M x k_low INT8 matrix, and
// it also writes the exact per-token activation sums the offset-binary weights need:
//
//   Σ_k q·x = Σ_k u·x − 8·Σ_k x     (u = q + 8, the prepacked weight nibble)
//
// sums[m * segments + s] = Σ x over segment s of token m (int32, exact: |Σ| < 128·K < 2^28):
//   per-channel weight scales (grouped = 0): segments = 2, the high range [0, Kh) then the low
//   range [Kh, K);  per-group-128 scales (grouped = 1): segments = K/128, one per group of 128
//   permuted columns (Kh and K are multiples of 128 then).
// One block of 256 threads per token row; integer sums, so the reduction order does not matter.
#pragma once

#include <cstdint>

#include "widen_low_bits.cuh"

namespace sqformat::gpu::detail {

/// Sum of the four signed bytes of `v`.
__device__ __forceinline__ int sum_s8x4(std::uint32_t v) {
  return __dp4a(static_cast<int>(v), 0x01010101, 0);
}

template <int Bits>
__global__ void __launch_bounds__(256)
    widen_low_and_sum_kernel(const std::uint8_t* __restrict__ packed, std::int8_t* __restrict__ out,
                             const std::int8_t* __restrict__ x_high,
                             std::int32_t* __restrict__ sums, int rows, int k_high, int k_low,
                             int grouped, unsigned int* zero = nullptr, int zero_count = 0) {
  zero_words_in_first_block(zero, zero_count); // the GEMM's split-tail counters
  __shared__ int partial[2][8];
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int segments = grouped ? (k_high + k_low) / 128 : 2;
  const int high_chunks = k_high / 16; // 16 bytes each; 8 per group of 128
  const int low_groups = k_low / 32;   // 32 codes each; 4 per group of 128
  const std::size_t in_stride = static_cast<std::size_t>(k_low) * Bits / 8;
  for (int row = blockIdx.x; row < rows; row += gridDim.x) {
    std::int32_t* row_sums = sums + static_cast<std::size_t>(row) * segments;
    int sum_high = 0, sum_low = 0;
    const std::int8_t* xh = x_high + static_cast<std::size_t>(row) * k_high;
    // The loop bounds are uniform over the block so every lane takes part in the shuffles.
    for (int base = 0; base < high_chunks; base += blockDim.x) {
      const int i = base + tid;
      int s = 0;
      if (i < high_chunks) {
        const uint4 v = __ldg(reinterpret_cast<const uint4*>(xh) + i);
        s = sum_s8x4(v.x) + sum_s8x4(v.y) + sum_s8x4(v.z) + sum_s8x4(v.w);
      }
      if (grouped) { // lanes 8j..8j+7 hold one group of 128 columns
        s += __shfl_xor_sync(0xFFFFFFFFu, s, 1);
        s += __shfl_xor_sync(0xFFFFFFFFu, s, 2);
        s += __shfl_xor_sync(0xFFFFFFFFu, s, 4);
        if (i < high_chunks && (lane & 7) == 0)
          row_sums[i / 8] = s;
      } else {
        sum_high += s;
      }
    }
    const auto* src = packed + static_cast<std::size_t>(row) * in_stride;
    for (int base = 0; base < low_groups; base += blockDim.x) {
      const int i = base + tid;
      int s = 0;
      if (i < low_groups) {
        const auto* words_in = reinterpret_cast<const std::uint32_t*>(src + 4 * Bits * i);
        std::uint32_t words[Bits];
#pragma unroll
        for (int w = 0; w < Bits; ++w)
          words[w] = __ldg(words_in + w);
        std::uint32_t wide[8];
        widen_codes32<Bits>(words, wide);
        auto* dst = reinterpret_cast<uint4*>(out + static_cast<std::size_t>(row) * k_low + 32 * i);
        dst[0] = make_uint4(wide[0], wide[1], wide[2], wide[3]);
        dst[1] = make_uint4(wide[4], wide[5], wide[6], wide[7]);
#pragma unroll
        for (int w = 0; w < 8; ++w)
          s += sum_s8x4(wide[w]);
      }
      if (grouped) { // lanes 4j..4j+3 hold one group of 128 columns
        s += __shfl_xor_sync(0xFFFFFFFFu, s, 1);
        s += __shfl_xor_sync(0xFFFFFFFFu, s, 2);
        if (i < low_groups && (lane & 3) == 0)
          row_sums[k_high / 128 + i / 4] = s;
      } else {
        sum_low += s;
      }
    }
    if (!grouped) {
#pragma unroll
      for (int d = 16; d >= 1; d /= 2) {
        sum_high += __shfl_xor_sync(0xFFFFFFFFu, sum_high, d);
        sum_low += __shfl_xor_sync(0xFFFFFFFFu, sum_low, d);
      }
      if (lane == 0) {
        partial[0][warp] = sum_high;
        partial[1][warp] = sum_low;
      }
      __syncthreads();
      if (tid == 0) {
        int h = 0, l = 0;
        for (int w = 0; w < static_cast<int>(blockDim.x) / 32; ++w) {
          h += partial[0][w];
          l += partial[1][w];
        }
        row_sums[0] = h;
        row_sums[1] = l;
      }
      __syncthreads(); // partial[] is reused by the next row
    }
  }
}

} // namespace sqformat::gpu::detail

// sqformat/gpu/gemm/detail/widen_low_kernel.cuh: the prepass that widens the packed X_low block
// (M x k_low codes of `Bits` bits, docs/layouts.md) into an M x k_low INT8 matrix, once, so that
// a compute-bound GEMM reads both activation blocks as INT8.
//
// One thread per 32 codes of a row: reads their 4*Bits bytes (4-byte aligned because k_low is a
// multiple of 32), writes 32 bytes. Block 0 also zeroes `zero_count` words at `zero` (the
// GEMM's split-tail counters).
#pragma once

#include <cstdint>

#include "widen_low_bits.cuh"

namespace sqformat::gpu::detail {

template <int Bits>
__global__ void widen_low_bits_kernel(const std::uint8_t* __restrict__ packed,
                                      std::int8_t* __restrict__ out, int rows, int k_low,
                                      unsigned int* zero = nullptr, int zero_count = 0) {
  zero_words_in_first_block(zero, zero_count);
  const int groups_per_row = k_low / 32;
  const long long total = static_cast<long long>(rows) * groups_per_row;
  const std::size_t in_stride = static_cast<std::size_t>(k_low) * Bits / 8;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long row = i / groups_per_row;
    const int group = static_cast<int>(i % groups_per_row);
    const auto* src = reinterpret_cast<const std::uint32_t*>(
        packed + row * in_stride + static_cast<std::size_t>(group) * 4 * Bits);
    std::uint32_t words[Bits];
#pragma unroll
    for (int w = 0; w < Bits; ++w)
      words[w] = __ldg(src + w);
    std::uint32_t wide[8];
    widen_codes32<Bits>(words, wide);
    auto* dst = reinterpret_cast<uint4*>(out + row * k_low + group * 32);
    dst[0] = make_uint4(wide[0], wide[1], wide[2], wide[3]);
    dst[1] = make_uint4(wide[4], wide[5], wide[6], wide[7]);
  }
}

} // namespace sqformat::gpu::detail

// sqformat/gpu/ptq/kernel/gram_accumulate_kernel.cuh: adds one batch's float32 Gram matrix
// (lower triangle, column-major, as cublasSsyrk/GemmEx wrote it) into the float64 running sum.
//
// Why two precisions: within a batch of <= a few thousand tokens the float32 GEMM accumulation
// error stays ~1e-6 relative; summing the batches in float64 keeps that error from growing with
// the number of batches (64 x 2048 tokens would otherwise lose another ~6 bits).
#pragma once

#include <cstddef>

namespace sqformat::gpu::ptq::detail {

/// gram[i + j*k] += batch[i + j*k] for i >= j. Grid-stride over the k*k entries.
template <int = 0> // a template: a plain kernel in a header is defined in every TU
__global__ void gram_accumulate_kernel(const float* __restrict__ batch, double* __restrict__ gram,
                                       std::size_t k) {
  const std::size_t total = k * k;
  for (std::size_t idx = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; idx < total;
       idx += std::size_t(gridDim.x) * blockDim.x) {
    const std::size_t i = idx % k;
    const std::size_t j = idx / k;
    if (i >= j) {
      gram[idx] += static_cast<double>(batch[idx]);
    }
  }
}

} // namespace sqformat::gpu::ptq::detail

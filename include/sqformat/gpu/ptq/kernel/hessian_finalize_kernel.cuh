// sqformat/gpu/ptq/kernel/hessian_finalize_kernel.cuh: H = 2/n * Gram, both triangles filled
// from the accumulated lower triangle (column-major; H is symmetric, so row-major readers see
// the same matrix).
#pragma once

#include <cstddef>

namespace sqformat::gpu::ptq::detail {

template <int = 0> // a template: a plain kernel in a header is defined in every TU
__global__ void hessian_finalize_kernel(const double* __restrict__ gram, double* __restrict__ h,
                                        std::size_t k, double factor) {
  const std::size_t total = k * k;
  for (std::size_t idx = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; idx < total;
       idx += std::size_t(gridDim.x) * blockDim.x) {
    const std::size_t i = idx % k;
    const std::size_t j = idx / k;
    const std::size_t lower = i >= j ? idx : j + i * k;
    h[idx] = factor * gram[lower];
  }
}

} // namespace sqformat::gpu::ptq::detail

// sqformat/gpu/ptq/kernel/non_finite_check_kernel.cuh: sets *flag to 1 if any of n float32
// values is NaN or +-Inf (a bit test: exponent all ones). *flag must be 0 before the launch.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sqformat::gpu::ptq::detail {

template <int = 0> // a template: a plain kernel in a header is defined in every TU
__global__ void non_finite_check_kernel(const float* __restrict__ x, std::size_t n,
                                        int* __restrict__ flag) {
  bool bad = false;
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const std::uint32_t bits = __float_as_uint(x[i]);
    bad |= (bits & 0x7f800000u) == 0x7f800000u;
  }
  if (__syncthreads_or(bad) && threadIdx.x == 0) {
    *flag = 1;
  }
}

} // namespace sqformat::gpu::ptq::detail

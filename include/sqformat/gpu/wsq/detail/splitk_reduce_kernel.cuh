// sqformat/gpu/wsq/detail/splitk_reduce_kernel.cuh: the second pass of the split-K decode kernels.
// partial holds `slices` float32 M x N planes; each output is their sum taken in slice order (so
// the result never depends on scheduling), rounded once to T.
#pragma once

#include <cstddef>

#include "codes.cuh"

namespace sqformat::gpu::wsq_detail {

/// Y = sum over slices of partial, in slice order, converted to T. One thread per output.
template <class T>
__global__ void __launch_bounds__(256)
    wsq_splitk_reduce_kernel(const float* __restrict__ partial, T* __restrict__ y,
                             std::size_t outputs, int slices) {
  const std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x;
  if (i >= outputs)
    return;
  float v = partial[i];
  for (int s = 1; s < slices; ++s)
    v = __fadd_rn(v, partial[std::size_t(s) * outputs + i]);
  y[i] = Half16<T>::from_float(v);
}

} // namespace sqformat::gpu::wsq_detail

// sqformat/gpu/ptq/kernel/inverse_factor_kernels.cuh: the element-wise steps around cuSOLVER in
// the inverse-Hessian factorization: dampening the diagonal, and turning the Cholesky factor of
// H^{-1} into the float32 row-major U that GPTQ reads plus the saliency denominators.
#pragma once

#include <cstddef>

namespace sqformat::gpu::ptq::detail {

/// a = h (k x k) with diag(a) = fixed_diag + lambda (fixed_diag: dead channels set to 1).
template <int = 0> // a template: a plain kernel in a header is defined in every TU
__global__ void damped_copy_kernel(const double* __restrict__ h,
                                   const double* __restrict__ fixed_diag, double* __restrict__ a,
                                   std::size_t k, double lambda) {
  const std::size_t total = k * k;
  for (std::size_t idx = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; idx < total;
       idx += std::size_t(gridDim.x) * blockDim.x) {
    const std::size_t i = idx % k;
    const std::size_t j = idx / k;
    a[idx] = i == j ? fixed_diag[i] + lambda : h[idx];
  }
}

/// `l` holds, column-major, the lower Cholesky factor L of H^{-1} (H^{-1} = L L^T). Read
/// row-major, that storage is U = L^T, the upper factor GPTQ needs; entries below U's diagonal
/// are stale cuSOLVER workspace and are zeroed here. Writes u (float32, row-major) and
/// denom[k] = U_kk^2 (cholesky saliency) or inv_diag[k]^2 (the paper's saliency).
template <int = 0> // a template: a plain kernel in a header is defined in every TU
__global__ void upper_factor_kernel(const double* __restrict__ l,
                                    const double* __restrict__ inv_diag, float* __restrict__ u,
                                    double* __restrict__ denom, std::size_t k,
                                    bool cholesky_saliency) {
  const std::size_t total = k * k;
  for (std::size_t idx = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; idx < total;
       idx += std::size_t(gridDim.x) * blockDim.x) {
    const std::size_t row = idx / k; // row-major view
    const std::size_t col = idx % k;
    const double v = col >= row ? l[idx] : 0.0;
    u[idx] = static_cast<float>(v);
    if (row == col) {
      const double d = cholesky_saliency ? v : inv_diag[row];
      denom[row] = d * d;
    }
  }
}

/// inv_diag[i] = a[i + i*k] (the diagonal of H^{-1} after potri, before it is overwritten).
template <int = 0> // a template: a plain kernel in a header is defined in every TU
__global__ void copy_diagonal_kernel(const double* __restrict__ a, double* __restrict__ diag,
                                     std::size_t k) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < k;
       i += std::size_t(gridDim.x) * blockDim.x) {
    diag[i] = a[i + i * k];
  }
}

} // namespace sqformat::gpu::ptq::detail

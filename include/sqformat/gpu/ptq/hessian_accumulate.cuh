// sqformat/gpu/ptq/hessian_accumulate.cuh: calibration Hessian H = 2 X^T X / n on the GPU,
// streamed over token batches (the device counterpart of sqformat/ptq/calibration_stats.hpp).
//
//   double* gram (k*k, zeroed by the caller); float* scratch (k*k) + int* flag
//   for each batch: accumulate_gram(...)         X^T X of the batch added to gram
//   finalize_hessian(gram, k, tokens, h)          H = 2/n * gram, symmetric, float64
//
// Precision (Decision): each batch's X^T X is computed by cublasSsyrk in float32 (FP32 FMA, no
// TF32; the handle must keep its default math mode), then added to a float64 running sum. Inside
// one batch of <= a few thousand tokens the float32 sum is accurate to ~1e-6 relative (cuBLAS
// accumulates in tiles, the error grows ~sqrt(tokens)); the float64 sum across batches keeps
// that error from growing with the batch count. A float64 DSYRK would cost the same FLOPs at
// the same H100 rate (67 TFLOP/s FP64 tensor vs 67 FP32) but needs X converted to float64
// (twice the memory traffic) for accuracy the quantizer cannot use.
#pragma once

#include <sqformat/gpu/ptq/kernel/gram_accumulate_kernel.cuh>
#include <sqformat/gpu/ptq/kernel/hessian_finalize_kernel.cuh>
#include <sqformat/gpu/ptq/kernel/non_finite_check_kernel.cuh>
#include <sqformat/status.hpp>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstddef>

namespace sqformat::gpu::ptq {

namespace detail {
inline unsigned elementwise_grid(std::size_t total) {
  const std::size_t blocks = (total + 255) / 256;
  return static_cast<unsigned>(blocks < 65535 ? (blocks == 0 ? 1 : blocks) : 65535);
}
} // namespace detail

/// Adds X^T X of one batch to `gram`. x: tokens x k row-major float32 on the device. scratch:
/// k*k floats; flag: one device int. Returns non_finite_input (gram unchanged) if X holds a NaN
/// or Inf; synchronizes `stream` once to read that flag.
inline Status accumulate_gram(cublasHandle_t handle, const float* x, std::size_t tokens,
                              std::size_t k, float* scratch, int* flag, double* gram,
                              cudaStream_t stream) {
  if (x == nullptr || scratch == nullptr || flag == nullptr || gram == nullptr || k == 0) {
    return Status::invalid_argument;
  }
  if (tokens == 0) {
    return Status::success;
  }
  if (k > INT_MAX || tokens > INT_MAX) {
    return Status::invalid_shape;
  }
  if (cudaMemsetAsync(flag, 0, sizeof(int), stream) != cudaSuccess) {
    return Status::cuda_error;
  }
  detail::non_finite_check_kernel<>
      <<<detail::elementwise_grid(tokens * k), 256, 0, stream>>>(x, tokens * k, flag);
  int bad = 0;
  if (cudaMemcpyAsync(&bad, flag, sizeof(int), cudaMemcpyDeviceToHost, stream) != cudaSuccess ||
      cudaStreamSynchronize(stream) != cudaSuccess) {
    return Status::cuda_error;
  }
  if (bad) {
    return Status::non_finite_input;
  }
  // Row-major X (tokens x k) is column-major X^T (k x tokens, ld k): X^T X = A A^T.
  const float one = 1.0f, zero = 0.0f;
  if (cublasSetStream(handle, stream) != CUBLAS_STATUS_SUCCESS ||
      cublasSsyrk(handle, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, static_cast<int>(k),
                  static_cast<int>(tokens), &one, x, static_cast<int>(k), &zero, scratch,
                  static_cast<int>(k)) != CUBLAS_STATUS_SUCCESS) {
    return Status::cuda_error;
  }
  detail::gram_accumulate_kernel<>
      <<<detail::elementwise_grid(k * k), 256, 0, stream>>>(scratch, gram, k);
  return cudaGetLastError() == cudaSuccess ? Status::success : Status::cuda_error;
}

/// h = 2/tokens * gram with both triangles filled (k x k float64).
inline Status finalize_hessian(const double* gram, std::size_t k, std::size_t tokens, double* h,
                               cudaStream_t stream) {
  if (gram == nullptr || h == nullptr || k == 0 || tokens == 0) {
    return Status::invalid_argument;
  }
  detail::hessian_finalize_kernel<><<<detail::elementwise_grid(k * k), 256, 0, stream>>>(
      gram, h, k, 2.0 / static_cast<double>(tokens));
  return cudaGetLastError() == cudaSuccess ? Status::success : Status::cuda_error;
}

} // namespace sqformat::gpu::ptq

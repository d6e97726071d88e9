// sqformat/gpu/ptq/gptq_sq.cuh: GPTQ-compensated SQ weights on the GPU (Algorithm 1 with the
// lazy-batch GPTQ), the device counterpart of sqformat/ptq/sq_weights.hpp, same decisions.
//
// For each block of 128 columns:
//   gptq_sq_block_kernel    every row's block: bank masks, scales, rounding, in-block updates,
//                           and the block's scaled errors E (n x 128)
//   cublasSgemm             W[:, i2:] -= E * U[i1:i2, i2:]   (the lazy batch update)
// On return w holds the dequantized weights; codes/mask/scales are what the host packs with
// sqformat::ptq::assemble_sq_tensor<C> into the reference SqTensor.
//
// Requirements: C::bank <= 128 (else invalid_argument); k % C::bank == 0; n, k < 2^31; the cuBLAS
// handle keeps its default math mode (no TF32). The handle's stream is set to `stream`.
#pragma once

#include <sqformat/gpu/ptq/inverse_hessian_factor.cuh>
#include <sqformat/gpu/ptq/kernel/gptq_sq_block_kernel.cuh>
#include <sqformat/ptq/inverse_hessian.hpp>
#include <sqformat/status.hpp>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <climits>
#include <cstddef>
#include <cstdint>

namespace sqformat::gpu::ptq {

/// Where the GPTQ-SQ results go (device memory): codes and mask n x k (row-major), scales
/// n x (k / C::bank).
struct SqGptqOutput {
  std::int8_t* codes = nullptr;
  std::uint8_t* mask = nullptr;
  float* scale_low = nullptr;
  float* scale_high = nullptr;
};

struct SqGptqOptions {
  sqformat::ptq::DampingOptions damping;
  bool cholesky_saliency = false; ///< false: the paper's w^2/([H^-1]_kk)^2
};

namespace detail {
constexpr int gptq_block = 128;
constexpr int gptq_warps = 16;
} // namespace detail

/// Bytes of the workspace the GPTQ loop itself needs (the block errors).
inline std::size_t gptq_loop_workspace_bytes(std::size_t n) {
  return n * detail::gptq_block * sizeof(float);
}

/// The GPTQ-SQ loop, given the factor (u, denom from factor_inverse_hessian). w (n x k float32,
/// device) is updated in place and ends as the dequantized weights.
template <class C>
Status gptq_sq_loop(cublasHandle_t blas, float* w, std::size_t n, std::size_t k, const float* u,
                    const double* denom, const SqGptqOutput& out, void* workspace,
                    std::size_t workspace_bytes, cudaStream_t stream) {
  if constexpr (C::bank > detail::gptq_block) {
    return Status::invalid_argument;
  } else {
    constexpr int kB = detail::gptq_block;
    constexpr int kW = detail::gptq_warps;
    if (w == nullptr || u == nullptr || denom == nullptr || out.codes == nullptr ||
        out.mask == nullptr || out.scale_low == nullptr || out.scale_high == nullptr ||
        workspace == nullptr) {
      return Status::invalid_argument;
    }
    if (n == 0 || k == 0 || n > INT_MAX || k > INT_MAX) {
      return Status::invalid_shape;
    }
    if (k % C::bank != 0) {
      return Status::k_not_multiple_of_bank;
    }
    if (workspace_bytes < gptq_loop_workspace_bytes(n)) {
      return Status::insufficient_workspace;
    }
    int device = 0, sms = 0, smem_optin = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) !=
            cudaSuccess) {
      return Status::cuda_error;
    }
    constexpr std::size_t smem = detail::gptq_sq_block_smem_bytes<kB, kW>();
    if (static_cast<std::size_t>(smem_optin) < smem) {
      return Status::unsupported_architecture;
    }
    auto kernel = detail::gptq_sq_block_kernel<C, kB, kW>;
    if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(smem)) != cudaSuccess ||
        cublasSetStream(blas, stream) != CUBLAS_STATUS_SUCCESS) {
      return Status::cuda_error;
    }
    // Each CTA loads the block's U square once and loops over rows: cap the grid near the
    // number of CTAs the device holds at once.
    const std::size_t row_ctas = (n + kW - 1) / kW;
    const std::size_t cap = static_cast<std::size_t>(sms) * 2;
    const unsigned grid = static_cast<unsigned>(row_ctas < cap ? row_ctas : cap);
    float* err = static_cast<float*>(workspace);
    const float minus_one = -1.0f, one = 1.0f;
    for (std::size_t i1 = 0; i1 < k; i1 += kB) {
      const std::size_t i2 = i1 + kB < k ? i1 + kB : k;
      const int width = static_cast<int>(i2 - i1);
      kernel<<<grid, kW * 32, smem, stream>>>(w, u, denom, n, k, i1, width, err, out.codes,
                                              out.mask, out.scale_low, out.scale_high);
      if (cudaGetLastError() != cudaSuccess) {
        return Status::cuda_error;
      }
      if (i2 == k) {
        break;
      }
      // Row-major W[:, i2:] -= E * U[i1:i2, i2:] is, column-major, W^T[i2:, :] -= U^T E^T.
      if (cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(k - i2), static_cast<int>(n),
                      width, &minus_one, u + i1 * k + i2, static_cast<int>(k), err, kB, &one,
                      w + i2, static_cast<int>(k)) != CUBLAS_STATUS_SUCCESS) {
        return Status::cuda_error;
      }
    }
    return Status::success;
  }
}

/// Workspace of quantize_weights_sq_gptq: the factorization's, U, the denominators, the loop's.
inline Status sq_gptq_workspace_bytes(cusolverDnHandle_t solver, std::size_t n, std::size_t k,
                                      std::size_t* bytes) {
  std::size_t f = 0;
  const Status s = inverse_factor_workspace_bytes(solver, k, &f);
  if (s != Status::success) {
    return s;
  }
  *bytes = detail::align_up(f) + detail::align_up(k * k * sizeof(float)) +
           detail::align_up(k * sizeof(double)) + detail::align_up(gptq_loop_workspace_bytes(n));
  return Status::success;
}

/// Hessian to SQ weights: factor_inverse_hessian then gptq_sq_loop. h: k x k float64 (device).
template <class C>
Status quantize_weights_sq_gptq(cublasHandle_t blas, cusolverDnHandle_t solver, float* w,
                                std::size_t n, std::size_t k, const double* h,
                                const SqGptqOptions& opt, const SqGptqOutput& out, void* workspace,
                                std::size_t workspace_bytes, InverseFactorReport* report,
                                cudaStream_t stream) {
  std::size_t need = 0;
  Status s = sq_gptq_workspace_bytes(solver, n, k, &need);
  if (s != Status::success) {
    return s;
  }
  if (workspace == nullptr || workspace_bytes < need) {
    return Status::insufficient_workspace;
  }
  std::size_t f = 0;
  (void)inverse_factor_workspace_bytes(solver, k, &f);
  char* p = static_cast<char*>(workspace);
  void* factor_ws = p;
  p += detail::align_up(f);
  float* u = reinterpret_cast<float*>(p);
  p += detail::align_up(k * k * sizeof(float));
  double* denom = reinterpret_cast<double*>(p);
  p += detail::align_up(k * sizeof(double));
  s = factor_inverse_hessian(solver, h, k, opt.damping, opt.cholesky_saliency, factor_ws, f, u,
                             denom, report, stream);
  if (s != Status::success) {
    return s;
  }
  return gptq_sq_loop<C>(blas, w, n, k, u, denom, out, p, gptq_loop_workspace_bytes(n), stream);
}

} // namespace sqformat::gpu::ptq

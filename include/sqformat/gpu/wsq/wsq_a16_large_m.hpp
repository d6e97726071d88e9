// sqformat/gpu/wsq/wsq_a16_large_m.hpp: W(SQ)A16 for any M (prefill): W is dequantized to a dense
// 16-bit copy in the caller's workspace, then cuBLAS multiplies (cublasGemmEx, float32 compute).
// Needs cuBLAS (link CUDA::cublas); the caller owns the handle, whose stream is set to `stream`.
//
// Numerics: each weight is q * scale rounded once to T (relative error <= 2^-9 for bf16, 2^-12 for
// fp16), then a float32-accumulated GEMM. Faster kernels for M <= 64: WsqA16Decode.
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <type_traits>

#include "../../status.hpp"
#include "wsq_dequantize.hpp"

namespace sqformat::gpu {

template <class C, class T> class WsqA16LargeM {
public:
  struct Arguments {
    WsqWeightsView<C> w;
    const T* x = nullptr; ///< M x K row-major
    T* y = nullptr;       ///< M x N row-major
    int m = 0;
    cublasHandle_t handle = nullptr;
  };

  /// Whether run() accepts `a`; on failure `*reason` (if given) says which rule failed. run()
  /// itself adds the workspace checks (insufficient_workspace).
  static Status can_implement(const Arguments& a, const char** reason = nullptr) {
    using wsq_detail::fail;
    if (a.m < 1)
      return fail(reason, Status::invalid_shape, "M must be at least 1");
    if (const Status s = wsq_detail::check_weights(a.w, reason); s != Status::success)
      return s;
    if (a.x == nullptr || a.y == nullptr || a.handle == nullptr)
      return fail(reason, Status::invalid_argument, "x, y or the cuBLAS handle is null");
    if (!wsq_detail::aligned16(a.x) || !wsq_detail::aligned16(a.y))
      return fail(reason, Status::misaligned_pointer, "x and y must be 16-byte aligned");
    return wsq_detail::check_arch(wsq_detail::dequantize_kernel<C, T>(), reason);
  }

  /// The dense copy of W, rounded up to 256 bytes.
  static std::size_t workspace_size(const Arguments& a) {
    return (wsq_dense_bytes<C, T>(a.w) + 255) / 256 * 256;
  }

  static Status run(const Arguments& a, void* workspace, std::size_t workspace_bytes,
                    cudaStream_t stream) {
    if (const Status s = can_implement(a); s != Status::success)
      return s;
    if (workspace == nullptr || workspace_bytes < workspace_size(a))
      return Status::insufficient_workspace;
    T* dense = static_cast<T*>(workspace);
    if (const Status s = wsq_dequantize(a.w, dense, stream); s != Status::success)
      return s;
    if (cublasSetStream(a.handle, stream) != CUBLAS_STATUS_SUCCESS)
      return Status::cuda_error;
    // Row-major Y (M x N) = X (M x K) · Wᵀ is column-major Yᵀ (N x M) = W(K x N)ᵀ · Xᵀ (K x M).
    const float alpha = 1.0f, beta = 0.0f;
    constexpr cudaDataType_t type = std::is_same_v<T, __nv_bfloat16> ? CUDA_R_16BF : CUDA_R_16F;
    const cublasStatus_t st = cublasGemmEx(a.handle, CUBLAS_OP_T, CUBLAS_OP_N, a.w.n, a.m, a.w.k,
                                           &alpha, dense, type, a.w.k, a.x, type, a.w.k, &beta, a.y,
                                           type, a.w.n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    return st == CUBLAS_STATUS_SUCCESS ? Status::success : Status::cuda_error;
  }
};

} // namespace sqformat::gpu

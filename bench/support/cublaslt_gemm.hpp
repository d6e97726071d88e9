// bench/support/cublaslt_gemm.hpp: the vendor baselines every GEMM benchmark compares against,
// all computing Y (M x N, row-major) = X (M x K, row-major) · W (N x K, row-major)ᵀ, i.e. the
// "TN" layout the integer and FP8 tensor-core paths require (column-major Yᵀ = Wᵀ·X).
//
// The algorithm is chosen by timing: up to `max_algorithms` candidates of the cuBLASLt heuristic
// are each run a few times and the fastest (median) is kept.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cuda_timer.hpp"

namespace sqformat::bench {

enum class BaselineKind {
  int8_s32, ///< s8 · s8 -> s32 (CUBLAS_COMPUTE_32I)
  fp8_bf16, ///< e4m3 · e4m3 -> bf16 (fp32 accumulate)
  bf16_bf16 ///< bf16 · bf16 -> bf16 (fp32 accumulate)
};

inline std::size_t baseline_element_bytes(BaselineKind k) {
  return k == BaselineKind::bf16_bf16 ? 2 : 1;
}
inline std::size_t baseline_output_bytes(BaselineKind k) {
  return k == BaselineKind::int8_s32 ? 4 : 2;
}

class CublasLtGemm {
public:
  /// Sets up the descriptors; ok() is false if cuBLASLt offers no algorithm for the shape.
  CublasLtGemm(BaselineKind kind, int m, int n, int k, std::size_t workspace_bytes = 64u << 20)
      : kind_(kind), workspace_bytes_(workspace_bytes) {
    cublasLtCreate(&handle_);
    cudaMalloc(&workspace_, workspace_bytes_);
    const bool integer = kind == BaselineKind::int8_s32;
    const cudaDataType_t ab = kind == BaselineKind::int8_s32   ? CUDA_R_8I
                              : kind == BaselineKind::fp8_bf16 ? CUDA_R_8F_E4M3
                                                               : CUDA_R_16BF;
    const cudaDataType_t cd = integer ? CUDA_R_32I : CUDA_R_16BF;
    cublasLtMatmulDescCreate(&op_, integer ? CUBLAS_COMPUTE_32I : CUBLAS_COMPUTE_32F,
                             integer ? CUDA_R_32I : CUDA_R_32F);
    const cublasOperation_t t = CUBLAS_OP_T, nn = CUBLAS_OP_N;
    cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t));
    cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSB, &nn, sizeof(nn));
    // Column-major view: A = W (K x N, ld K, transposed), B = X (K x M, ld K), D = Yᵀ (N x M).
    cublasLtMatrixLayoutCreate(&a_, ab, k, n, k);
    cublasLtMatrixLayoutCreate(&b_, ab, k, m, k);
    cublasLtMatrixLayoutCreate(&d_, cd, n, m, n);
    cublasLtMatmulPreferenceCreate(&pref_);
    cublasLtMatmulPreferenceSetAttribute(pref_, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                         &workspace_bytes_, sizeof(workspace_bytes_));
    candidates_.resize(max_algorithms);
    int found = 0;
    if (cublasLtMatmulAlgoGetHeuristic(handle_, op_, a_, b_, d_, d_, pref_, max_algorithms,
                                       candidates_.data(), &found) != CUBLAS_STATUS_SUCCESS)
      found = 0;
    candidates_.resize(found);
  }
  CublasLtGemm(const CublasLtGemm&) = delete;
  CublasLtGemm& operator=(const CublasLtGemm&) = delete;
  ~CublasLtGemm() {
    cublasLtMatmulPreferenceDestroy(pref_);
    cublasLtMatrixLayoutDestroy(a_);
    cublasLtMatrixLayoutDestroy(b_);
    cublasLtMatrixLayoutDestroy(d_);
    cublasLtMatmulDescDestroy(op_);
    cudaFree(workspace_);
    cublasLtDestroy(handle_);
  }

  bool ok() const { return !candidates_.empty(); }
  int candidates() const { return static_cast<int>(candidates_.size()); }

  /// Times every candidate (median of `runs`) and keeps the fastest; returns false if none ran.
  bool select_fastest(const void* x, const void* w, void* y, int runs = 5) {
    CudaEventTimer timer;
    double best_time = 1e30;
    for (std::size_t i = 0; i < candidates_.size(); ++i) {
      if (launch(x, w, y, &candidates_[i].algo) != CUBLAS_STATUS_SUCCESS)
        continue;
      if (cudaDeviceSynchronize() != cudaSuccess)
        return false;
      std::vector<double> t;
      for (int r = 0; r < runs; ++r) {
        timer.start();
        launch(x, w, y, &candidates_[i].algo);
        t.push_back(timer.stop());
      }
      const double m = median(t);
      if (m < best_time) {
        best_time = m;
        best_ = static_cast<int>(i);
      }
    }
    return best_ >= 0;
  }

  cublasStatus_t run(const void* x, const void* w, void* y, cudaStream_t stream = nullptr) {
    return launch(x, w, y, best_ >= 0 ? &candidates_[best_].algo : nullptr, stream);
  }

  static constexpr int max_algorithms = 8;

private:
  cublasStatus_t launch(const void* x, const void* w, void* y, const cublasLtMatmulAlgo_t* algo,
                        cudaStream_t stream = nullptr) {
    const std::int32_t one_i = 1, zero_i = 0;
    const float one_f = 1.0f, zero_f = 0.0f;
    const bool integer = kind_ == BaselineKind::int8_s32;
    const void* alpha = integer ? static_cast<const void*>(&one_i) : &one_f;
    const void* beta = integer ? static_cast<const void*>(&zero_i) : &zero_f;
    return cublasLtMatmul(handle_, op_, alpha, w, a_, x, b_, beta, y, d_, y, d_, algo, workspace_,
                          workspace_bytes_, stream);
  }

  BaselineKind kind_;
  cublasLtHandle_t handle_{};
  cublasLtMatmulDesc_t op_{};
  cublasLtMatrixLayout_t a_{}, b_{}, d_{};
  cublasLtMatmulPreference_t pref_{};
  std::vector<cublasLtMatmulHeuristicResult_t> candidates_;
  int best_ = -1;
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_;
};

} // namespace sqformat::bench

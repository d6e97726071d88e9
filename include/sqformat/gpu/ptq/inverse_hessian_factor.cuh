// sqformat/gpu/ptq/inverse_hessian_factor.cuh: the dampened inverse-Hessian factor GPTQ needs,
// with cuSOLVER (the device counterpart of sqformat/ptq/inverse_hessian.hpp, same rules).
//
//   A = H + lambda I (dead channels: H_kk = 0 -> 1)     damped_copy_kernel
//   A = L L^T                                           cusolverDnDpotrf (lower)
//   A = H^{-1} (lower triangle)                         cusolverDnDpotri
//   H^{-1} = L2 L2^T                                    cusolverDnDpotrf (lower)
//   U = L2^T, row-major float32; saliency denominators  upper_factor_kernel
// All in float64: the factorizations are O(k^3) once per layer and cheap next to GPTQ's GEMMs,
// while float32 Cholesky of an ill-conditioned H would fail far more often.
// A factorization counts as failed when cuSOLVER reports a non-positive pivot or a pivot falls
// below 1e-12 of its diagonal entry (the host's rule); then lambda grows as on the host.
#pragma once

#include <sqformat/gpu/ptq/hessian_accumulate.cuh>
#include <sqformat/gpu/ptq/kernel/inverse_factor_kernels.cuh>
#include <sqformat/ptq/inverse_hessian.hpp>
#include <sqformat/status.hpp>

#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <climits>
#include <cmath>
#include <cstddef>
#include <vector>

namespace sqformat::gpu::ptq {

struct InverseFactorReport {
  double damping_percent = 0.0;
  double damping = 0.0;
  int attempts = 0;
  std::size_t dead_channels = 0;
};

namespace detail {
inline std::size_t align_up(std::size_t v) { return (v + 255) / 256 * 256; }

struct InverseFactorCarve {
  double* a;
  double* fixed_diag;
  double* inv_diag;
  int* info;
  double* solver;
  int lwork;
};

inline bool query_lwork(cusolverDnHandle_t solver, int n, double* a, int* lwork) {
  int l1 = 0, l2 = 0;
  if (cusolverDnDpotrf_bufferSize(solver, CUBLAS_FILL_MODE_LOWER, n, a, n, &l1) !=
          CUSOLVER_STATUS_SUCCESS ||
      cusolverDnDpotri_bufferSize(solver, CUBLAS_FILL_MODE_LOWER, n, a, n, &l2) !=
          CUSOLVER_STATUS_SUCCESS) {
    return false;
  }
  *lwork = l1 > l2 ? l1 : l2;
  return true;
}

/// Solver workspace (in doubles) of potrf and potri for k x k. The size depends only on k; the
/// query is tried without a matrix first and, should a cuSOLVER version insist on a pointer,
/// with a small placeholder allocation that is never read.
inline Status solver_lwork(cusolverDnHandle_t solver, std::size_t k, int* lwork) {
  const int n = static_cast<int>(k);
  if (query_lwork(solver, n, nullptr, lwork)) {
    return Status::success;
  }
  double* placeholder = nullptr;
  if (cudaMalloc(&placeholder, 256) != cudaSuccess) {
    return Status::cuda_error;
  }
  const bool ok = query_lwork(solver, n, placeholder, lwork);
  cudaFree(placeholder);
  return ok ? Status::success : Status::cuda_error;
}

inline std::size_t inverse_factor_bytes(std::size_t k, int lwork) {
  return align_up(k * k * sizeof(double)) + 2 * align_up(k * sizeof(double)) + align_up(256) +
         align_up(static_cast<std::size_t>(lwork) * sizeof(double));
}

inline InverseFactorCarve carve_inverse_factor(void* ws, std::size_t k, int lwork) {
  char* p = static_cast<char*>(ws);
  InverseFactorCarve c{};
  c.a = reinterpret_cast<double*>(p);
  p += align_up(k * k * sizeof(double));
  c.fixed_diag = reinterpret_cast<double*>(p);
  p += align_up(k * sizeof(double));
  c.inv_diag = reinterpret_cast<double*>(p);
  p += align_up(k * sizeof(double));
  c.info = reinterpret_cast<int*>(p);
  p += align_up(256);
  c.solver = reinterpret_cast<double*>(p);
  c.lwork = lwork;
  return c;
}

/// Copies the diagonal of a column-major k x k float64 matrix to the host (synchronizes).
inline bool diagonal_to_host(const double* a, std::size_t k, std::vector<double>& out,
                             cudaStream_t stream) {
  out.resize(k);
  return cudaMemcpy2DAsync(out.data(), sizeof(double), a, (k + 1) * sizeof(double), sizeof(double),
                           k, cudaMemcpyDeviceToHost, stream) == cudaSuccess &&
         cudaStreamSynchronize(stream) == cudaSuccess;
}

/// The host's pivot rule: L_ii^2 > 1e-12 a_ii, finite.
inline bool pivots_ok(const std::vector<double>& l_diag, const std::vector<double>& a_diag) {
  for (std::size_t i = 0; i < l_diag.size(); ++i) {
    const double s = l_diag[i] * l_diag[i];
    if (!std::isfinite(s) || !(s > 0.0) || !(s > 1e-12 * a_diag[i])) {
      return false;
    }
  }
  return true;
}

inline Status read_info(const int* info, int* host, cudaStream_t stream) {
  if (cudaMemcpyAsync(host, info, sizeof(int), cudaMemcpyDeviceToHost, stream) != cudaSuccess ||
      cudaStreamSynchronize(stream) != cudaSuccess) {
    return Status::cuda_error;
  }
  return Status::success;
}
} // namespace detail

/// Device workspace bytes of factor_inverse_hessian for k channels.
inline Status inverse_factor_workspace_bytes(cusolverDnHandle_t solver, std::size_t k,
                                             std::size_t* bytes) {
  if (k == 0 || k > INT_MAX || bytes == nullptr) {
    return Status::invalid_shape;
  }
  int lwork = 0;
  const Status s = detail::solver_lwork(solver, k, &lwork);
  if (s != Status::success) {
    return s;
  }
  *bytes = detail::inverse_factor_bytes(k, lwork);
  return Status::success;
}

/// Factors h (k x k float64, device, symmetric) into u (k x k float32, row-major upper,
/// H_damped^{-1} = U^T U) and denom (k float64: U_kk^2 if cholesky_saliency, else
/// ([H^{-1}]_kk)^2). Returns numerical_failure when every dampening attempt fails (as the
/// host path throws numerical_failure); report (optional) says which dampening worked.
inline Status factor_inverse_hessian(cusolverDnHandle_t solver, const double* h, std::size_t k,
                                     const sqformat::ptq::DampingOptions& opt,
                                     bool cholesky_saliency, void* workspace,
                                     std::size_t workspace_bytes, float* u, double* denom,
                                     InverseFactorReport* report, cudaStream_t stream) {
  if (h == nullptr || u == nullptr || denom == nullptr || workspace == nullptr) {
    return Status::invalid_argument;
  }
  if (k == 0 || k > INT_MAX) {
    return Status::invalid_shape;
  }
  if (!(opt.percent >= 0.0) || !(opt.growth > 1.0) || opt.max_attempts < 1) {
    return Status::invalid_argument;
  }
  int lwork = 0;
  Status st = detail::solver_lwork(solver, k, &lwork);
  if (st != Status::success) {
    return st;
  }
  if (workspace_bytes < detail::inverse_factor_bytes(k, lwork)) {
    return Status::insufficient_workspace;
  }
  if (cusolverDnSetStream(solver, stream) != CUSOLVER_STATUS_SUCCESS) {
    return Status::cuda_error;
  }
  const detail::InverseFactorCarve w = detail::carve_inverse_factor(workspace, k, lwork);
  const int n = static_cast<int>(k);

  std::vector<double> diag;
  if (!detail::diagonal_to_host(h, k, diag, stream)) {
    return Status::cuda_error;
  }
  std::size_t dead = 0;
  double sum = 0.0;
  for (double& d : diag) {
    if (!std::isfinite(d)) {
      return Status::non_finite_input;
    }
    if (d == 0.0) {
      d = 1.0;
      ++dead;
    }
    sum += d;
  }
  const double mean_diag = sum / static_cast<double>(k);
  if (cudaMemcpyAsync(w.fixed_diag, diag.data(), k * sizeof(double), cudaMemcpyHostToDevice,
                      stream) != cudaSuccess) {
    return Status::cuda_error;
  }
  const unsigned grid = detail::elementwise_grid(k * k);
  double percent = opt.percent;
  std::vector<double> a_diag(k), l_diag, inv_diag;
  for (int attempt = 1; attempt <= opt.max_attempts; ++attempt) {
    const double lambda = percent * mean_diag;
    detail::damped_copy_kernel<><<<grid, 256, 0, stream>>>(h, w.fixed_diag, w.a, k, lambda);
    for (std::size_t i = 0; i < k; ++i) {
      a_diag[i] = diag[i] + lambda;
    }
    int info = 0;
    bool ok = cusolverDnDpotrf(solver, CUBLAS_FILL_MODE_LOWER, n, w.a, n, w.solver, w.lwork,
                               w.info) == CUSOLVER_STATUS_SUCCESS;
    ok = ok && detail::read_info(w.info, &info, stream) == Status::success && info == 0 &&
         detail::diagonal_to_host(w.a, k, l_diag, stream) && detail::pivots_ok(l_diag, a_diag);
    ok = ok && cusolverDnDpotri(solver, CUBLAS_FILL_MODE_LOWER, n, w.a, n, w.solver, w.lwork,
                                w.info) == CUSOLVER_STATUS_SUCCESS;
    ok = ok && detail::read_info(w.info, &info, stream) == Status::success && info == 0;
    if (ok) {
      detail::copy_diagonal_kernel<>
          <<<detail::elementwise_grid(k), 256, 0, stream>>>(w.a, w.inv_diag, k);
      ok = detail::diagonal_to_host(w.a, k, inv_diag, stream);
    }
    ok = ok && cusolverDnDpotrf(solver, CUBLAS_FILL_MODE_LOWER, n, w.a, n, w.solver, w.lwork,
                                w.info) == CUSOLVER_STATUS_SUCCESS;
    ok = ok && detail::read_info(w.info, &info, stream) == Status::success && info == 0 &&
         detail::diagonal_to_host(w.a, k, l_diag, stream) && detail::pivots_ok(l_diag, inv_diag);
    if (ok) {
      detail::upper_factor_kernel<>
          <<<grid, 256, 0, stream>>>(w.a, w.inv_diag, u, denom, k, cholesky_saliency);
      if (cudaGetLastError() != cudaSuccess) {
        return Status::cuda_error;
      }
      if (report != nullptr) {
        report->damping_percent = percent;
        report->damping = lambda;
        report->attempts = attempt;
        report->dead_channels = dead;
      }
      return Status::success;
    }
    if (cudaGetLastError() != cudaSuccess) {
      return Status::cuda_error;
    }
    percent = percent > 0.0 ? percent * opt.growth : 1e-4;
  }
  return Status::numerical_failure;
}

} // namespace sqformat::gpu::ptq

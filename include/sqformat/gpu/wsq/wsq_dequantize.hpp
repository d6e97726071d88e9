// sqformat/gpu/wsq/wsq_dequantize.hpp: an SQ weight tensor to a dense N x K row-major matrix of T
// (bf16 or fp16): every element q * scale of its set in float32, rounded once to T.
#pragma once

#include <cuda_runtime.h>

#include "../../status.hpp"
#include "detail/checks.hpp"
#include "detail/dequantize_kernel.cuh"
#include "detail/dequantize_vector_kernel.cuh"
#include "weights_view.hpp"

namespace sqformat::gpu {

/// Bytes of the dense copy (what `out` must hold).
template <class C, class T> std::size_t wsq_dense_bytes(const WsqWeightsView<C>& w) {
  return std::size_t(w.n) * std::size_t(w.k) * sizeof(T);
}

namespace wsq_detail {
/// The dequantization kernel for C and its block size: the staged vector form where a bank's low
/// codes are whole 16-byte vectors, else the scalar one (same signature, same grid rule).
template <class C, class T> constexpr auto dequantize_kernel() {
  if constexpr (dequantize_vector_supports<C>)
    return &wsq_dequantize_vector_kernel<C, T>;
  else
    return &wsq_dequantize_kernel<C, T>;
}
template <class C>
inline constexpr int dequantize_threads =
    dequantize_vector_supports<C> ? kDequantizeVectorThreads : 256;
} // namespace wsq_detail

/// Whether wsq_dequantize accepts these arguments; on failure `*reason` (if given) says which
/// rule failed.
template <class C, class T>
Status wsq_dequantize_can_implement(const WsqWeightsView<C>& w, const T* out,
                                    const char** reason = nullptr) {
  using wsq_detail::fail;
  if (const Status s = wsq_detail::check_weights(w, reason); s != Status::success)
    return s;
  if (out == nullptr)
    return fail(reason, Status::invalid_argument, "out is null");
  if (!wsq_detail::aligned16(out))
    return fail(reason, Status::misaligned_pointer, "out must be 16-byte aligned");
  return wsq_detail::check_arch(wsq_detail::dequantize_kernel<C, T>(), reason);
}

template <class C, class T>
Status wsq_dequantize(const WsqWeightsView<C>& w, T* out, cudaStream_t stream) {
  if (const Status s = wsq_dequantize_can_implement(w, out); s != Status::success)
    return s;
  constexpr int threads = wsq_detail::dequantize_threads<C>;
  const std::size_t blocks = (std::size_t(w.n) * w.banks() + threads - 1) / threads;
  wsq_detail::dequantize_kernel<
      C, T>()<<<unsigned(blocks < 65535 ? blocks : 65535), threads, 0, stream>>>(w, out);
  return cudaGetLastError() == cudaSuccess ? Status::success : Status::cuda_error;
}

} // namespace sqformat::gpu

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

template <class C, class T>
Status wsq_dequantize(const WsqWeightsView<C>& w, T* out, cudaStream_t stream) {
  if (const Status s = wsq_detail::check_weights(w); s != Status::success)
    return s;
  if (out == nullptr)
    return Status::invalid_argument;
  if (!wsq_detail::aligned16(out))
    return Status::misaligned_pointer;
  const std::size_t items = std::size_t(w.n) * w.banks();
  if constexpr (wsq_detail::dequantize_vector_supports<C>) { // staged 16-byte loads and stores
    const auto kernel = &wsq_detail::wsq_dequantize_vector_kernel<C, T>;
    if (const Status s = wsq_detail::check_arch(kernel); s != Status::success)
      return s;
    constexpr int threads = wsq_detail::kDequantizeVectorThreads;
    const std::size_t blocks = (items + threads - 1) / threads;
    kernel<<<unsigned(blocks < 65535 ? blocks : 65535), threads, 0, stream>>>(w, out);
  } else {
    const auto kernel = &wsq_detail::wsq_dequantize_kernel<C, T>;
    if (const Status s = wsq_detail::check_arch(kernel); s != Status::success)
      return s;
    const std::size_t blocks = (items + 255) / 256;
    kernel<<<unsigned(blocks < 65535 ? blocks : 65535), 256, 0, stream>>>(w, out);
  }
  return cudaGetLastError() == cudaSuccess ? Status::success : Status::cuda_error;
}

} // namespace sqformat::gpu

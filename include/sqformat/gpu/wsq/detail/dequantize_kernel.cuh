// sqformat/gpu/wsq/detail/dequantize_kernel.cuh: W(SQ) -> dense 16-bit W (N x K, row-major).
//
// Contract: one thread per (row, bank), grid-stride. Each element becomes q * scale of its set in
// float32 (exactly as ref::dequantize computes it), then is rounded once to T. The large-M path
// multiplies this dense copy with a library GEMM.
#pragma once

#include "../weights_view.hpp"
#include "codes.cuh"

namespace sqformat::gpu::wsq_detail {

template <class C, class T>
__global__ void __launch_bounds__(256)
    wsq_dequantize_kernel(WsqWeightsView<C> w, T* __restrict__ out) {
  const int banks = w.banks();
  const std::size_t total = std::size_t(w.n) * banks;
  for (std::size_t item = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; item < total;
       item += std::size_t(gridDim.x) * blockDim.x) {
    const int n = static_cast<int>(item / banks);
    const int bank = static_cast<int>(item % banks);
    const std::uint8_t* low_row = w.low + std::size_t(n) * w.low_row_bytes();
    const std::uint8_t* high_row = w.high + std::size_t(n) * w.high_row_bytes();
    const float s_low = w.scale_low[item];
    const float s_high = w.scale_high[item];
    int j = bank * C::high_per_bank;
    T* dst = out + std::size_t(n) * w.k + std::size_t(bank) * C::bank;
    for (int i = 0; i < C::bank; ++i) {
      const int code = read_code<C::low_bits>(low_row, bank * C::bank + i);
      const bool is_high = code == C::low_sentinel;
      const float v = is_high ? __fmul_rn(float(read_bank_high_code<C>(high_row, bank, j)), s_high)
                              : __fmul_rn(float(code), s_low);
      j += is_high ? 1 : 0;
      dst[i] = Half16<T>::from_float(v);
    }
  }
}

} // namespace sqformat::gpu::wsq_detail

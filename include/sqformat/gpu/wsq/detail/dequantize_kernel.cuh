// sqformat/gpu/wsq/detail/dequantize_kernel.cuh: W(SQ) -> dense 16-bit W (N x K, row-major),
// the scalar form for every configuration.
//
// Contract: one thread per (row, bank), grid-stride. Each element becomes q * scale of its set in
// float32 (exactly as ref::dequantize computes it), then is rounded once to T. The large-M path
// multiplies this dense copy with a library GEMM. Configurations whose banks are whole 16-byte
// vectors of low codes take the staged vector form instead (dequantize_vector_kernel.cuh): this
// one (a byte load a code, a 2-byte store an element, 32 lanes 128 bytes apart) took 1.3 ms for
// 8192 x 8192 on an H100, about 20x the time its bytes need.
#pragma once

#include "../weights_view.hpp"
#include "codes.cuh"

namespace sqformat::gpu::wsq_detail {

/// Element values of one bank in K order: call with each low code in turn; a sentinel takes the
/// bank's next compact high code (clamped to the bank's H on malformed banks).
template <class C, class T> struct BankValues {
  const std::uint8_t* high_row;
  int bank, j;
  float s_low, s_high;
  __device__ __forceinline__ T operator()(int code) {
    const bool is_high = code == C::low_sentinel;
    const float v = is_high ? __fmul_rn(float(read_bank_high_code<C>(high_row, bank, j)), s_high)
                            : __fmul_rn(float(code), s_low);
    j += is_high ? 1 : 0;
    return Half16<T>::from_float(v);
  }
};

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
    BankValues<C, T> value{w.high + std::size_t(n) * w.high_row_bytes(), bank,
                           bank * C::high_per_bank, w.scale_low[item], w.scale_high[item]};
    T* dst = out + std::size_t(n) * w.k + std::size_t(bank) * C::bank;
    for (int i = 0; i < C::bank; ++i)
      dst[i] = value(read_code<C::low_bits>(low_row, bank * C::bank + i));
  }
}

} // namespace sqformat::gpu::wsq_detail

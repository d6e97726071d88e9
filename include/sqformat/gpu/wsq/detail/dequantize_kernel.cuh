// sqformat/gpu/wsq/detail/dequantize_kernel.cuh: W(SQ) -> dense 16-bit W (N x K, row-major).
//
// Contract: one thread per (row, bank), grid-stride. Each element becomes q * scale of its set in
// float32 (exactly as ref::dequantize computes it), then is rounded once to T. The large-M path
// multiplies this dense copy with a library GEMM.
//
// Where a bank's low codes are whole 16-byte vectors (b * low bits a multiple of 128, b <= 128:
// SQ5 and SQ6 at b = 64 among them), the thread loads them with 16-byte loads, takes each code
// from registers and stores 8 outputs at a time with one 16-byte store. The scalar form it
// replaces there (a byte load a code, a 2-byte store an element, 32 lanes 128 bytes apart) took
// 1.3 ms for 8192 x 8192 on an H100, about 20x the time its bytes need; it remains for the other
// configurations.
#pragma once

#include <cstdint>

#include "../weights_view.hpp"
#include "codes.cuh"

namespace sqformat::gpu::wsq_detail {

/// Code i of a run of Bits-bit codes held in 32-bit words (the bytes of the packed row in
/// little-endian order, as read_code reads them), sign-extended. With i known at compile time the
/// words stay in registers.
template <int Bits, int Words>
__device__ __forceinline__ int code_from_words(const std::uint32_t (&words)[Words], int i) {
  const unsigned bit = static_cast<unsigned>(i) * Bits;
  const unsigned wi = bit / 32, shift = bit % 32;
  std::uint64_t window = words[wi];
  if (shift + Bits > 32)
    window |= static_cast<std::uint64_t>(words[wi + 1]) << 32;
  const int raw = static_cast<int>((window >> shift) & ((1u << Bits) - 1u));
  constexpr int sign = 1 << (Bits - 1);
  return (raw ^ sign) - sign;
}

template <class T> __device__ __forceinline__ std::uint32_t half16_bits(T v) {
  return *reinterpret_cast<const std::uint16_t*>(&v);
}

template <class C, class T>
__global__ void __launch_bounds__(256)
    wsq_dequantize_kernel(WsqWeightsView<C> w, T* __restrict__ out) {
  constexpr bool kVector = C::bank % 8 == 0 && (C::bank * C::low_bits) % 128 == 0 && C::bank <= 128;
  constexpr int kLowWords = C::bank * C::low_bits / 32; // a bank's low codes, in 32-bit words
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
    const auto value = [&](int code) {
      const bool is_high = code == C::low_sentinel;
      const float v = is_high ? __fmul_rn(float(read_bank_high_code<C>(high_row, bank, j)), s_high)
                              : __fmul_rn(float(code), s_low);
      j += is_high ? 1 : 0;
      return Half16<T>::from_float(v);
    };
    if constexpr (kVector) {
      // Rows and banks start on 16 bytes: the view's pointers are 16-byte aligned, K is a
      // multiple of b, and a bank's low codes and 8 outputs are 16 bytes each.
      std::uint32_t words[kLowWords];
      const auto* src = reinterpret_cast<const uint4*>(low_row) + std::size_t(bank) * kLowWords / 4;
#pragma unroll
      for (int q = 0; q < kLowWords / 4; ++q) {
        const uint4 v = __ldg(src + q);
        words[4 * q] = v.x, words[4 * q + 1] = v.y, words[4 * q + 2] = v.z, words[4 * q + 3] = v.w;
      }
#pragma unroll
      for (int g = 0; g < C::bank / 8; ++g) {
        std::uint32_t pairs[4];
#pragma unroll
        for (int e = 0; e < 8; e += 2) {
          const std::uint32_t lo =
              half16_bits(value(code_from_words<C::low_bits>(words, 8 * g + e)));
          const std::uint32_t hi =
              half16_bits(value(code_from_words<C::low_bits>(words, 8 * g + e + 1)));
          pairs[e / 2] = lo | hi << 16;
        }
        reinterpret_cast<uint4*>(dst)[g] = make_uint4(pairs[0], pairs[1], pairs[2], pairs[3]);
      }
    } else {
      for (int i = 0; i < C::bank; ++i)
        dst[i] = value(read_code<C::low_bits>(low_row, bank * C::bank + i));
    }
  }
}

} // namespace sqformat::gpu::wsq_detail

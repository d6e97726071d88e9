// sqformat/gpu/wsq/weights_view.hpp: a non-owning device view of an SQ weight tensor W (N x K),
// laid out exactly as docs/layouts.md ("SQ tensor") and sqformat::ref::SqTensor store it.
//
//   low         N rows of K codes at C::low_bits, packed, row stride low_row_bytes()
//   high        N rows of H*K/b codes at C::high_bits (INT8 one byte each, INT4 packed)
//   scale_low   float32 N x (K/b), row-major
//   scale_high  float32 N x (K/b), row-major
//
// Plain C++ (usable from host code that prepares arguments); the kernels read it by value.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../config.hpp"

namespace sqformat::gpu {

template <class C> struct WsqWeightsView {
  using config = C;
  const std::uint8_t* low = nullptr;
  const std::uint8_t* high = nullptr;
  const float* scale_low = nullptr;
  const float* scale_high = nullptr;
  int n = 0; ///< rows of W (output features)
  int k = 0; ///< columns of W (reduction dimension), a multiple of C::bank

  SQFORMAT_HD constexpr int banks() const { return k / C::bank; }
  SQFORMAT_HD constexpr std::size_t low_row_bytes() const {
    return (std::size_t(k) * C::low_bits + 7) / 8;
  }
  SQFORMAT_HD constexpr std::size_t high_row_bytes() const {
    return (std::size_t(banks()) * C::high_per_bank * C::high_bits + 7) / 8;
  }
};

} // namespace sqformat::gpu

// sqformat/gpu/datapath/sq_tensor_ref.hpp: device buffers of one SQ tensor (weights or dynamic
// activations), laid out as docs/layouts.md ("SQ tensor") says:
//
//   low         rows × sq_low_row_bytes<C>(K)    dense, low_bits per code, sentinel at high spots
//   high        rows × sq_high_row_bytes<C>(K)   compact H per bank, in K order, high_bits each
//   scale_low   rows × K/b floats                 per (row, bank), over the b-H low elements
//   scale_high  rows × K/b floats                 per (row, bank), over the H high elements
//
// Plain C++17, no CUDA headers.
#pragma once

#include <cstdint>

namespace sqformat::gpu::datapath {

struct SqTensorRef {
  std::uint8_t* low = nullptr;
  std::uint8_t* high = nullptr;
  float* scale_low = nullptr;
  float* scale_high = nullptr;
};

struct ConstSqTensorRef {
  const std::uint8_t* low = nullptr;
  const std::uint8_t* high = nullptr;
  const float* scale_low = nullptr;
  const float* scale_high = nullptr;
};

} // namespace sqformat::gpu::datapath

// sqformat/gpu/gemm/detail/w4a_sq_static_params.hpp: what the W4A(SQ) static kernel receives.
// Validated on the host (GemmW4ASqStatic::can_implement) before any launch.
#pragma once

#include <cstdint>

namespace sqformat::gpu::detail {

struct W4ASqStaticParams {
  const std::int8_t* x_high; ///< M x k_high INT8, row stride k_high
  const void* x_low;         ///< M x k_low: packed low bits (in-loop) or INT8 (prepass)
  const std::uint8_t* w;     ///< N x K INT4 packed, row stride K/2 bytes
  const float* scale_x_high; ///< M
  const float* scale_x_low;  ///< M
  const float* scale_w;      ///< N x w_groups
  const float* bias;         ///< N or null
  void* y;                   ///< M x N bf16 or fp16
  std::int32_t* int_sums;    ///< null, or 2 x M x N (high plane, then low plane)
  int m, n, k, k_high, k_low;
  int w_groups;  ///< 1: per output channel; K/128: per group of 128 columns
  int y_is_fp16; ///< 0: bf16 output, 1: fp16 output
};

} // namespace sqformat::gpu::detail

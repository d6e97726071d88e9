// sqformat/gpu/gemm/detail/w4a_sq_static_finalize.cuh: the epilogue of a split-K W4A(SQ) GEMM.
//
// Each split wrote its exact int32 partial sums of the high and the low range (a split that holds
// no tile of a range wrote nothing there). Integer addition is exact and associative, so the
// totals equal the unsplit sums; the float epilogue below is the same instruction sequence as the
// main kernel's fold, so the output is bit-identical to an unsplit run.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "w4a_sq_static_params.hpp"

namespace sqformat::gpu::detail {

// The per-output epilogue every W4A(SQ) kernel with per-channel weight scales ends in, written
// once so that they stay bit-identical.

/// The float fold of output (m, n)'s exact sums: the reference's order (high block, then low
/// block), each (s_x · s_w) · float(sum), separate IEEE roundings, no contraction.
__device__ __forceinline__ float fold_channel_sums(const W4ASqStaticParams& p, int m, int n,
                                                   std::int32_t sum_high, std::int32_t sum_low) {
  const float sw = p.scale_w[n];
  float out = 0.0f;
  out = __fadd_rn(out, __fmul_rn(__fmul_rn(p.scale_x_high[m], sw), static_cast<float>(sum_high)));
  out = __fadd_rn(out, __fmul_rn(__fmul_rn(p.scale_x_low[m], sw), static_cast<float>(sum_low)));
  return out;
}

/// Y[m, n] from its folded value: + bias[n] (if any), one rounding to bf16/fp16, a 16-bit store.
__device__ __forceinline__ void store_output(const W4ASqStaticParams& p, int m, int n, float v) {
  if (p.bias != nullptr)
    v = __fadd_rn(v, p.bias[n]);
  auto* y = static_cast<std::uint16_t*>(p.y);
  y[static_cast<std::size_t>(m) * p.n + n] = p.y_is_fp16
                                                 ? __half_as_ushort(__float2half_rn(v))
                                                 : __bfloat16_as_ushort(__float2bfloat16_rn(v));
}

/// The int_sums test hook (if set): both exact sums of output idx = m * N + n.
__device__ __forceinline__ void store_int_sums(const W4ASqStaticParams& p, std::size_t idx,
                                               std::int32_t sum_high, std::int32_t sum_low) {
  if (p.int_sums != nullptr) {
    p.int_sums[idx] = sum_high;
    p.int_sums[static_cast<std::size_t>(p.m) * p.n + idx] = sum_low;
  }
}

/// One thread per output element (m, n). (A template only so that the header can be included by
/// several translation units.)
template <int LowBits>
__global__ void __launch_bounds__(256)
    w4a_sq_static_finalize_kernel(const __grid_constant__ W4ASqStaticParams p, int tiles_high,
                                  int tiles) {
  const std::size_t plane = static_cast<std::size_t>(p.m) * p.n;
  const std::size_t idx = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (idx >= plane)
    return;
  const int m = static_cast<int>(idx / p.n), n = static_cast<int>(idx % p.n);
  std::int32_t sum_high = 0, sum_low = 0;
  for (int z = 0; z < p.splits; ++z) {
    const int t_begin = z * p.tiles_per_split;
    const int t_end = min(tiles, t_begin + p.tiles_per_split);
    if (t_begin < t_end && t_begin < tiles_high)
      sum_high += p.partials[(2 * static_cast<std::size_t>(z)) * plane + idx];
    if (t_begin < t_end && t_end > tiles_high)
      sum_low += p.partials[(2 * static_cast<std::size_t>(z) + 1) * plane + idx];
  }
  store_output(p, m, n, fold_channel_sums(p, m, n, sum_high, sum_low));
  store_int_sums(p, idx, sum_high, sum_low);
}

} // namespace sqformat::gpu::detail

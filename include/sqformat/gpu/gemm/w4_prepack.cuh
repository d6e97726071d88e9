// sqformat/gpu/gemm/w4_prepack.cuh: device transform of a canonical packed INT4 weight into the
// prepacked layout of the Hopper W4A(SQ) GEMM (layout and host reference: w4_prepack.hpp).
//
//   std::size_t bytes = sqformat::gpu::W4PrepackedLayout{n, k, k_high}.bytes();
//   Status s = sqformat::gpu::prepack_w4_sm90(w, n, k, k_high, out, stream);  // asynchronous
//
// Offline work (once per weight): one thread per output byte, gathering its two nibbles from
// the canonical rows; any CUDA device runs it.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "../../status.hpp"
#include "w4_prepack.hpp"

namespace sqformat::gpu {

namespace detail {

template <int = 0> // a template: a plain kernel in a header is defined in every TU
__global__ void prepack_w4_kernel(const std::uint8_t* __restrict__ w, int n, int k, int k_high,
                                  int tiles_high, int tiles, std::uint8_t* __restrict__ out,
                                  long long total) {
  const std::size_t stride = static_cast<std::size_t>(k) / 2;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    // Inverse of W4PrepackedLayout::locate: which (row block, tile, thread slot, byte) this is.
    const long long block = i / 4096;
    const int in_block = static_cast<int>(i % 4096);
    const int rb = static_cast<int>(block / tiles), t = static_cast<int>(block % tiles);
    const int slot = in_block / 16, byte = in_block % 16;
    const int lane = slot % 32, w_idx = (slot / 32) % 4, p = slot / 128;
    const int q = byte / 8, half = (byte % 8) / 4, b = byte % 4;
    const int g = lane / 4, c = lane % 4;
    const int kk = 32 * (2 * p + q) + 16 * half + 4 * c + b;
    const bool high = t < tiles_high;
    const int local = (high ? t : t - tiles_high) * 128 + kk;
    const bool in_range = high ? local < k_high : local < k - k_high;
    const int col = high ? local : k_high + local;
    unsigned value = 0;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = 64 * rb + 16 * w_idx + g + 8 * h;
      if (in_range && row < n) {
        const unsigned code = (w[row * stride + col / 2] >> (4 * (col % 2))) & 0xFu;
        value |= (code ^ 0x8u) << (4 * h);
      }
    }
    out[i] = static_cast<std::uint8_t>(value);
  }
}

} // namespace detail

/// Writes the prepacked layout of canonical W (N x K INT4, row stride K/2, device memory) to
/// `out` (W4PrepackedLayout{n, k, k_high}.bytes() bytes, 16-byte aligned). Asynchronous.
inline Status prepack_w4_sm90(const std::uint8_t* w, int n, int k, int k_high, std::uint8_t* out,
                              cudaStream_t stream) {
  if (n < 1 || k < 2 || k % 2 != 0 || k_high < 0 || k_high > k)
    return Status::invalid_shape;
  if (w == nullptr || out == nullptr)
    return Status::invalid_argument;
  if (reinterpret_cast<std::uintptr_t>(out) % 16 != 0)
    return Status::misaligned_pointer;
  const W4PrepackedLayout layout{n, k, k_high};
  const long long total = static_cast<long long>(layout.bytes());
  const int block = 256;
  const long long blocks = (total + block - 1) / block;
  detail::prepack_w4_kernel<>
      <<<static_cast<unsigned>(blocks < 65535 * 8 ? blocks : 65535 * 8), block, 0, stream>>>(
          w, n, k, k_high, layout.tiles_high(), layout.tiles(), out, total);
  return cudaGetLastError() == cudaSuccess ? Status::success : Status::cuda_error;
}

} // namespace sqformat::gpu

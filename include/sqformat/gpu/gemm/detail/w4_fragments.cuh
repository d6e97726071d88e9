// sqformat/gpu/gemm/detail/w4_fragments.cuh: a thread's INT4 A fragments for one 128-wide K tile
// (four k32 steps of RS wgmma, registers a[s][0..3] as described in wgmma_s8_rs.cuh), from the
// W tile in shared memory, in the two weight layouts the Hopper kernels read.
#pragma once

#include <cstdint>

#include "../../common/ptx_sm90.cuh"
#include "widen_low_bits.cuh"

namespace sqformat::gpu::detail {

/// Canonical W tile (rows of 64 bytes, 64-byte TMA swizzle): 16 shared loads, one byte permute
/// per register pair to gather the lane's nibbles, then a sign-extending widening to s8 (about
/// 110 instructions per thread per tile). `offsets[s][h]`: byte offset of the lane's first word
/// of row 16w+g+8h, k32 step s; `pair_select`: byte selector of the lane's nibble pairs.
__device__ __forceinline__ void load_w4_fragments_canonical(std::uint32_t w_smem,
                                                            const std::uint32_t (&offsets)[4][2],
                                                            std::uint32_t pair_select,
                                                            std::uint32_t (&a)[4][4]) {
  std::uint32_t words[4][2][2];
#pragma unroll
  for (int s = 0; s < 4; ++s)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      words[s][h][0] = ptx::ld_shared_u32(w_smem + offsets[s][h]);
      words[s][h][1] = ptx::ld_shared_u32(w_smem + offsets[s][h] + 8);
    }
#pragma unroll
  for (int s = 0; s < 4; ++s)
#pragma unroll
    for (int h = 0; h < 2; ++h)
      widen_int4x8(__byte_perm(words[s][h][0], words[s][h][1], pair_select), a[s][h], a[s][2 + h]);
}

/// Prepacked W tile (w4_prepack.hpp): the thread's 32 bytes are two 16-byte chunks 2048 bytes
/// apart (k32 steps 0-1, then 2-3); `thread_smem` is the first chunk's shared address. Each
/// 32-bit word holds rows g (low nibbles) and g + 8 (high nibbles) of 4 K positions as offset-
/// binary u = q + 8, so a register is one mask or one shift and a mask: 2 loads and 24 ALU
/// instructions per tile, no byte permutes. The A bytes are unsigned (u8 wgmma).
__device__ __forceinline__ void load_w4_fragments_prepacked(std::uint32_t thread_smem,
                                                            std::uint32_t (&a)[4][4]) {
  const uint4 v0 = ptx::ld_shared_v4(thread_smem);
  const uint4 v1 = ptx::ld_shared_v4(thread_smem + 2048);
  const std::uint32_t words[4][2] = {{v0.x, v0.y}, {v0.z, v0.w}, {v1.x, v1.y}, {v1.z, v1.w}};
#pragma unroll
  for (int s = 0; s < 4; ++s) {
    a[s][0] = words[s][0] & 0x0F0F0F0Fu;
    a[s][1] = (words[s][0] >> 4) & 0x0F0F0F0Fu;
    a[s][2] = words[s][1] & 0x0F0F0F0Fu;
    a[s][3] = (words[s][1] >> 4) & 0x0F0F0F0Fu;
  }
}

} // namespace sqformat::gpu::detail

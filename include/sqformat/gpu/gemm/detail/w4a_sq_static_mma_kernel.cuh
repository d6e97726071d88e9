// sqformat/gpu/gemm/detail/w4a_sq_static_mma_kernel.cuh: the W4A(SQ) static GEMM for few tokens
// (decode) on mma.sync INT8 tensor cores: sm_80 and newer, so the decode path of Ampere and Ada,
// where the wgmma kernels cannot run (on an H100 the wgmma decode kernels measured faster, see
// docs/performance.md, and the auto header keeps them there).
//
// With M <= 16 tokens the GEMM moves N*K/2 weight bytes for 2*M*N*K operations, far below any
// tensor-core limit: its speed is the weight bandwidth it keeps busy. Every thread streams its own
// 16-byte pieces of its weight rows with cp.async into private slots of a shared-memory ring
// (several K tiles in flight, no barrier: only the thread that copied a slot reads it), turns the
// INT4 codes into offset-binary bytes in registers (one LOP3, and a shift for the odd codes) and
// issues mma.m16n8k32 u8 x s8 with W as operand A (16 rows) and the tokens as operand B (8 per
// MMA). The activations, small at this M, are staged per CTA in shared memory as s8.
//
//   Y[m, n] = s_w[n] · ( s_hi[m] · Σ_{k<Kh} X_high[m,k] · W[n,k] + s_lo[m] · Σ_{k<Kl} X_low[m,k]
//             · W[n,Kh+k] ) (+ bias[n])          (both sums exact int32, epilogue as in the
//                                                  wgmma kernels: the reference's order)
//
// Offset binary: A holds u = q + 8 in [0, 15], so the MMAs sum u·x; one more MMA per step and
// token tile with A = -8 everywhere sums -8·x, the same for every channel, and the two add up to
// Σ q·x exactly (|Σ u·x| < 15·128·K < 2^31 for K < 2^20, which can_implement requires).
//
// K walk: the same tile space as the wgmma kernels: tiles of 128 columns, first the high block
// [0, Kh), then the low block [Kh, K), each zero-filled past its end (Kh, Kl multiples of 32).
//
// K mapping inside one tile. The order of k inside an MMA is free as long as A and B agree.
// Thread t of a quad owns the 32 consecutive columns 32t .. 32t+31 of the tile: one 16-byte copy
// of W per row. MMA step s (0..3) takes the thread's word s (columns 32t + 8s .. +7):
//
//   mma k index  : 4t+j (j = 0..3)            | 16+4t+j
//   column       : 32t + 8s + 2j (even codes) | 32t + 8s + 2j + 1 (odd codes)
//   A (row g/g+8): low nibbles of word s      | high nibbles of word s   (no byte permutes)
//   B (token g)  : the same columns of X, staged in that order in shared memory.
//
// Split-K (when the output tiles alone cannot fill the device; per-channel weight scales only):
// gridDim.y CTAs share an output tile, each over consecutive K tiles; each adds its exact int32
// sums of the high and the low block to two workspace planes (zeroed by run()) with atomicAdd
// (integer addition: any order gives the same sums), and the last CTA of the tile to arrive (a
// counter per tile) folds the totals and writes Y, so no second kernel runs.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "../../common/ptx_sm90.cuh"
#include "w4a_sq_static_finalize.cuh"
#include "w4a_sq_static_params.hpp"
#include "x_split_loader.cuh"

namespace sqformat::gpu::detail {

/// D += A * B for one m16n8k32 tile with s32 accumulation; A is u8 (offset-binary weights) when
/// `UnsignedA`, else s8; B is s8.
template <bool UnsignedA>
__device__ __forceinline__ void mma_16832(std::int32_t (&d)[4], std::uint32_t a0, std::uint32_t a1,
                                          std::uint32_t a2, std::uint32_t a3, std::uint32_t b0,
                                          std::uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (UnsignedA) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
#endif
}

/// The even (low nibbles) or odd (high nibbles) codes of a word of eight INT4 codes as offset-
/// binary bytes u = q + 8 in [0, 15]: one LOP3 (and a shift) per four codes.
__device__ __forceinline__ std::uint32_t int4_even_u8(std::uint32_t w) {
  return (w ^ 0x88888888u) & 0x0F0F0F0Fu;
}
__device__ __forceinline__ std::uint32_t int4_odd_u8(std::uint32_t w) {
  return ((w >> 4) ^ 0x08080808u) & 0x0F0F0F0Fu;
}

template <class Policy> struct W4ASqMmaShape {
  static constexpr int warps = Policy::warps;
  static constexpr int row_tiles = Policy::row_tiles;
  static constexpr int threads = 32 * warps;
  static constexpr int block_w = 16 * row_tiles * warps;  ///< output channels per CTA
  static constexpr int block_tokens = 16;                 ///< tokens per CTA (two MMA columns)
  static constexpr int block_k = 128;                     ///< columns per K tile
  static constexpr int chunk_tiles = Policy::chunk_tiles; ///< K tiles of X staged at once
  /// Staged X row (one token): chunk_tiles * 128 s8 plus 16 bytes, so the 8 lanes of a 16-byte
  /// shared load phase (tokens g, g+1; threads t = 0..3) hit 8 distinct 4-bank groups.
  static constexpr int x_row_bytes = chunk_tiles * block_k + 16;
  static constexpr int x_stage_bytes = block_tokens * x_row_bytes;
  /// Weight ring: `stages` K tiles; per tile and thread, 2 * row_tiles 16-byte slots (rows g and
  /// g + 8 of each row tile). Slot j of all threads is contiguous: conflict-free 16-byte accesses.
  static constexpr int stages = Policy::tiles_in_flight;
  static constexpr int ring_bytes = stages * 2 * row_tiles * threads * 16;
  static constexpr int smem_bytes = x_stage_bytes + ring_bytes;
  static __device__ __forceinline__ std::uint32_t ring_offset(int stage, int slot, int tid) {
    return static_cast<std::uint32_t>(((stage * 2 * row_tiles + slot) * threads + tid) * 16);
  }
};

/// One CTA: block_w output channels x 16 tokens (blockIdx.z) x one K split (blockIdx.y); dynamic
/// shared memory W4ASqMmaShape<Policy>::smem_bytes.
/// \tparam TokenTiles 1 (M <= 8 in this CTA's tile: one MMA column) or 2.
template <int LowBits, class Policy, int TokenTiles>
__global__ void __launch_bounds__(32 * Policy::warps, 16 / Policy::warps) // >= 16 warps per SM
    w4a_sq_static_mma_kernel(const __grid_constant__ W4ASqStaticParams p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  using K = W4ASqMmaShape<Policy>;
  constexpr int RT = K::row_tiles;
  constexpr int S = Policy::tiles_in_flight;
  extern __shared__ __align__(16) std::uint8_t smem[]; // staged X, then the weight ring
  __shared__ int last_flag;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int n_warp = blockIdx.x * K::block_w + warp * RT * 16;
  const int m0 = blockIdx.z * K::block_tokens;
  const int tiles_high = (p.k_high + K::block_k - 1) / K::block_k;
  const int tiles = tiles_high + (p.k_low + K::block_k - 1) / K::block_k;
  const int t_begin = blockIdx.y * p.tiles_per_split;
  const int t_end = min(tiles, t_begin + p.tiles_per_split);
  const bool grouped = p.w_groups > 1;
  const std::size_t w_row_bytes = static_cast<std::size_t>(p.k) / 2;
  const std::size_t low_row_bytes = static_cast<std::size_t>(p.k_low) * LowBits / 8;

  // Weights of one K tile for this thread: rows g and g+8 of each row tile, 32 codes (16 bytes)
  // each, copied into this thread's own slots of ring stage `stage` (zeros past N, past the
  // range's end and past this split). One cp.async group per tile, empty ones included, so that
  // the group count stays in step with the tiles.
  const std::uint32_t ring_base = ptx::shared_address(smem + K::x_stage_bytes);
  const std::uint32_t ring_thread = ring_base + K::ring_offset(0, 0, tid);
  // Loop-invariant: this thread's four (2 * RT) weight rows, or null past N.
  const std::uint8_t* w_row[RT][2];
#pragma unroll
  for (int r = 0; r < RT; ++r)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int n = n_warp + 16 * r + g + 8 * h;
      w_row[r][h] = n < p.n ? p.w + n * w_row_bytes + 16 * t : nullptr;
    }
  auto issue_w = [&](int tile, int stage) {
    const bool high = tile < tiles_high;
    const int c = (high ? tile : tile - tiles_high) * K::block_k; // tile start in its range
    const bool in_range = tile < t_end && c + 32 * t < (high ? p.k_high : p.k_low);
    const int byte = (high ? c : p.k_high + c) / 2;
    const std::uint32_t dst = ring_thread + K::ring_offset(stage, 0, 0);
#pragma unroll
    for (int r = 0; r < RT; ++r)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const bool valid = in_range && w_row[r][h] != nullptr;
        ptx::cp_async_16(dst + K::ring_offset(0, 2 * r + h, 0), valid ? w_row[r][h] + byte : p.w,
                         valid);
      }
    ptx::cp_async_commit();
  };

  // Stages the chunk of K tiles [tile0, tile0 + chunk_tiles) of X (zeros past M, past a range's
  // end and past this split) as s8 in the B order above: per (token, tile, thread slot t) the
  // eight words b0, b1 of steps 0..3. A thread's units are all loaded before any is converted,
  // so the chunk costs one global-memory round trip, not one per unit.
  auto stage_x = [&](int tile0) {
    constexpr int units = K::block_tokens * K::chunk_tiles * 4;
    constexpr int per_thread = (units + K::threads - 1) / K::threads;
    std::uint32_t raw[per_thread][8];
    bool is_high[per_thread];
#pragma unroll
    for (int v = 0; v < per_thread; ++v) {
      const int u = tid + v * K::threads;
      const int slot = u & 3, tile_in_chunk = (u >> 2) % K::chunk_tiles;
      const int m = m0 + u / (4 * K::chunk_tiles), tile = tile0 + tile_in_chunk;
#pragma unroll
      for (int i = 0; i < 8; ++i)
        raw[v][i] = 0;
      is_high[v] = true; // zeros need no widening
      if (u >= units || m >= p.m || tile >= t_end)
        continue;
      const bool high = tile < tiles_high;
      const int c = (high ? tile : tile - tiles_high) * K::block_k + 32 * slot;
      if (high && c < p.k_high) {
        const uint4* src =
            reinterpret_cast<const uint4*>(p.x_high + static_cast<std::size_t>(m) * p.k_high + c);
        const uint4 v0 = __ldg(src), v1 = __ldg(src + 1);
        raw[v][0] = v0.x, raw[v][1] = v0.y, raw[v][2] = v0.z, raw[v][3] = v0.w;
        raw[v][4] = v1.x, raw[v][5] = v1.y, raw[v][6] = v1.z, raw[v][7] = v1.w;
      } else if (!high && c < p.k_low) {
        const auto* row = static_cast<const std::uint8_t*>(p.x_low) + m * low_row_bytes;
        const auto* src = reinterpret_cast<const std::uint32_t*>(row + c * LowBits / 8);
#pragma unroll
        for (int i = 0; i < LowBits; ++i)
          raw[v][i] = __ldg(src + i);
        is_high[v] = false;
      }
    }
#pragma unroll
    for (int v = 0; v < per_thread; ++v) {
      const int u = tid + v * K::threads;
      if (u >= units)
        continue;
      const int slot = u & 3, tile_in_chunk = (u >> 2) % K::chunk_tiles;
      const int tok = u / (4 * K::chunk_tiles);
      uint4* dst = reinterpret_cast<uint4*>(smem + tok * K::x_row_bytes +
                                            tile_in_chunk * K::block_k + 32 * slot);
      std::uint32_t b[8]; // columns 8st + 0,2,4,6 in b[2st], 8st + 1,3,5,7 in b[2st+1]
      split_x32<LowBits>(raw[v], !is_high[v], b);
      dst[0] = make_uint4(b[0], b[1], b[2], b[3]);
      dst[1] = make_uint4(b[4], b[5], b[6], b[7]);
    }
  };

  // acc: sums of u * x (u = q + 8, offset-binary weights); offset: -8 * sum x over the same
  // columns, equal for every channel. acc + offset is the exact sum of q * x.
  std::int32_t acc[RT][TokenTiles][4], offset[TokenTiles][4];
  float out[RT][TokenTiles][4];
#pragma unroll
  for (int j = 0; j < TokenTiles; ++j)
#pragma unroll
    for (int i = 0; i < 4; ++i)
      offset[j][i] = 0;
#pragma unroll
  for (int r = 0; r < RT; ++r)
#pragma unroll
    for (int j = 0; j < TokenTiles; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        acc[r][j][i] = 0;
        out[r][j][i] = 0.0f;
      }

  // Accumulator element i of (row tile r, token tile j): channel n_warp + 16r + g + 8(i >> 1),
  // token m0 + 8j + 2t + (i & 1).
  auto channel = [&](int r, int i) { return n_warp + 16 * r + g + 8 * (i >> 1); };
  auto token = [&](int j, int i) { return m0 + 8 * j + 2 * t + (i & 1); };

  // A finished segment (a whole range, or one group of 128 columns): fold into `out` (no split)
  // or add to the workspace planes (split).
  auto end_segment = [&](bool high, int group) {
    const std::size_t plane = static_cast<std::size_t>(p.m) * p.n;
    const float* scale_x = high ? p.scale_x_high : p.scale_x_low;
#pragma unroll
    for (int r = 0; r < RT; ++r)
#pragma unroll
      for (int j = 0; j < TokenTiles; ++j)
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const int n = channel(r, i), m = token(j, i);
          const std::int32_t sum = acc[r][j][i] + offset[j][i];
          acc[r][j][i] = 0;
          if (n >= p.n || m >= p.m)
            continue;
          const std::size_t idx = static_cast<std::size_t>(m) * p.n + n;
          if (p.splits > 1) {
            atomicAdd(p.partials + (high ? 0 : plane) + idx, sum);
          } else {
            const float sw = p.scale_w[static_cast<std::size_t>(n) * p.w_groups + group];
            const float s = __fmul_rn(scale_x[m], sw);
            out[r][j][i] = __fadd_rn(out[r][j][i], __fmul_rn(s, static_cast<float>(sum)));
            if (p.int_sums != nullptr && !grouped)
              p.int_sums[(high ? 0 : plane) + idx] = sum;
          }
        }
#pragma unroll
    for (int j = 0; j < TokenTiles; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i)
        offset[j][i] = 0;
  };

#pragma unroll
  for (int s = 0; s < S - 1; ++s)
    issue_w(t_begin + s, s);

  const int x_lane_offset = g * K::x_row_bytes + 32 * t;
  int stage = 0; // ring stage of the current tile
  for (int tile = t_begin; tile < t_end; ++tile) {
    const int in_chunk = (tile - t_begin) % K::chunk_tiles;
    if (in_chunk == 0) {
      __syncthreads(); // every warp is done with the previous chunk
      stage_x(tile);
      __syncthreads();
    }
    // Refill the stage the previous tile used (this thread read it; nobody else does), then
    // wait for the current tile's group.
    issue_w(tile + S - 1, stage == 0 ? S - 1 : stage - 1);
    ptx::cp_async_wait<S - 1>();
    uint4 cur[RT][2];
#pragma unroll
    for (int r = 0; r < RT; ++r)
#pragma unroll
      for (int h = 0; h < 2; ++h)
        cur[r][h] = ptx::ld_shared_v4(ring_thread + K::ring_offset(stage, 2 * r + h, 0));
    stage = stage == S - 1 ? 0 : stage + 1;

    std::uint32_t b[TokenTiles][8];
#pragma unroll
    for (int j = 0; j < TokenTiles; ++j) {
      const uint4* src = reinterpret_cast<const uint4*>(
          smem + x_lane_offset + 8 * j * K::x_row_bytes + in_chunk * K::block_k);
      const uint4 v0 = src[0], v1 = src[1];
      b[j][0] = v0.x, b[j][1] = v0.y, b[j][2] = v0.z, b[j][3] = v0.w;
      b[j][4] = v1.x, b[j][5] = v1.y, b[j][6] = v1.z, b[j][7] = v1.w;
    }
#pragma unroll
    for (int r = 0; r < RT; ++r) {
      const std::uint32_t wa[4] = {cur[r][0].x, cur[r][0].y, cur[r][0].z, cur[r][0].w};
      const std::uint32_t wb[4] = {cur[r][1].x, cur[r][1].y, cur[r][1].z, cur[r][1].w};
#pragma unroll
      for (int st = 0; st < 4; ++st) {
        const std::uint32_t a0 = int4_even_u8(wa[st]), a2 = int4_odd_u8(wa[st]);
        const std::uint32_t a1 = int4_even_u8(wb[st]), a3 = int4_odd_u8(wb[st]);
#pragma unroll
        for (int j = 0; j < TokenTiles; ++j)
          mma_16832<true>(acc[r][j], a0, a1, a2, a3, b[j][2 * st], b[j][2 * st + 1]);
      }
    }
    // The offset: -8 * sum_k x[m][k] for every channel, once per token tile (A = all -8).
    constexpr std::uint32_t kMinus8 = 0xF8F8F8F8u;
#pragma unroll
    for (int st = 0; st < 4; ++st)
#pragma unroll
      for (int j = 0; j < TokenTiles; ++j)
        mma_16832<false>(offset[j], kMinus8, kMinus8, kMinus8, kMinus8, b[j][2 * st],
                         b[j][2 * st + 1]);

    // Segment ends: the high or low range (or this split's part of it), or with per-group
    // weight scales every tile (Kh is then a multiple of 128, so tile index = group index).
    const bool high = tile < tiles_high;
    if (grouped || tile == tiles_high - 1 || tile == t_end - 1)
      end_segment(high, grouped ? tile : 0);
  }
  ptx::cp_async_wait<0>(); // no copy outlives the CTA (the trailing groups are empty)

  if (p.splits > 1) {
    // The last CTA of this output tile to finish folds the totals.
    __threadfence();
    __syncthreads();
    if (tid == 0) {
      const unsigned tile_id = blockIdx.z * gridDim.x + blockIdx.x;
      last_flag = atomicAdd(p.split_counters + tile_id, 1u) == gridDim.y - 1;
    }
    __syncthreads();
    if (!last_flag)
      return;
    __threadfence();
  }

  // Epilogue (split K: the last CTA first folds the totals of the sum planes), then bias, one
  // rounding to bf16/fp16, 16-bit stores (Y is small at this M).
  const std::size_t plane = static_cast<std::size_t>(p.m) * p.n;
#pragma unroll
  for (int r = 0; r < RT; ++r)
#pragma unroll
    for (int j = 0; j < TokenTiles; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int n = channel(r, i), m = token(j, i);
        if (n >= p.n || m >= p.m)
          continue;
        float v = out[r][j][i];
        if (p.splits > 1) {
          const std::size_t idx = static_cast<std::size_t>(m) * p.n + n;
          const std::int32_t sum_high = __ldcg(p.partials + idx);
          const std::int32_t sum_low = __ldcg(p.partials + plane + idx);
          v = fold_channel_sums(p, m, n, sum_high, sum_low);
          store_int_sums(p, idx, sum_high, sum_low);
        }
        store_output(p, m, n, v);
      }
#endif
}

} // namespace sqformat::gpu::detail

// sqformat/gpu/gemm/detail/w4a_sq_static_mma_stream_kernel.cuh: W4A(SQ) static decode that
// streams W from global memory straight into mma.sync fragments (W4ASqMmaStreamPolicy; sm_80 and
// newer; per-channel weight scales). Same mathematics and epilogue as the other W4A(SQ) kernels:
// exact int32 sums of the high and the low block, the finalize epilogue, bit-identical output.
//
// Why. The GEMV kernel (dp4a) issues 2 dp4a per 8 weights and token, which is fine at 1-4 tokens
// and too much at 16; the wgmma decode kernels need a TMA/shared-memory pipeline for W and a
// 64-row tile. Here one m16n8k32 MMA covers 16 rows x 32 columns x 8 tokens, and each thread's
// A fragment comes from its own 16-byte global loads: no shared memory for W, no barrier for it.
//
// Fragments. Warp rows n0 .. n0+15; thread (g = lane / 4, t = lane % 4) loads 32 bytes (64 codes)
// of rows g and g+8 per step of 256 columns: columns 64t .. 64t+63 of the step. Word m (0..7) of
// those 32 bytes holds columns 64t + 8m + [0, 8); its even codes (low nibbles) are the thread's
// A k-slots 4t..4t+3 of MMA m (a0 row g, a1 row g+8) and its odd codes the slots 16+4t..16+4t+3
// (a2, a3): one LOP3 (and a shift) per 4 codes, in offset binary (u8 = c + 8). The order of k
// inside an MMA is free as long as B agrees, so X is staged per token and step in the same order:
// for thread t and MMA m, the even columns' bytes (b0) then the odd ones' (b1).
//
// Offset. u8 x s8 sums are Σ c·x + 8·Σ x; the CTA adds each token's Σ x of both blocks while it
// stages X and subtracts 8·Σ x at the end (exact for K < 2^20).
//
// Work split. A CTA owns 16 * RowTiles rows; its warps are RowTiles x KWarps: warp (rt, kq) takes
// row tile rt and the steps i with i % KWarps == kq (steps of the high block [0, Kh), then of the
// low block [Kh, K); a step that passes its block's end reads zero weights for the missing
// columns). X is staged in chunks of 64 KB (64 KB / (256 x tokens) steps) shared by all warps;
// W loads run StepsInFlight steps ahead across chunks. At the end the KWarps partial sums of a
// row tile are added in shared memory (integers: any order) and each of the row tile's warps
// finishes a KWarps-th of its outputs.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "w4a_sq_static_gemv_kernel.cuh"
#include "w4a_sq_static_mma_kernel.cuh"
#include "w4a_sq_static_params.hpp"
#include "x_split_loader.cuh"

namespace sqformat::gpu::detail {

template <class Policy, int Tokens> struct W4ASqMmaStreamShape {
  static_assert(Tokens == 8 || Tokens == 16, "W4ASqMmaStreamShape: Tokens must be 8 or 16");
  static constexpr int token_tiles = Tokens / 8; ///< MMA columns of 8 tokens
  static constexpr int row_tiles = Policy::row_tiles;
  static constexpr int k_warps = Policy::k_warps;
  static constexpr int warps = row_tiles * k_warps;
  static constexpr int threads = 32 * warps;
  static constexpr int block_rows = 16 * row_tiles;
  static constexpr int step_k = 256;
  static constexpr int chunk_steps = 65536 / (step_k * Tokens); ///< 64 KB of staged X
  /// Staged X row of one token: chunk_steps * 256 bytes plus 64, so that the two tokens a quarter
  /// warp reads (16 bytes at 16t) fall on different banks.
  static constexpr int x_stride = chunk_steps * step_k + 64;
  static constexpr int x_bytes = Tokens * x_stride;
  static constexpr int partial_ints = warps * 32 * 8 * token_tiles; ///< end-of-K exchange
  static constexpr int smem_bytes =
      (x_bytes > partial_ints * 4 ? x_bytes : partial_ints * 4) + 2 * Tokens * 4;
};

template <int LowBits, class Policy, int Tokens>
__global__ void __launch_bounds__(32 * Policy::row_tiles * Policy::k_warps)
    w4a_sq_static_mma_stream_kernel(const __grid_constant__ W4ASqStaticParams p) {
  using S = W4ASqMmaStreamShape<Policy, Tokens>;
  constexpr int NT = S::token_tiles, KW = S::k_warps, D = Policy::steps_in_flight;
  constexpr int T = Tokens;
  extern __shared__ __align__(16) std::uint8_t smem[];
  constexpr int kSumOffset = S::x_bytes > S::partial_ints * 4 ? S::x_bytes : S::partial_ints * 4;
  int* x_sum = reinterpret_cast<int*>(smem + kSumOffset); // [block][token]

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int rt = warp / KW, kq = warp % KW;
  const int t0 = blockIdx.z * T;
  const int n0 = blockIdx.x * S::block_rows + 16 * rt;
  if (threadIdx.x < 2 * T)
    x_sum[threadIdx.x] = 0;
  const std::uint32_t opaque_zero = static_cast<std::uint32_t>(p.k) >> 31; // k > 0
  const std::uint32_t eights = 0x08080808u | opaque_zero;

  const int steps_high = (p.k_high + S::step_k - 1) / S::step_k;
  const int steps_low = (p.k_low + S::step_k - 1) / S::step_k;
  const int steps = steps_high + steps_low;
  const std::size_t w_row_bytes = static_cast<std::size_t>(p.k) / 2;

  // First column of the thread's 64 in step i, and how many of them are in the block (0, 32, 64).
  auto step_cols = [&](int i, int& col, int& valid) {
    const bool low = i >= steps_high;
    const int rel = (low ? i - steps_high : i) * S::step_k + 64 * t;
    const int len = low ? p.k_low : p.k_high;
    col = (low ? p.k_high : 0) + rel;
    valid = rel >= len ? 0 : (len - rel >= 64 ? 64 : len - rel);
  };
  // The thread's 32 bytes of rows g and g+8 in its j-th step (zero codes where not valid).
  auto load_w = [&](int j, uint4(&wv)[4]) {
    const int i = kq + j * KW;
#pragma unroll
    for (int q = 0; q < 4; ++q)
      wv[q] = make_uint4(0x88888888u, 0x88888888u, 0x88888888u, 0x88888888u);
    if (i >= steps)
      return;
    int col, valid;
    step_cols(i, col, valid);
#pragma unroll
    for (int h = 0; h < 2; ++h) { // rows g, g+8
      const int row = n0 + g + 8 * h;
      if (row >= p.n)
        continue;
      const uint4* src = reinterpret_cast<const uint4*>(p.w + row * w_row_bytes + col / 2);
      if (valid >= 32)
        wv[2 * h] = __ldcs(src);
      if (valid >= 64)
        wv[2 * h + 1] = __ldcs(src + 1);
    }
  };

  uint4 ring[D][4];

  std::int32_t c_high[NT][4], c_low[NT][4];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      c_high[nt][e] = c_low[nt][e] = 0;

  // X staging. Unit u of a chunk: 32-column half h = u & 1 of thread slot ts = (u >> 1) & 3 of
  // token tok = (u >> 3) % T in step s = (u >> 3) / T of the chunk. The 8 units of one (token,
  // step) are an aligned group of 8 lanes: their Σx is 3 shuffles and one atomic. A chunk has at
  // most 2048 units (64 KB / 32 B); a thread takes units threadIdx.x + k * threads in batches of
  // at most 4, whose loads are all issued before any unit is split (one load latency a batch). The
  // first batch of the next chunk is loaded before the warps compute on the current one, so that
  // its latency is hidden behind the MMAs (4 with the default 512 threads: all of a thread's
  // units).
  constexpr int kUnits = (T * S::chunk_steps * 8 + S::threads - 1) / S::threads;
  constexpr int kBatch = kUnits < 4 ? kUnits : 4;
  constexpr int kBatches = (kUnits + kBatch - 1) / kBatch;
  struct Unit {
    int tok, s, ts, h, rel;
    bool low, ok;
  };
  auto unit = [&](int chunk, int k) {
    const int n_steps = min(S::chunk_steps, steps - chunk);
    const int u = k * S::threads + threadIdx.x;
    Unit x;
    x.h = u & 1, x.ts = (u >> 1) & 3, x.tok = (u >> 3) % T, x.s = (u >> 3) / T;
    const int i = chunk + x.s;
    x.low = i >= steps_high;
    x.rel = (x.low ? i - steps_high : i) * S::step_k + 64 * x.ts + 32 * x.h;
    x.ok = x.s < n_steps && t0 + x.tok < p.m && x.rel < (x.low ? p.k_low : p.k_high);
    return x;
  };
  std::uint32_t x_raw[kBatch][8];
  auto load_x = [&](int chunk, int batch) {
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const Unit x = unit(chunk, batch * kBatch + b);
      if (x.ok)
        load_x32_raw<LowBits>(p, t0 + x.tok, x.low, x.rel, x_raw[b]);
    }
  };
  auto store_x = [&](int chunk, int batch) {
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const Unit x = unit(chunk, batch * kBatch + b);
      std::int32_t sum = 0;
      if (x.ok) {
        std::uint32_t split[8]; // words m = 4h .. 4h+3 of slot ts: (even, odd) bytes
        sum = split_x32_sum<LowBits>(x_raw[b], x.low, split);
        // Layout per token and step: [q = m / 2][slot ts][16 B: e(2q), o(2q), e(2q+1), o(2q+1)].
        std::uint8_t* dst = smem + x.tok * S::x_stride + x.s * S::step_k + 16 * x.ts;
        *reinterpret_cast<uint4*>(dst + 64 * (2 * x.h)) =
            make_uint4(split[0], split[1], split[2], split[3]);
        *reinterpret_cast<uint4*>(dst + 64 * (2 * x.h + 1)) =
            make_uint4(split[4], split[5], split[6], split[7]);
      }
      sum += __shfl_xor_sync(0xffffffffu, sum, 4);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      if ((lane & 7) == 0 && x.ok)
        atomicAdd(&x_sum[(x.low ? 1 : 0) * T + x.tok], sum);
    }
  };

  int j = 0;    // this warp's step count
  load_x(0, 0); // first: every warp waits for the first chunk's X, the W ring has slack
#pragma unroll
  for (int d = 0; d < D; ++d)
    load_w(d, ring[d]);
  for (int chunk = 0; chunk < steps; chunk += S::chunk_steps) {
    const int n_steps = min(S::chunk_steps, steps - chunk);
    __syncthreads(); // every warp is done with the previous chunk's X
    store_x(chunk, 0);
#pragma unroll 1
    for (int batch = 1; batch < kBatches; ++batch) {
      load_x(chunk, batch);
      store_x(chunk, batch);
    }
    __syncthreads(); // the chunk's X is staged
    if (chunk + S::chunk_steps < steps)
      load_x(chunk + S::chunk_steps, 0);

    // This warp's steps in the chunk: i = chunk + s with i % KW == kq.
    for (int i = chunk + ((kq - chunk % KW) % KW + KW) % KW; i < chunk + n_steps; i += KW, ++j) {
      uint4 wv[4];
#pragma unroll
      for (int q = 0; q < 4; ++q)
        wv[q] = ring[0][q];
#pragma unroll
      for (int d = 0; d + 1 < D; ++d)
#pragma unroll
        for (int q = 0; q < 4; ++q)
          ring[d][q] = ring[d + 1][q];
      load_w(j + D, ring[D - 1]);

      const bool low = i >= steps_high;
      const std::uint8_t* xrow = smem + (i - chunk) * S::step_k + 16 * t;
#pragma unroll
      for (int q = 0; q < 4; ++q) { // MMAs m = 2q, 2q+1
        uint4 xv[NT];
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
          xv[nt] = *reinterpret_cast<const uint4*>(xrow + (8 * nt + g) * S::x_stride + 64 * q);
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int m = 2 * q + e;
          // Word m of the thread's 32 bytes: uint4 m / 4 of the row, component m % 4.
          const uint4 wa = wv[m / 4], wb = wv[2 + m / 4];
          const std::uint32_t word_a = (m % 4 == 0)   ? wa.x
                                       : (m % 4 == 1) ? wa.y
                                       : (m % 4 == 2) ? wa.z
                                                      : wa.w;
          const std::uint32_t word_b = (m % 4 == 0)   ? wb.x
                                       : (m % 4 == 1) ? wb.y
                                       : (m % 4 == 2) ? wb.z
                                                      : wb.w;
          const std::uint32_t a0 = and_xor(word_a, eights), a2 = and_xor(word_a >> 4, eights);
          const std::uint32_t a1 = and_xor(word_b, eights), a3 = and_xor(word_b >> 4, eights);
#pragma unroll
          for (int nt = 0; nt < NT; ++nt) {
            const std::uint32_t b0 = e == 0 ? xv[nt].x : xv[nt].z;
            const std::uint32_t b1 = e == 0 ? xv[nt].y : xv[nt].w;
            if (low)
              mma_16832<true>(c_low[nt], a0, a1, a2, a3, b0, b1);
            else
              mma_16832<true>(c_high[nt], a0, a1, a2, a3, b0, b1);
          }
        }
      }
    }
  }

  // Add the KWarps partial sums of each row tile and finish them, shared by the row tile's warps:
  // every warp stores its 8 * NT sums (layout [warp][value][lane]: conflict-free), and warp kq
  // adds and finishes the values v = 4 nt + e with v % KWarps == kq (integers: any order). The X
  // area is free after the first barrier.
  __syncthreads();
  int* partial = reinterpret_cast<int*>(smem);
  {
    int* dst = partial + warp * (8 * NT * 32) + lane;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        dst[(8 * nt + e) * 32] = c_high[nt][e];
        dst[(8 * nt + 4 + e) * 32] = c_low[nt][e];
      }
  }
  __syncthreads();

  // Epilogue: value (nt, e) is row g (e < 2) or g+8, token 8 nt + 2t + (e & 1).
#pragma unroll
  for (int v = 0; v < 4 * NT; ++v) {
    if (v % KW != kq)
      continue;
    const int nt = v / 4, e = v % 4;
    const int n = n0 + g + (e < 2 ? 0 : 8), tok = 8 * nt + 2 * t + (e & 1), m = t0 + tok;
    if (n >= p.n || m >= p.m)
      continue;
    std::int32_t high = 0, low = 0;
#pragma unroll
    for (int w = 0; w < KW; ++w) {
      const int* src = partial + (rt * KW + w) * (8 * NT * 32) + lane;
      high += src[(8 * nt + e) * 32];
      low += src[(8 * nt + 4 + e) * 32];
    }
    const std::int32_t sum_high = high - 8 * x_sum[tok];
    const std::int32_t sum_low = low - 8 * x_sum[T + tok];
    store_output(p, m, n, fold_channel_sums(p, m, n, sum_high, sum_low));
    store_int_sums(p, static_cast<std::size_t>(m) * p.n + n, sum_high, sum_low);
  }
}

} // namespace sqformat::gpu::detail

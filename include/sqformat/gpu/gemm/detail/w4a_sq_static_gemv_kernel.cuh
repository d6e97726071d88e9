// sqformat/gpu/gemm/detail/w4a_sq_static_gemv_kernel.cuh: W4A(SQ) static decode on CUDA cores
// (W4ASqGemvPolicy; sm_80 and newer), for few tokens:
//
//   Y[m, n] = s_w[n] · ( s_hi[m] · Σ_{k<Kh} X_high[m,k] · W[n,k]
//                      + s_lo[m] · Σ_{k<Kl} X_low[m,k]  · W[n,Kh+k] )     (+ bias[n])
//
// with both sums exact int32 (dp4a) and the float epilogue of w4a_sq_static_finalize.cuh, so the
// output is bit-identical to the other W4A(SQ) kernels and to the host reference rounded once.
//
// Why CUDA cores: at M <= 8 a tensor-core tile computes mostly padding, and the wgmma decode
// kernels stream W at 1.2-1.6 TB/s on an H100. Here every weight byte is read once with 16-byte
// streaming loads and used for all tokens of the tile with 2 dp4a per 8 weights and token; the
// INT4 codes are widened with one LOP3 (even codes) or a shift and a LOP3 (odd codes) per word.
//
// Work split. A warp owns R consecutive rows of W (R * Tokens <= 32) and walks K in steps of 1024
// columns of one segment (high block [0, Kh), then low block [Kh, K)); in a step lane l takes the
// 32 columns [32l, 32l + 32) of every row: one 16-byte load per row. A step that passes the
// segment's end leaves the lanes past it idle (their weights read as zeros).
//
// Weights in offset binary. Code c = n ^ 8 - 8 for nibble n; (n ^ 8) = c + 8 lies in [0, 15] and
// dp4a.u32.s32 multiplies it with the signed activation bytes, so a lane's sum is
// Σ c·x + 8·Σ x. The block adds every token's Σ x of each segment while it stages X and
// subtracts 8·Σ x once at the end (exact: |sum| < 15 · 127 · K < 2^31 for K < 2^20).
//
// Activations. The block stages X of a chunk of 32 / Tokens steps (32 KB; both blocks' steps, so
// that for one token a K of up to 32 steps is staged once, behind one barrier: 28672 with
// Kh = 3584 takes 28; each block's partial last step takes a whole one) in shared memory as INT8
// (X_low widened from its packed bits, x_split_loader.cuh), split for dp4a: for the 8 columns of
// word c of lane l's 32, the even columns' bytes (x0, x2, x4, x6) then the odd ones' (x1, x3, x5,
// x7), matching the even (low) and odd (high) nibbles of the weight word. Lane l's 32 bytes of a
// step lie at 16l (words 0, 1) and 512 + 16l (words 2, 3): conflict-free 16-byte reads.
//
// Reduction. After each segment the R * Tokens sums of a warp are added across its 32 lanes by a
// reduce-scatter butterfly (31 shuffles for 32 values): lane l then holds the total of value
// l >> (5 - log2(R * Tokens)), value r * Tokens + t being row r, token t.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "w4a_sq_static_finalize.cuh"
#include "w4a_sq_static_params.hpp"
#include "x_split_loader.cuh"

namespace sqformat::gpu::detail {

/// Shape of the GEMV kernel for a token tile of `Tokens` (1, 2, 4, 8 or 16).
template <class Policy, int Tokens> struct W4ASqGemvShape {
  static_assert(Tokens == 1 || Tokens == 2 || Tokens == 4 || Tokens == 8 || Tokens == 16,
                "W4ASqGemvShape: Tokens must be 1, 2, 4, 8 or 16");
  static constexpr int rows_per_warp =
      Policy::rows_per_warp * Tokens <= 32 ? Policy::rows_per_warp : 32 / Tokens;
  static constexpr int values = rows_per_warp * Tokens; ///< sums per warp (a power of 2, <= 32)
  static constexpr int warps = Policy::warps;
  static constexpr int threads = 32 * warps;
  static constexpr int block_rows = warps * rows_per_warp;
  static constexpr int step_k = 1024;             ///< columns of one warp step (32 lanes x 32)
  static constexpr int chunk_steps = 32 / Tokens; ///< 32 KB of staged X
  static constexpr int chunk_k = chunk_steps * step_k;
  static constexpr int x_bytes = Tokens * chunk_k;
  static constexpr int smem_bytes = x_bytes + 2 * Tokens * 4; ///< staged X, then Σx per segment
  /// X pieces a thread stages per chunk (1024 of 32 columns), and how many it loads before it
  /// splits any (see the kernel's "X staging").
  static constexpr int x_units = (1024 + threads - 1) / threads;
  static constexpr int x_batch_max = Tokens == 1 ? 1 : Tokens == 2 ? 2 : 4;
  static constexpr int x_batch = x_units < x_batch_max ? x_units : x_batch_max;
  /// CTAs a SM the registers are held to: at 256 threads or fewer 4 for one token (64
  /// registers) and 2 for 2 or 4 (128), when the W a warp holds (ring and current step) is at
  /// most 12 16-byte words per lane (the default: 4 rows x 3 steps); wider rings would spill
  /// under that cap. Four CTAs a SM at one token make a grid of up to 528 CTAs (14336 rows) one
  /// wave on an H100 and 896 (28672 rows) 1.7 instead of 2.3 (docs/performance.md). With 3-bit
  /// low codes (their widening needs more registers) the one-token kernel spills 28 bytes at
  /// that cap (sm_90a; none at the 80 registers of 3 CTAs); measured on an H100 it ran within a
  /// few percent of 3 CTAs a SM either way, faster where 4 CTAs fill the SMs better
  /// (docs/performance.md), so it keeps the cap.
  static constexpr bool small_ring = rows_per_warp * (Policy::steps_in_flight + 1) <= 12;
  static constexpr int min_blocks = !(threads <= 256 && small_ring) ? 1
                                    : Tokens == 1                   ? 4
                                    : Tokens <= 4                   ? 2
                                                                    : 1;
};

/// a & b ^ c with `b` an immediate and `c` a register (one LOP3; with two immediates it takes two).
__device__ __forceinline__ std::uint32_t and_xor(std::uint32_t a, std::uint32_t c_reg) {
  std::uint32_t d;
  asm("lop3.b32 %0, %1, %2, %3, 0x6A;\n" : "=r"(d) : "r"(a), "n"(0x0F0F0F0F), "r"(c_reg));
  return d;
}

/// d = Σ_b a.u8[b] · b.s8[b] + c (unsigned weight bytes, signed activation bytes).
__device__ __forceinline__ std::int32_t dp4a_us(std::uint32_t a, std::uint32_t b, std::int32_t c) {
  std::int32_t d;
  asm("dp4a.u32.s32 %0, %1, %2, %3;\n" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}

/// One halving level of reduce_scatter: N values left, partner lane at distance Off; a lane with
/// bit Off set keeps the upper half. (Recursion, so that every index is a compile-time constant
/// and the values stay in registers.)
template <int N, int Off, int V>
__device__ __forceinline__ void reduce_scatter_level(std::int32_t (&v)[V], int lane) {
  if constexpr (N > 1) {
    const bool upper = (lane & Off) != 0;
#pragma unroll
    for (int i = 0; i < N / 2; ++i) {
      const std::int32_t keep = upper ? v[i + N / 2] : v[i];
      const std::int32_t send = upper ? v[i] : v[i + N / 2];
      v[i] = keep + __shfl_xor_sync(0xffffffffu, send, Off);
    }
    reduce_scatter_level<N / 2, Off / 2>(v, lane);
  } else {
#pragma unroll
    for (int off = Off; off >= 1; off >>= 1)
      v[0] += __shfl_xor_sync(0xffffffffu, v[0], off);
  }
}

/// Adds v[0..V) across the warp's lanes; lane l ends with the total of value l >> (5 - log2 V) in
/// v[0] (every lane with the same top log2(V) bits holds the same total).
template <int V> __device__ __forceinline__ void reduce_scatter(std::int32_t (&v)[V], int lane) {
  static_assert(V >= 1 && V <= 32 && (V & (V - 1)) == 0, "reduce_scatter: V a power of 2 <= 32");
  reduce_scatter_level<V, 16>(v, lane);
}

template <int LowBits, class Policy, int Tokens>
__global__ void __launch_bounds__(32 * Policy::warps, W4ASqGemvShape<Policy, Tokens>::min_blocks)
    w4a_sq_static_gemv_kernel(const __grid_constant__ W4ASqStaticParams p) {
  using S = W4ASqGemvShape<Policy, Tokens>;
  constexpr int R = S::rows_per_warp, T = Tokens, V = S::values;
  constexpr int D = Policy::steps_in_flight;
  extern __shared__ __align__(16) std::uint8_t smem[];
  std::uint8_t* xs = smem;
  int* x_sum = reinterpret_cast<int*>(smem + S::x_bytes); // [segment][token]

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int t0 = blockIdx.z * T;
  const int row0 = blockIdx.x * S::block_rows + warp * R;
  if (threadIdx.x < 2 * T)
    x_sum[threadIdx.x] = 0;
  // Constants the compiler cannot fold into immediates (see and_xor).
  const std::uint32_t opaque_zero = static_cast<std::uint32_t>(p.k) >> 31; // k > 0
  const std::uint32_t eights = 0x08080808u | opaque_zero;

  const int steps_high = (p.k_high + S::step_k - 1) / S::step_k;
  const int steps_low = (p.k_low + S::step_k - 1) / S::step_k;
  const int steps = steps_high + steps_low;
  const std::size_t w_row_bytes = static_cast<std::size_t>(p.k) / 2;

  // Lane's 16 bytes of each row in step i (the zero code pattern 0x88.. where idle: it widens to
  // offset-binary zeros).
  auto load_w = [&](int i, uint4(&wv)[R]) {
    int col = -1;
    if (i < steps) {
      const bool low = i >= steps_high;
      const int rel = (low ? i - steps_high : i) * S::step_k + 32 * lane;
      if (rel < (low ? p.k_low : p.k_high))
        col = (low ? p.k_high : 0) + rel;
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      wv[r] = make_uint4(0x88888888u, 0x88888888u, 0x88888888u, 0x88888888u);
      if (col >= 0 && row0 + r < p.n)
        wv[r] = __ldcs(reinterpret_cast<const uint4*>(p.w + (row0 + r) * w_row_bytes + col / 2));
    }
  };

  uint4 ring[D][R];
#pragma unroll
  for (int d = 0; d < D; ++d)
    load_w(d, ring[d]);

  std::int32_t acc[V], high_total = 0;
#pragma unroll
  for (int v = 0; v < V; ++v)
    acc[v] = 0;

  // X staging. Unit u of a chunk: lane piece l = u % 32 (32 columns) of token t = (u / 32) % T in
  // step s = u / (32 T) of the chunk (a chunk may hold steps of both blocks). t and s are the same
  // on all lanes of a warp, so the Σx of the 32 pieces is one warp reduction and one shared-memory
  // atomic. A chunk has 1024 units (32 KB / 32 B); a thread takes units threadIdx.x + k * threads
  // in batches of S::x_batch (1 unit at one token, 2 at two, at most 4 above): it loads a batch's
  // units before it splits any, so that a batch costs one load latency instead of one per unit.
  // With the default policy the kernel is held to 4 CTAs a SM at one token (64 registers) and to
  // 2 at two and four tokens (128 registers; 256 CTAs at N = 8192 stay one wave).
  constexpr int kBatch = S::x_batch;
  struct Unit {
    int t, s, l, rel;
    bool low, ok;
  };
  auto unit = [&](int chunk_step, int k) {
    const int n_steps = min(S::chunk_steps, steps - chunk_step);
    const int u = k * S::threads + threadIdx.x;
    Unit x;
    x.l = u % 32, x.t = (u / 32) % T, x.s = u / (32 * T);
    const int i = chunk_step + x.s;
    x.low = i >= steps_high;
    x.rel = (x.low ? i - steps_high : i) * S::step_k + 32 * x.l;
    x.ok = x.s < n_steps && t0 + x.t < p.m && x.rel < (x.low ? p.k_low : p.k_high);
    return x;
  };
  auto stage_x = [&](int chunk_step) {
    const int units = T * min(S::chunk_steps, steps - chunk_step) * 32;
#pragma unroll 1
    for (int k0 = 0; k0 * S::threads < units; k0 += kBatch) {
      std::uint32_t x_raw[kBatch][8] = {};
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        const Unit x = unit(chunk_step, k0 + b);
        if (x.ok)
          load_x32_raw<LowBits>(p, t0 + x.t, x.low, x.rel, x_raw[b]);
      }
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        const Unit x = unit(chunk_step, k0 + b);
        std::int32_t sum = 0;
        if (x.ok) {
          std::uint32_t split[8]; // (even, odd) bytes of each 8-column word
          sum = split_x32_sum<LowBits>(x_raw[b], x.low, split);
          std::uint8_t* dst = xs + x.t * S::chunk_k + x.s * S::step_k + 16 * x.l;
          *reinterpret_cast<uint4*>(dst) = make_uint4(split[0], split[1], split[2], split[3]);
          *reinterpret_cast<uint4*>(dst + 512) = make_uint4(split[4], split[5], split[6], split[7]);
        }
        // Every lane of the warp takes part (x.t and x.s are the warp's; __reduce_add_sync would
        // need sm_80 to compile).
#pragma unroll
        for (int off = 16; off >= 1; off >>= 1)
          sum += __shfl_xor_sync(0xffffffffu, sum, off);
        if (x.l == 0 && x.s < min(S::chunk_steps, steps - chunk_step) && t0 + x.t < p.m)
          atomicAdd(&x_sum[(x.low ? 1 : 0) * T + x.t], sum);
      }
    }
  };

  for (int chunk_step = 0; chunk_step < steps; chunk_step += S::chunk_steps) {
    const int n_steps = min(S::chunk_steps, steps - chunk_step);
    __syncthreads(); // every warp is done with the previous chunk's X
    stage_x(chunk_step);
    __syncthreads(); // the chunk's X is staged

    for (int s = 0; s < n_steps; ++s) {
      const int i = chunk_step + s;
      uint4 wv[R];
#pragma unroll
      for (int r = 0; r < R; ++r)
        wv[r] = ring[0][r];
#pragma unroll
      for (int d = 0; d + 1 < D; ++d)
#pragma unroll
        for (int r = 0; r < R; ++r)
          ring[d][r] = ring[d + 1][r];
      load_w(i + D, ring[D - 1]);

      const std::uint8_t* xl = xs + s * S::step_k + 16 * lane;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        std::uint32_t even[2][R], odd[2][R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const std::uint32_t w0 = h == 0 ? wv[r].x : wv[r].z, w1 = h == 0 ? wv[r].y : wv[r].w;
          even[0][r] = and_xor(w0, eights);
          odd[0][r] = and_xor(w0 >> 4, eights);
          even[1][r] = and_xor(w1, eights);
          odd[1][r] = and_xor(w1 >> 4, eights);
        }
#pragma unroll
        for (int t = 0; t < T; ++t) {
          const uint4 xv = *reinterpret_cast<const uint4*>(xl + t * S::chunk_k + 512 * h);
#pragma unroll
          for (int r = 0; r < R; ++r) {
            std::int32_t a = acc[r * T + t];
            a = dp4a_us(even[0][r], xv.x, a);
            a = dp4a_us(odd[0][r], xv.y, a);
            a = dp4a_us(even[1][r], xv.z, a);
            a = dp4a_us(odd[1][r], xv.w, a);
            acc[r * T + t] = a;
          }
        }
      }
      if (i == steps_high - 1) { // high block done: keep its totals, start the low block
        reduce_scatter<V>(acc, lane);
        high_total = acc[0];
#pragma unroll
        for (int v = 0; v < V; ++v)
          acc[v] = 0;
      }
    }
  }
  reduce_scatter<V>(acc, lane);

  // Epilogue: one lane per value (x_sum is final: the last chunk's staging ended with a barrier).
  constexpr int kLog2V = V >= 32 ? 5 : V >= 16 ? 4 : V >= 8 ? 3 : V >= 4 ? 2 : V >= 2 ? 1 : 0;
  if ((lane & ((32 >> kLog2V) - 1)) != 0)
    return;
  const int idx = lane >> (5 - kLog2V);
  const int r = idx / T, t = idx % T;
  const int n = row0 + r, m = t0 + t;
  if (n >= p.n || m >= p.m)
    return;
  const std::int32_t sum_high = high_total - 8 * x_sum[t];
  const std::int32_t sum_low = acc[0] - 8 * x_sum[T + t];
  store_output(p, m, n, fold_channel_sums(p, m, n, sum_high, sum_low));
  store_int_sums(p, static_cast<std::size_t>(m) * p.n + n, sum_high, sum_low);
}

} // namespace sqformat::gpu::detail

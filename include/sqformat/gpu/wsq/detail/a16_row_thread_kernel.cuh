// sqformat/gpu/wsq/detail/a16_row_thread_kernel.cuh: W(SQ)A16 decode for few tokens (M <= 2) on
// CUDA cores, for configurations with b = 32 or 64, INT4 low codes, INT8 high codes, H % 4 == 0.
//
// Contract: lane l of a warp owns row n0 + l; the 32 lanes of a warp walk the SAME banks (one K
// slice, blockIdx.y), so every X read from shared memory is a broadcast. A thread reads its row's
// W_low, compact W_high and scales exactly once, a group of 128/b banks (64 contiguous bytes of
// W_low, two sectors) at a time, and issues the loads of the next group before it decodes the
// current one (two groups in registers: a larger group costs occupancy, measured by ptxas).
// X of the block's current 1024-k chunk is staged once in shared memory as float, token-minor
// (xs[k * Tokens + t]), zeros past M. The K split keeps a slice within about one chunk, so the
// staging latency overlaps the first weight loads instead of stalling the block between chunks.
//
// Per bank and token, in float32: exact products code * x into a low sum (even and odd elements
// apart, for instruction-level parallelism) and a high sum, then
//     acc += s_low * (low_even + low_odd) + s_high * high.
// The slices of a row go to the workspace and are added in slice order by
// wsq_splitk_reduce_kernel. The order of every addition depends on the configuration, N, K and
// Tokens only, never on the policy.
//
// Low path, per 32-bit word (8 codes): one SWAR pass finds the sentinels (nibble 1000) and turns
// each code v into v + 8 with the sentinel as 8 (value 0); a byte permutation puts a nibble into
// the mantissa of a magic float (2^23 + v + 8 for low nibbles, 2^19 + (v + 8) for high nibbles,
// whose ulp is 1/16), and one subtraction gives v exactly: 2 instructions per code, then one FMA
// per token.
//
// High path: the bank's sentinel flags are compacted to one bit per element (two multiplies per
// word gather 8 flags, sentinel_flags_top), and the H high codes are taken in order: the t-th
// lowest set bit is the position of compact code t (t is a compile-time index, so the codes stay
// in registers). X at that position is a shared-memory read with a per-lane address (at most 2
// distinct words per memory bank for a 64-element bank).
#pragma once

#include <cstdint>
#include <type_traits>

#include "../weights_view.hpp"
#include "codes.cuh"

namespace sqformat::gpu::wsq_detail {

/// Which configurations this kernel takes.
template <class C>
inline constexpr bool
    row_thread_decode_supports = (C::bank == 32 || C::bank == 64) && C::low_bits == 4 &&
                                 C::high_bits == 8 && C::high_per_bank % 4 == 0;

constexpr int kRowThreadChunkK = 1024; ///< K elements of X staged in shared memory at a time
/// Largest M the decode dispatch sends here. The kernel takes any token tile (1, 2, 4, 8), but on
/// an H200 it was faster than the tensor-core kernel only for M <= 2 (docs/wsq.md).
constexpr int kRowThreadMaxTokens = 2;
constexpr int kRowThreadTargetWarps = 2048; ///< warps the K split aims at (about 16 per SM)

template <class C> struct RowThreadShape {
  static constexpr int bank_words = C::bank / 8; ///< 32-bit words of W_low per bank
  /// 64 bytes of W_low per row (1 for banks above 128 elements, which the kernel does not take,
  /// so that the host's slice rule never divides by zero for them).
  static constexpr int group_banks = C::bank <= 128 ? 128 / C::bank : 1;
  static constexpr int chunk_banks = kRowThreadChunkK / C::bank;
  static constexpr int high_words = C::high_per_bank / 4; ///< 32-bit words of W_high per bank
  using mask_t = std::conditional_t<C::bank == 64, unsigned long long, unsigned>;
};

/// Loads of one bank of one row.
template <class C> struct RowThreadBank {
  uint4 low[C::bank / 32];
  std::uint32_t high[C::high_per_bank / 4];
  float s_low, s_high;
};

/// 16 bytes through the non-coherent path, cached in L1: a warp's load touches half of each of 32
/// sectors (one per row) and the thread's next load the other half.
__device__ __forceinline__ uint4 load_nc(const std::uint8_t* p) {
  return __ldg(reinterpret_cast<const uint4*>(p));
}

template <class C, class T, int WarpsPerBlock, int Tokens>
__global__ void __launch_bounds__(32 * WarpsPerBlock)
    wsq_a16_row_thread_kernel(WsqWeightsView<C> w, const T* __restrict__ x, T* __restrict__ y,
                              float* __restrict__ partial, int m, int slice_banks) {
  static_assert(row_thread_decode_supports<C>, "wsq_a16_row_thread_kernel: unsupported config");
  using Shape = RowThreadShape<C>;
  using Bank = RowThreadBank<C>;
  using mask_t = typename Shape::mask_t;
  constexpr int H = C::high_per_bank, G = Shape::group_banks, CB = Shape::chunk_banks;
  __shared__ __align__(16) float xs[kRowThreadChunkK * Tokens];

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int row_out = (blockIdx.x * WarpsPerBlock + warp) * 32 + lane;
  const int row = min(row_out, w.n - 1); // rows past N read valid data, write nothing
  const int banks = w.banks();
  const int bank_begin = blockIdx.y * slice_banks;
  const int bank_end = min(banks, bank_begin + slice_banks);
  const std::uint8_t* low_row = w.low + std::size_t(row) * w.low_row_bytes();
  const std::uint8_t* high_row = w.high + std::size_t(row) * w.high_row_bytes();
  const float* s_low_row = w.scale_low + std::size_t(row) * banks;
  const float* s_high_row = w.scale_high + std::size_t(row) * banks;

  auto load_group = [&](int bank0, Bank(&dst)[G]) {
#pragma unroll
    for (int j = 0; j < G; ++j) {
      const int bank = bank0 + j;
      if (bank < bank_end) { // warp-uniform
#pragma unroll
        for (int q = 0; q < C::bank / 32; ++q)
          dst[j].low[q] = load_nc(low_row + std::size_t(bank) * (C::bank / 2) + 16 * q);
        const std::uint32_t* hp =
            reinterpret_cast<const std::uint32_t*>(high_row + std::size_t(bank) * H);
        if constexpr (H % 8 == 0) {
#pragma unroll
          for (int i = 0; i < H / 8; ++i) {
            const uint2 v = __ldg(reinterpret_cast<const uint2*>(hp) + i);
            dst[j].high[2 * i] = v.x, dst[j].high[2 * i + 1] = v.y;
          }
        } else {
#pragma unroll
          for (int i = 0; i < H / 4; ++i)
            dst[j].high[i] = __ldg(hp + i);
        }
        dst[j].s_low = __ldg(s_low_row + bank);
        dst[j].s_high = __ldg(s_high_row + bank);
      }
    }
  };

  float acc[Tokens];
#pragma unroll
  for (int t = 0; t < Tokens; ++t)
    acc[t] = 0.0f;

  // Decode one bank whose X starts at xb (shared memory, token-minor).
  auto decode_bank = [&](const Bank& bk, const float* xb) {
    float low_even[Tokens], low_odd[Tokens], high[Tokens];
#pragma unroll
    for (int t = 0; t < Tokens; ++t)
      low_even[t] = low_odd[t] = high[t] = 0.0f;
    std::uint32_t gathered[Shape::bank_words];
#pragma unroll
    for (int wi = 0; wi < Shape::bank_words; ++wi) {
      const uint4 q = bk.low[wi / 4];
      const std::uint32_t word = (wi % 4 == 0)   ? q.x
                                 : (wi % 4 == 1) ? q.y
                                 : (wi % 4 == 2) ? q.z
                                                 : q.w;
      // Bit 4j+3 of `keep` is set where code j is NOT the sentinel: low 3 bits nonzero or bit 3
      // clear. word ^ keep maps code v to v + 8 (offset binary) and the sentinel to 8 (value 0).
      const std::uint32_t nonzero3 = (word & 0x77777777u) + 0x77777777u;
      const std::uint32_t keep = 0x88888888u & (~word | nonzero3);
      const std::uint32_t biased = word ^ keep;
      const std::uint32_t even = biased & 0x0F0F0F0Fu, odd = biased & 0xF0F0F0F0u;
      gathered[wi] = sentinel_flags_top(keep ^ 0x88888888u); // flags of codes 0..7: bits 24..31
      // X is read in 16-byte broadcasts, kPairs element pairs (2 * kPairs * Tokens floats) at a
      // time, just before use: holding a whole word's X for 8 tokens costs 64 registers.
      constexpr int kPairs = Tokens == 1 ? 2 : 1;
#pragma unroll
      for (int i0 = 0; i0 < 4; i0 += kPairs) {
        float xv[2 * kPairs][Tokens];
#pragma unroll
        for (int v = 0; v < kPairs * Tokens / 2; ++v) {
          const float4 f = reinterpret_cast<const float4*>(xb + (wi * 8 + 2 * i0) * Tokens)[v];
          const float fs[4] = {f.x, f.y, f.z, f.w};
#pragma unroll
          for (int c = 0; c < 4; ++c)
            xv[(4 * v + c) / Tokens][(4 * v + c) % Tokens] = fs[c];
        }
#pragma unroll
        for (int p = 0; p < kPairs; ++p) {
          const int i = i0 + p;
          const float ce = __fsub_rn(__uint_as_float(__byte_perm(even, 0x4B000000u, 0x7540 | i)),
                                     8388616.0f); // 2^23 + 8
          const float co = __fsub_rn(__uint_as_float(__byte_perm(odd, 0x49000000u, 0x7540 | i)),
                                     524296.0f); // 2^19 + 8
#pragma unroll
          for (int t = 0; t < Tokens; ++t) {
            low_even[t] = __fmaf_rn(ce, xv[2 * p][t], low_even[t]);
            low_odd[t] = __fmaf_rn(co, xv[2 * p + 1][t], low_odd[t]);
          }
        }
      }
    }
    // One flag bit per element, in K order.
    mask_t mask;
    {
      const std::uint32_t lo01 = __byte_perm(gathered[0], gathered[1], 0x0073);
      const std::uint32_t lo23 = __byte_perm(gathered[2], gathered[3], 0x0073);
      const std::uint32_t lo = __byte_perm(lo01, lo23, 0x5410);
      if constexpr (C::bank == 64) {
        const std::uint32_t hi01 = __byte_perm(gathered[4], gathered[5], 0x0073);
        const std::uint32_t hi23 = __byte_perm(gathered[6], gathered[7], 0x0073);
        const std::uint32_t hi = __byte_perm(hi01, hi23, 0x5410);
        mask = (static_cast<unsigned long long>(hi) << 32) | lo;
      } else {
        mask = lo;
      }
    }
#pragma unroll
    for (int hw = 0; hw < H / 4; ++hw) {
      const std::uint32_t codes = bk.high[hw] ^ 0x80808080u; // offset binary: v + 128
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        int pos;
        // The top bit keeps pos inside the bank when a malformed bank (fewer than H
        // sentinels) runs out of set bits; a well-formed one never gets that far.
        if constexpr (C::bank == 64) {
          pos = __ffsll(static_cast<long long>(mask | (1ull << 63))) - 1;
        } else {
          pos = __ffs(static_cast<int>(mask | (1u << (C::bank - 1)))) - 1;
        }
        mask &= mask - 1;
        const float ch = __fsub_rn(__uint_as_float(__byte_perm(codes, 0x4B000000u, 0x7540 | i)),
                                   8388736.0f); // 2^23 + 128
        const float* xp = xb + pos * Tokens;
        if constexpr (Tokens % 4 == 0) {
#pragma unroll
          for (int v = 0; v < Tokens / 4; ++v) {
            const float4 f = reinterpret_cast<const float4*>(xp)[v];
            high[4 * v + 0] = __fmaf_rn(ch, f.x, high[4 * v + 0]);
            high[4 * v + 1] = __fmaf_rn(ch, f.y, high[4 * v + 1]);
            high[4 * v + 2] = __fmaf_rn(ch, f.z, high[4 * v + 2]);
            high[4 * v + 3] = __fmaf_rn(ch, f.w, high[4 * v + 3]);
          }
        } else if constexpr (Tokens == 2) {
          const float2 f = *reinterpret_cast<const float2*>(xp);
          high[0] = __fmaf_rn(ch, f.x, high[0]);
          high[1] = __fmaf_rn(ch, f.y, high[1]);
        } else {
          high[0] = __fmaf_rn(ch, *xp, high[0]);
        }
      }
    }
#pragma unroll
    for (int t = 0; t < Tokens; ++t) {
      const float low = __fadd_rn(low_even[t], low_odd[t]);
      acc[t] = __fadd_rn(acc[t], __fmaf_rn(bk.s_low, low, __fmul_rn(bk.s_high, high[t])));
    }
  };

  // X[t][k0 .. k0 + chunk_k) to xs as float, token-minor, zeros past M and past the chunk: 16-byte
  // loads, all issued before any store (one load at a time would expose its latency each time).
  auto stage_x = [&](int k0, int chunk_k) {
    constexpr int kVecs = kRowThreadChunkK / 8 * Tokens; // 8 x values per 16-byte load
    constexpr int kPerThread = (kVecs + 32 * WarpsPerBlock - 1) / (32 * WarpsPerBlock);
    uint4 v[kPerThread];
#pragma unroll
    for (int r = 0; r < kPerThread; ++r) {
      const int i = threadIdx.x + r * 32 * WarpsPerBlock;
      const int t = i / (kRowThreadChunkK / 8), k = (i % (kRowThreadChunkK / 8)) * 8;
      v[r] = make_uint4(0, 0, 0, 0);
      if (i < kVecs && t < m && k < chunk_k) // chunk_k is a multiple of b, so of 8
        v[r] = __ldg(reinterpret_cast<const uint4*>(x + std::size_t(t) * w.k + k0 + k));
    }
#pragma unroll
    for (int r = 0; r < kPerThread; ++r) {
      const int i = threadIdx.x + r * 32 * WarpsPerBlock;
      const int t = i / (kRowThreadChunkK / 8), k = (i % (kRowThreadChunkK / 8)) * 8;
      if (i < kVecs) {
        const std::uint32_t words[4] = {v[r].x, v[r].y, v[r].z, v[r].w};
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          const std::uint16_t bits = static_cast<std::uint16_t>(words[e / 2] >> (16 * (e % 2)));
          xs[(k + e) * Tokens + t] = Half16<T>::to_float(bits_to_half16<T>(bits));
        }
      }
    }
  };

  Bank cur[G];
  load_group(bank_begin, cur);
  for (int chunk0 = bank_begin; chunk0 < bank_end; chunk0 += CB) {
    const int chunk_end = min(bank_end, chunk0 + CB);
    const int k0 = chunk0 * C::bank, chunk_k = (chunk_end - chunk0) * C::bank;
    __syncthreads(); // the previous chunk's X is no longer read
    stage_x(k0, chunk_k);
    __syncthreads();
    for (int group = chunk0; group < chunk_end; group += G) {
      Bank next[G];
      if (group + G < bank_end)
        load_group(group + G, next);
#pragma unroll
      for (int j = 0; j < G; ++j) {
        if (group + j < chunk_end) // warp-uniform
          decode_bank(cur[j], xs + (group + j - chunk0) * C::bank * Tokens);
      }
#pragma unroll
      for (int j = 0; j < G; ++j)
        cur[j] = next[j];
    }
  }

  if (row_out < w.n) {
#pragma unroll
    for (int t = 0; t < Tokens; ++t) {
      if (t < m) {
        if (partial != nullptr) {
          partial[(std::size_t(blockIdx.y) * m + t) * w.n + row_out] = acc[t];
        } else {
          y[std::size_t(t) * w.n + row_out] = Half16<T>::from_float(acc[t]);
        }
      }
    }
  }
}

} // namespace sqformat::gpu::wsq_detail

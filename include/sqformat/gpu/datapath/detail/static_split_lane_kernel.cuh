// sqformat/gpu/datapath/detail/static_split_lane_kernel.cuh: the lane kernel of the static
// quantize-and-split (StaticSplitLanePolicy; per-token scales, configs that lane_split_ok
// accepts, K a multiple of a lane's span).
//
// The permutation of docs/layouts.md keeps every bank's channels inside the bank's own columns
// of x_high and x_low, so a lane that owns whole banks (a "span": the fewest banks after which
// both its high and its low codes end on a 32-bit word) writes its own output words and
// nothing else; no channel table and no gather of the low channels.
//
//   prologue   rows 0 .. S-2 start loading; a 256-entry table (per 8-channel mask) of the byte
//              selectors that pick the low channels' codes in order; each lane loads and checks
//              its span's entries of the high part of perm (so every block checks all of it),
//              keeps the staged offsets of its high channels in registers (the same for every
//              row) and writes its span's high mask bytes; block j then checks slice j of the
//              low part against the mask (static_split_rows.cuh)
//   per row i  1. the warp's copies of row i have landed (cp.async, coalesced, each warp
//                 stages its own 32 spans with chunks swizzled so that a lane's 16-byte reads
//                 of its span hit distinct shared-memory columns: lane::stage_warp_banks_fast);
//                 __syncwarp; row i + S - 1 starts loading into the buffer of row i - 1
//              2. the lane reads its high channels (one 16-bit read each, kept in registers)
//                 and zeroes them in the staged row; max |x| of its high values and of its
//                 whole span (the low channels and zeros); warp redux; barrier (R), the only
//                 block barrier of the row; scales (as static_split_rows.cuh)
//              3. high words: the lane's high values, quantize_values_word; low words: every
//                 chunk quantized at the low scale with one fma a value (the zeroed high
//                 channels give code 0 and a nonzero fraction), the low channels' code bytes
//                 picked in order by two byte permutes from the table (empty slots select a
//                 zero byte), folded to fields and appended to a word (its overflow kept in a
//                 second one) that is stored into the warp's output buffer whenever it is full
//              4. __syncwarp; the warp copies its output words to x_high and x_low (coalesced,
//                 16 bytes a lane where both ends allow, in a loop the compiler does not unroll)
//
// A 2- or 4-bit code whose value lies within 2^-17 of a half-integer, an 8-bit one whose residual
// lies within 2^-13 of 1/2 (every value with a subnormal scale) is redone with the IEEE division
// (quantize_code), as in the column kernel's words. Registers (sm_90a, B64-(8/4)): 72 for bf16,
// 79 for fp16, no spills. The copy-out of step 4 was once unrolled by the compiler into scalar
// word copies: 114 registers and 48 KB of code instead of 72 and 39 KB, and 1-15 points of copy
// bandwidth slower on an H100 at M >= 2048 (about 1 point faster at M = 16; docs/performance.md).
#pragma once

#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "sqformat/gpu/datapath/detail/element.cuh"
#include "sqformat/gpu/datapath/detail/quantize.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_staging.cuh"
#include "sqformat/gpu/datapath/detail/static_split_bank_ops.cuh"
#include "sqformat/gpu/datapath/detail/static_split_column_pass.cuh"
#include "sqformat/gpu/datapath/detail/static_split_rows.cuh"
#include "sqformat/gpu/datapath/detail/static_split_staging.cuh"
#include "sqformat/gpu/datapath/layout.hpp"
#include "sqformat/gpu/datapath/policy.hpp"
#include "sqformat/gpu/datapath/static_split_args.hpp"

namespace sqformat::gpu::datapath::detail {

/// The banks one lane of the lane kernel owns: the fewest after which both its packed high and
/// its packed low codes end on a 32-bit word.
template <class C> struct LaneSpan {
  static constexpr int banks = lcm(32 / gcd(C::low_per_bank * C::low_bits, 32),
                                   32 / gcd(C::high_per_bank * C::high_bits, 32));
  static constexpr int channels = banks * C::bank;
  static constexpr int chunks = channels / 8; // 16-byte chunks of a 16-bit row
  static constexpr int highs = banks * C::high_per_bank;
  static constexpr int high_words = highs * C::high_bits / 32;
  static constexpr int low_words = banks * C::low_per_bank * C::low_bits / 32;
  static constexpr int words = high_words + low_words;
};

/// Whether the lane kernel serves this config (compile time): 8- or 4-bit high codes, 4- or
/// 2-bit low codes (fields that a byte's low bits hold), a span of a power-of-two number of
/// whole chunks (at most 16: the swizzle and the registers), at most 16 high channels a span.
template <class C>
constexpr bool lane_split_ok = (C::high_bits == 8 || C::high_bits == 4) &&
                               (C::low_bits == 4 || C::low_bits == 2) &&
                               LaneSpan<C>::channels % 8 == 0 && LaneSpan<C>::chunks <= 16 &&
                               (LaneSpan<C>::chunks & (LaneSpan<C>::chunks - 1)) == 0 &&
                               LaneSpan<C>::highs <= 16 && LaneSpan<C>::highs % 4 == 0;

/// Spans of a row of k channels (0 when k is not a whole number of spans).
template <class C> SQFORMAT_HD constexpr std::int64_t lane_spans(std::int64_t k) {
  return k % LaneSpan<C>::channels == 0 ? k / LaneSpan<C>::channels : 0;
}

/// Dynamic shared memory of the lane kernel for `warps` warps: `stages` staged rows (each warp's
/// 32 spans, padded), the warps' output buffers and the high mask.
template <class C>
SQFORMAT_HD constexpr std::int64_t lane_shared_bytes(std::int64_t k, int warps, int stages) {
  return std::int64_t{stages} * warps * 32 * LaneSpan<C>::chunks * 16 +
         std::int64_t{warps} * 32 * LaneSpan<C>::words * 4 + high_mask_bytes(k);
}

/// Selectors of the low channels of an 8-channel mask m: nibble i of the low half picks the
/// byte (0..7 of two words) of the i-th low channel among channels 0..3 of the output, of the
/// high half among 4..7; empty slots hold 8 (sign of byte 0, which is always clear: a zero
/// byte).
__device__ __forceinline__ std::uint32_t low_selectors(std::uint32_t m) {
  std::uint32_t sel = 0x88888888u;
  int n = 0;
  for (int i = 0; i < 8; ++i) {
    if (((m >> i) & 1u) == 0) {
      sel = (sel & ~(0xfu << (4 * n))) | (static_cast<std::uint32_t>(i) << (4 * n));
      ++n;
    }
  }
  return sel;
}

/// prmt with a run-time selector in its generic mode: a selector nibble of 8 + i gives the sign
/// of byte i replicated (CUDA's __byte_perm only looks at the low 3 bits of each nibble).
__device__ __forceinline__ std::uint32_t permute_bytes(std::uint32_t a, std::uint32_t b,
                                                       std::uint32_t selector) {
  std::uint32_t out;
  asm("prmt.b32 %0, %1, %2, %3;" : "=r"(out) : "r"(a), "r"(b), "r"(selector));
  return out;
}

/// Stores a zero 16-bit value to shared memory, ordered before later accesses of any type (the
/// staged row is read back as 16-byte vectors).
__device__ __forceinline__ void zero_shared_half(std::uint16_t* p) {
  const auto address = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("st.shared.u16 [%0], %1;" ::"r"(address), "h"(static_cast<unsigned short>(0))
               : "memory");
}

/// Folds 8 code bytes (two words, codes in each byte's low Bits bits) into 8 Bits-bit fields.
template <int Bits>
__device__ __forceinline__ std::uint32_t fold_low_fields(std::uint32_t a, std::uint32_t b) {
  if constexpr (Bits == 4) {
    const std::uint32_t na = (a & 0x0f0f0f0fu) | ((a >> 4) & 0xf0f0f0f0u);
    const std::uint32_t nb = (b & 0x0f0f0f0fu) | ((b >> 4) & 0xf0f0f0f0u);
    return __byte_perm(na, nb, 0x6420);
  } else {
    static_assert(Bits == 2, "fold_low_fields: 2 or 4 bits");
    const std::uint32_t a2 = (a & 0x03030303u) | ((a >> 6) & 0x0c0c0c0cu);
    const std::uint32_t b2 = (b & 0x03030303u) | ((b >> 6) & 0x0c0c0c0cu);
    const std::uint32_t a4 = (a2 & 0x0fu) | ((a2 >> 12) & 0xf0u);
    const std::uint32_t b4 = (b2 & 0x0fu) | ((b2 >> 12) & 0xf0u);
    return a4 | (b4 << 8);
  }
}

/// The warp's n output words from shared memory to global memory, coalesced: 16-byte copies
/// when both ends are 16-byte aligned and n is a multiple of 4, else word by word.
__device__ __forceinline__ void copy_warp_words(std::uint32_t* dst, const std::uint32_t* src, int n,
                                                int lane) {
  if (((reinterpret_cast<std::uintptr_t>(dst) | reinterpret_cast<std::uintptr_t>(src)) & 15u) ==
          0 &&
      n % 4 == 0) {
#pragma unroll 1
    for (int v = lane; v < n / 4; v += 32)
      reinterpret_cast<uint4*>(dst)[v] = reinterpret_cast<const uint4*>(src)[v];
  } else {
#pragma unroll 1
    for (int w = lane; w < n; w += 32)
      dst[w] = src[w];
  }
}

/// Bits of the low block's words in order: append() adds n bits and stores a word to `out`
/// whenever 32 have gathered.
struct WordAppender {
  std::uint32_t low = 0;
  int bits = 0;
  std::uint32_t* out;
  __device__ __forceinline__ explicit WordAppender(std::uint32_t* o) : out(o) {}
  /// `v` holds n bits (n <= 32), zero above them.
  __device__ __forceinline__ void append(std::uint32_t v, int n) {
    low |= v << bits;
    const std::uint32_t spill = __funnelshift_l(v, 0u, static_cast<unsigned>(bits));
    bits += n;
    if (bits >= 32) {
      *out++ = low;
      low = spill;
      bits -= 32;
    }
  }
};

/// Quantizes the 8 values of one chunk (16-bit pairs in v) at the low scale into code bytes
/// (byte i of the pair of words: code i + 64, so bit 7 is clear) and returns them in c[0..1].
template <class C, class T>
__device__ __forceinline__ void low_chunk_codes(const uint4& v, float scale, float inverse,
                                                bool exact, std::uint32_t (&c)[2]) {
  const std::uint32_t pairs[4] = {v.x, v.y, v.z, v.w};
  float x[8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
    x[i] = value_of<T>(pairs[i / 2], i % 2);
  std::uint32_t t[8];
  small_codes<C::low_qmax>(x, scale, inverse, exact, t);
  c[0] = bytes_of<2>(t[0], t[1], t[2], t[3]);
  c[1] = bytes_of<2>(t[4], t[5], t[6], t[7]);
}

template <class C, class P, class T>
__device__ __forceinline__ void static_split_lane_rows(const StaticSplitArgs<T>& args, int stages) {
  using S = LaneSpan<C>;
  constexpr int Cw = S::chunks;
  constexpr int lanes_per_line = Cw >= 8 ? 1 : 8 / Cw; // as lane::warp_slot
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  __shared__ std::uint32_t warp_amax[2][2][32]; // [row parity][high, low][warp]
  __shared__ std::uint32_t selector_table[256];

  const int threads = static_cast<int>(blockDim.x), tid = static_cast<int>(threadIdx.x);
  const int lane = tid % 32, warp = tid / 32, warps = threads / 32;
  const int k = static_cast<int>(args.cols);
  const int spans = static_cast<int>(lane_spans<C>(args.cols));
  const int warp_spans = min(32, spans - 32 * warp); // >= 1: the launcher sizes the block
  const bool active = lane < warp_spans;
  const int region_bytes = warps * 32 * Cw * 16; // one staged row
  const int out_words = warps * 32 * S::words;
  std::uint32_t* const out_high =
      reinterpret_cast<std::uint32_t*>(shared_bytes + stages * region_bytes) + warp * 32 * S::words;
  std::uint32_t* const out_low = out_high + 32 * S::high_words;
  auto* const high_mask =
      reinterpret_cast<std::uint32_t*>(shared_bytes + stages * region_bytes) + out_words;

  const std::int64_t count = (args.rows - blockIdx.x + gridDim.x - 1) / gridDim.x;
  const std::int64_t row_step = gridDim.x;
  // This warp's first chunk of the block's row i is x_warp + i · x_step.
  const T* const x_warp =
      args.x + static_cast<std::int64_t>(blockIdx.x) * k + std::int64_t{warp} * 32 * S::channels;
  const std::int64_t x_step = row_step * k;
  const auto staged = static_cast<unsigned>(__cvta_generic_to_shared(shared_bytes)) +
                      static_cast<unsigned>(warp * 32 * Cw * 16);
  // One cp.async group per call (empty past the last row), so that the waits count rows.
  auto issue = [=](std::int64_t i) {
    if (i < count) {
      const T* src = x_warp + i * x_step;
      unsigned dst = staged + static_cast<unsigned>((i % stages) * region_bytes);
      // Opaque to the compiler: otherwise it hoists a row's per-chunk 64-bit source addresses
      // out of the row loop and keeps them live, which spills under a register cap.
      asm volatile("" : "+l"(src), "+r"(dst));
      lane::stage_warp_banks_fast<Cw>(dst, src, warp_spans);
    }
    cp_async_commit();
  };
  for (int s = 0; s + 1 < stages; ++s)
    issue(s);

  for (int e = tid; e < 256; e += threads)
    selector_table[e] = low_selectors(static_cast<std::uint32_t>(e));
  // This lane's entries of the high part of perm (its span's G·H columns: 16-byte loads),
  // checked as build_high_mask checks them (in range, in the column's bank, increasing along
  // the bank's run); they give the staged byte offsets of its high channels (channel order, the
  // same for every row) and its span's high mask bytes, from which the block checks its slice
  // of the low part. Every block checks the whole high part (its lanes cover the row).
  const int swizzle = 16 * ((lane / lanes_per_line) % Cw);
  const int span_index = 32 * warp + lane;
  auto* const span_mask = reinterpret_cast<std::uint8_t*>(high_mask) + span_index * Cw;
  std::uint32_t high_offset[S::highs / 4] = {};
  int bad = 0;
  if (active) {
    std::uint32_t c[S::highs];
    const auto* const src =
        reinterpret_cast<const uint4*>(args.perm + std::int64_t{span_index} * S::highs);
#pragma unroll
    for (int q = 0; q < S::highs / 4; ++q) {
      const uint4 v = src[q];
      c[4 * q] = v.x, c[4 * q + 1] = v.y, c[4 * q + 2] = v.z, c[4 * q + 3] = v.w;
    }
    constexpr int H = C::high_per_bank, mask_words = (S::channels + 31) / 32;
    const auto base = static_cast<std::uint32_t>(span_index) * S::channels;
    std::uint32_t mask[mask_words] = {};
#pragma unroll
    for (int h = 0; h < S::highs; ++h) {
      const std::uint32_t bank = base / C::bank + h / H;
      const bool ok = c[h] < static_cast<std::uint32_t>(k) && c[h] / C::bank == bank &&
                      ((h + 1) % H == 0 || c[(h + 1) % S::highs] > c[h]);
      bad |= ok ? 0 : 1;
      const std::uint32_t at = ok ? c[h] - base : 0u; // channel within the span
#pragma unroll
      for (int w = 0; w < mask_words; ++w)
        mask[w] |= at / 32 == static_cast<std::uint32_t>(w) ? 1u << (at % 32) : 0u;
      const auto offset = static_cast<std::uint32_t>(((16 * (at / 8)) ^ swizzle) + 2 * (at % 8));
      high_offset[h / 4] |= offset << (8 * (h % 4));
    }
    if constexpr (Cw == 2) {
      *reinterpret_cast<std::uint16_t*>(span_mask) = static_cast<std::uint16_t>(mask[0]);
    } else if constexpr (Cw == 4) {
      *reinterpret_cast<std::uint32_t*>(span_mask) = mask[0];
    } else if constexpr (Cw == 8) {
      *reinterpret_cast<uint2*>(span_mask) = make_uint2(mask[0], mask[1]);
    } else {
      static_assert(Cw == 16, "static_split_lane_kernel: spans of 2, 4, 8 or 16 chunks");
      *reinterpret_cast<uint4*>(span_mask) = make_uint4(mask[0], mask[1], mask[2], mask[3]);
    }
  }
  const bool high_ok = __syncthreads_or(bad) == 0; // also: the mask and the table are complete
  unsigned flags =
      (high_ok ? 0u : flag_bad_permutation) | check_low_slice<C>(args.perm, k, high_mask);

  const auto high_row = static_cast<std::int64_t>(static_high_row_bytes<C>(args.cols));
  const auto low_row = static_cast<std::int64_t>(static_low_row_bytes<C>(args.cols));
  for (std::int64_t i = 0; i < (high_ok ? count : 0); ++i) {
    if (stages == 1) {
      issue(i);
      cp_async_wait(0);
    } else {
      cp_async_wait(stages - 2);
    }
    __syncwarp();
    if (stages > 1)
      issue(i + stages - 1); // the buffer of row i - 1, which this warp is done with
    unsigned char* const span =
        shared_bytes + (i % stages) * region_bytes + (32 * warp + lane) * Cw * 16;

    // 2. High values (kept), zeroed in the staged row; maxima of |x|.
    std::uint32_t high_pairs[S::highs / 2];
    std::uint32_t pair_high = 0, pair_low = 0;
    if (active) {
#pragma unroll
      for (int h = 0; h < S::highs; h += 2) {
        const std::uint32_t o0 = __byte_perm(high_offset[h / 4], 0u, 0x4440u | (h % 4));
        const std::uint32_t o1 = __byte_perm(high_offset[h / 4], 0u, 0x4440u | ((h + 1) % 4));
        auto* const p0 = reinterpret_cast<std::uint16_t*>(span + o0);
        auto* const p1 = reinterpret_cast<std::uint16_t*>(span + o1);
        high_pairs[h / 2] = static_cast<std::uint32_t>(*p0) | static_cast<std::uint32_t>(*p1) << 16;
        zero_shared_half(p0); // read back below as part of 16-byte vectors
        zero_shared_half(p1);
        pair_high = max_pair<T>(pair_high, high_pairs[h / 2] & 0x7fff7fffu);
      }
#pragma unroll
      for (int j = 0; j < Cw; ++j) {
        const uint4 v = *reinterpret_cast<const uint4*>(span + ((16 * j) ^ swizzle));
        pair_low = max_pair<T>(pair_low, v.x & 0x7fff7fffu);
        pair_low = max_pair<T>(pair_low, v.y & 0x7fff7fffu);
        pair_low = max_pair<T>(pair_low, v.z & 0x7fff7fffu);
        pair_low = max_pair<T>(pair_low, v.w & 0x7fff7fffu);
      }
    }
    const std::int64_t row = blockIdx.x + i * row_step;
    const RowScales sc = block_row_scales<C, T>(args, row, i, pair_high, pair_low, warp_amax, flags,
                                                [] {}); // the row's one block barrier
    const float scale_high = sc.high, scale_low = sc.low;
    const float inverse_high = sc.inverse_high, inverse_low = sc.inverse_low;
    const bool exact = sc.exact;

    // 3. This lane's words into the warp's output buffer.
    if (active) {
      constexpr int per_word = 32 / C::high_bits;
#pragma unroll
      for (int w = 0; w < S::high_words; ++w) {
        float x[per_word];
#pragma unroll
        for (int c = 0; c < per_word; ++c)
          x[c] = value_of<T>(high_pairs[(w * per_word + c) / 2], c % 2);
        out_high[lane * S::high_words + w] =
            quantize_values_word<C::high_bits, C::high_qmax>(x, scale_high, inverse_high, exact);
      }
      WordAppender low(out_low + lane * S::low_words);
#pragma unroll 2
      for (int j = 0; j < Cw; ++j) {
        const uint4 v = *reinterpret_cast<const uint4*>(span + ((16 * j) ^ swizzle));
        std::uint32_t c[2];
        low_chunk_codes<C, T>(v, scale_low, inverse_low, exact, c);
        const std::uint32_t m = span_mask[j];
        const std::uint32_t sel = selector_table[m];
        const std::uint32_t fields = fold_low_fields<C::low_bits>(
            permute_bytes(c[0], c[1], sel & 0xffffu), permute_bytes(c[0], c[1], sel >> 16));
        low.append(fields, (8 - __popc(m)) * C::low_bits);
      }
    }
    __syncwarp();

    // 4. The warp's words, coalesced.
    auto* const gh =
        reinterpret_cast<std::uint32_t*>(args.x_high + row * high_row) + warp * 32 * S::high_words;
    auto* const gl =
        reinterpret_cast<std::uint32_t*>(args.x_low + row * low_row) + warp * 32 * S::low_words;
    copy_warp_words(gh, out_high, warp_spans * S::high_words, lane); // lane-major: output order
    copy_warp_words(gl, out_low, warp_spans * S::low_words, lane);
  }
  cp_async_wait(0);
  if (flags != 0)
    raise_flag(static_cast<unsigned*>(args.workspace), flags);
}

/// The kernel, with a register cap of 65536 / MaxThreads ...
template <class C, class P, class T>
__global__ void __launch_bounds__(P::max_threads, 1)
    static_split_lane_kernel(StaticSplitArgs<T> args, int stages) {
  static_split_lane_rows<C, P, T>(args, stages);
}

/// ... or of P::max_registers (more blocks a SM where the row needs few threads; __maxnreg__
/// needs CUDA 12.4, older compilers keep the 65536 / MaxThreads cap).
#if defined(__CUDACC_VER_MAJOR__) &&                                                               \
    (__CUDACC_VER_MAJOR__ > 12 || (__CUDACC_VER_MAJOR__ == 12 && __CUDACC_VER_MINOR__ >= 4))
template <class C, class P, class T>
__global__ void __maxnreg__(P::max_registers)
    static_split_lane_kernel_capped(StaticSplitArgs<T> args, int stages) {
  static_split_lane_rows<C, P, T>(args, stages);
}
#else
template <class C, class P, class T>
__global__ void __launch_bounds__(P::max_threads, 1)
    static_split_lane_kernel_capped(StaticSplitArgs<T> args, int stages) {
  static_split_lane_rows<C, P, T>(args, stages);
}
#endif

} // namespace sqformat::gpu::datapath::detail

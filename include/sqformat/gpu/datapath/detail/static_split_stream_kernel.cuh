// sqformat/gpu/datapath/detail/static_split_stream_kernel.cuh: the streaming kernel of the static
// quantize-and-split (StaticSplitStreamPolicy, the default).
//
// Persistent blocks, one token row at a time, so that the permutation is read once per block
// and kept in registers (two 16-bit source channels per word) for the whole launch, and the
// next rows of X load while the current one is quantized:
//
//   prologue   rows i = 0 .. S-1 of this block: cp.async (16 B) into S shared row buffers
//              source[j] = perm[t + j·T] for j < N (checked against the bank structure; block
//              0 also checks that no channel repeats and that each bank's runs increase)
//   per row i  wait for row i, barrier (A)
//              1. gather column p = t + j·T: v = xs[source[j]] into registers (16 bits each);
//                 max |x| of the high and the low block as magnitude bits (NaN/Inf the largest)
//              2. warp max (redux) -> shared -> every warp reduces the partials, barrier (R);
//                 row i's buffer is free now: cp.async row i + S into it
//              3. quantize the registers: t = fma(x, 1/s, 1.5·2^23) rounds to an integer whose
//                 low byte is the int8 code; r = fma(x, 1/s, -(t - 1.5·2^23)) is the exact
//                 residual; if any |r| > 1/2 - 2^-13 (x/s near a half-integer) or the scale is
//                 subnormal, the thread redoes its columns with the IEEE division (quantize_code)
//              4. codes (int8, one per column) into shared memory, barrier (B); pack 16-byte
//                 chunks (4 words: 16 INT8 or 32 INT4 codes) and store them
//
// Consecutive lanes hold consecutive columns, whose channels lie in the same or the next bank,
// so the gather reads nearby shared-memory words (few bank conflicts), and the codes are
// written as consecutive bytes. Columns beyond N·T (K larger than the registers hold) are
// gathered a second time when quantized, and their buffer is freed only after step 3.
// Per-(token, bank) scales: step 1 takes shared-memory atomicMax per bank instead, step 2
// turns them into scales, step 3 uses quantize_code (the division) per element.
#pragma once

#include <cfloat>
#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "sqformat/gpu/datapath/detail/bit_pack.cuh"
#include "sqformat/gpu/datapath/detail/element.cuh"
#include "sqformat/gpu/datapath/detail/quantize.cuh"
#include "sqformat/gpu/datapath/detail/static_split_perm_check.cuh"
#include "sqformat/gpu/datapath/detail/static_split_staging.cuh"
#include "sqformat/gpu/datapath/layout.hpp"
#include "sqformat/gpu/datapath/static_split_args.hpp"

namespace sqformat::gpu::datapath::detail {

/// Dynamic shared memory of the streaming kernel: `stages` rows of X, one row of codes, and for
/// per-(token, bank) scales one word per bank and block (high, low).
template <class C, class T>
SQFORMAT_HD constexpr std::int64_t stream_shared_bytes(std::int64_t k, int stages, bool per_bank) {
  return stages * stream_row_bytes<T>(k) +
         static_code_row_bytes(k / C::bank * C::high_per_bank, k - k / C::bank * C::high_per_bank) +
         (per_bank ? 8 * (k / C::bank) : 0);
}

template <class C, class P, class T, bool PerBank>
__global__ void __launch_bounds__(P::max_threads, 1)
    static_split_stream_kernel(StaticSplitArgs<T> args, int stages) {
  constexpr int N = P::items_per_thread, W = (N + 1) / 2;
  constexpr int H = C::high_per_bank, L = C::low_per_bank;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  __shared__ std::uint32_t warp_amax[2][32];

  const int threads = static_cast<int>(blockDim.x), tid = static_cast<int>(threadIdx.x);
  const int lane = tid % 32, warp = tid / 32;
  const int k = static_cast<int>(args.cols);
  const int banks = k / C::bank, kh = banks * H, kl = k - kh;
  const int khp = (kh + 15) / 16 * 16; // low codes start here in the code row
  const int cached = N * threads;      // columns whose value and source live in registers
  const bool tail = k > cached;
  const int row_bytes = static_cast<int>(stream_row_bytes<T>(k));
  unsigned char* const staged = shared_bytes;
  auto* const codes = reinterpret_cast<std::int8_t*>(shared_bytes + stages * row_bytes);
  auto* const bank_word = reinterpret_cast<std::uint32_t*>(shared_bytes + stages * row_bytes +
                                                           static_code_row_bytes(kh, kl));
  const std::int64_t step = gridDim.x;
  const std::int64_t count = (args.rows - blockIdx.x + step - 1) / step; // rows of this block
  const auto last = static_cast<std::uint32_t>(k - 1);
  unsigned flags = 0;

  auto issue = [&](std::int64_t i) { // row i of this block into buffer i % stages
    if (i < count)
      issue_row_copy(staged + (i % stages) * row_bytes,
                     args.x + (blockIdx.x + i * step) * args.cols, k);
    cp_async_commit(); // one group per call, empty or not, so that the waits count rows
  };
  for (int s = 0; s < stages; ++s)
    issue(s);

  // Source channel of column p, checked against the bank structure, clamped into the row.
  auto source_of = [&](int p) {
    const std::uint32_t c = args.perm[p];
    const int bank = p < kh ? p / H : (p - kh) / L;
    if (c > last || static_cast<int>(c / C::bank) != bank)
      flags |= flag_bad_permutation;
    return min(c, last);
  };
  std::uint32_t source[W];
#pragma unroll
  for (int j = 0; j < N; ++j) {
    const int p = tid + j * threads;
    const std::uint32_t c = p < k ? source_of(p) : 0u;
    if (j % 2 == 0)
      source[j / 2] = c;
    else
      source[j / 2] |= c << 16;
  }
  if (blockIdx.x == 0) // no channel repeats, each bank's runs increase (the code row as bitmap)
    flags |= check_whole_permutation<C>(args.perm, k, reinterpret_cast<std::uint32_t*>(codes));
  if constexpr (PerBank) {
    for (int b = tid; b < 2 * banks; b += threads)
      bank_word[b] = 0;
  }

  const int high_words = (kh * C::high_bits + 31) / 32, low_words = (kl * C::low_bits + 31) / 32;
  const int high_chunks = (high_words + 3) / 4, chunks = high_chunks + (low_words + 3) / 4;
  const auto high_row = static_cast<int>(static_high_row_bytes<C>(args.cols));
  const auto low_row = static_cast<int>(static_low_row_bytes<C>(args.cols));
  auto code_at = [&](int p) { return codes + (p < kh ? p : p + (khp - kh)); };
  auto bank_of = [&](int p) { return p < kh ? p / H : banks + (p - kh) / L; };

  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t row = blockIdx.x + i * step;
    cp_async_wait(stages - 1);
    __syncthreads(); // (A) row i staged by all threads; the previous row's codes are packed
    const auto* xs = reinterpret_cast<const std::uint16_t*>(staged + (i % stages) * row_bytes);
    // The column of item j is tid + j·threads. Read tid through a volatile asm so that the
    // compiler recomputes the columns each row (one IMAD each) instead of hoisting N of them,
    // and their predicates, out of the row loop into registers.
    int t0;
    asm volatile("mov.u32 %0, %%tid.x;" : "=r"(t0));

    // 1. Gather into registers; max |x| per block as magnitude bits.
    std::uint32_t value[W];
    std::uint32_t amax_high = 0, amax_low = 0;
    auto take = [&](int p, std::uint32_t m) {
      if constexpr (PerBank)
        atomicMax(&bank_word[bank_of(p)], m);
      else if (p < kh)
        amax_high = max(amax_high, m);
      else
        amax_low = max(amax_low, m);
    };
#pragma unroll
    for (int j = 0; j < N; ++j) {
      const int p = t0 + j * threads;
      std::uint32_t raw = 0;
      if (p < k) {
        // Opaque to the optimizer, so that it keeps two indices per register instead of
        // hoisting N unpacked indices out of the row loop.
        std::uint32_t pair = source[j / 2];
        asm volatile("" : "+r"(pair));
        raw = xs[j % 2 == 0 ? pair & 0xffffu : pair >> 16];
        take(p, raw & 0x7fffu);
      }
      if (j % 2 == 0)
        value[j / 2] = raw;
      else
        value[j / 2] |= raw << 16;
      if (j % 8 == 7) // at most 8 loads in flight per thread: bounds the registers they hold
        asm volatile("" ::: "memory");
    }
    for (int p = tid + cached; p < k; p += threads)
      take(p, xs[source_of(p)] & 0x7fffu);

    // 2. Scales.
    float scale_high = 0.0f, scale_low = 0.0f;
    if constexpr (!PerBank) {
      amax_high = __reduce_max_sync(0xffffffffu, amax_high);
      amax_low = __reduce_max_sync(0xffffffffu, amax_low);
      if (lane == 0) {
        warp_amax[0][warp] = amax_high;
        warp_amax[1][warp] = amax_low;
      }
    }
    __syncthreads(); // (R) partials visible; row i read by everyone (unless tail)
    if (!tail)
      issue(i + stages);
    if constexpr (!PerBank) {
      const bool mine = lane < threads / 32;
      amax_high = __reduce_max_sync(0xffffffffu, mine ? warp_amax[0][lane] : 0u);
      amax_low = __reduce_max_sync(0xffffffffu, mine ? warp_amax[1][lane] : 0u);
      scale_high = symmetric_scale(Element<T>::from_magnitude(amax_high), C::high_qmax);
      scale_low = symmetric_scale(Element<T>::from_magnitude(amax_low), C::low_qmax);
      if (tid == 0) {
        if (max(amax_high, amax_low) >= Element<T>::non_finite_magnitude)
          flags |= flag_non_finite;
        args.scale_high[row] = scale_high;
        args.scale_low[row] = scale_low;
      }
    } else {
      for (int b = tid; b < banks; b += threads) {
        const std::uint32_t mh = bank_word[b], ml = bank_word[banks + b];
        if (max(mh, ml) >= Element<T>::non_finite_magnitude)
          flags |= flag_non_finite;
        const float sh = symmetric_scale(Element<T>::from_magnitude(mh), C::high_qmax);
        const float sl = symmetric_scale(Element<T>::from_magnitude(ml), C::low_qmax);
        args.scale_high[row * banks + b] = sh;
        args.scale_low[row * banks + b] = sl;
        bank_word[b] = __float_as_uint(sh);
        bank_word[banks + b] = __float_as_uint(sl);
      }
      __syncthreads(); // bank scales visible
    }

    // 3. Quantize into codes (high block at [0, kh) of the code row, low block at [khp, ..)).
    asm volatile("mov.u32 %0, %%tid.x;" : "=r"(t0)); // columns recomputed, not kept from step 1
    if constexpr (!PerBank) {
      const float inverse_high = inverse_scale(scale_high), inverse_low = inverse_scale(scale_low);
      // Items to redo with the IEEE division: near a half-integer, non-finite, or all of them
      // when a scale is subnormal (then 1/s may overflow and |x/s| exceed qmax).
      const bool exact = is_subnormal(scale_high) || is_subnormal(scale_low);
      std::uint64_t redo = 0;
#pragma unroll
      for (int j = 0; j < N; ++j) {
        const int p = t0 + j * threads;
        if (p < k) {
          const float x = value_of<T>(value[j / 2], j % 2);
          const float inverse = p < kh ? inverse_high : inverse_low;
          const float t = fmaf(x, inverse, rounding_magic);
          const float r = fmaf(x, inverse, rounding_magic - t); // x/s - code, exactly rounded
          if (exact || !(fabsf(r) <= 0.5f - 0x1p-13f))
            redo |= std::uint64_t{1} << j;
          *code_at(p) = static_cast<std::int8_t>(__float_as_uint(t) & 0xffu);
        }
      }
      // Rare; one division site outside the unrolled loop (its call would cost registers
      // there). The staged row may be refilling already, so x comes from global memory.
      for (; redo != 0; redo &= redo - 1) {
        const int p = t0 + (__ffsll(static_cast<long long>(redo)) - 1) * threads;
        const float x = value_of<T>(
            reinterpret_cast<const std::uint16_t*>(args.x)[row * args.cols + source_of(p)], 0);
        *code_at(p) = static_cast<std::int8_t>(p < kh ? quantize_code(x, scale_high, C::high_qmax)
                                                      : quantize_code(x, scale_low, C::low_qmax));
      }
      for (int p = tid + cached; p < k; p += threads) {
        const float x = value_of<T>(xs[source_of(p)], 0);
        *code_at(p) = static_cast<std::int8_t>(
            p < kh ? quantize_code_by_inverse(x, scale_high, inverse_high, C::high_qmax)
                   : quantize_code_by_inverse(x, scale_low, inverse_low, C::low_qmax));
      }
    } else {
      auto quantize_at = [&](int p, float x) {
        const float s = __uint_as_float(bank_word[bank_of(p)]);
        *code_at(p) =
            static_cast<std::int8_t>(quantize_code(x, s, p < kh ? C::high_qmax : C::low_qmax));
      };
#pragma unroll
      for (int j = 0; j < N; ++j) {
        const int p = t0 + j * threads;
        if (p < k)
          quantize_at(p, value_of<T>(value[j / 2], j % 2));
      }
      for (int p = tid + cached; p < k; p += threads)
        quantize_at(p, value_of<T>(xs[source_of(p)], 0));
    }
    __syncthreads(); // (B) codes complete; the staged row is no longer read
    if (tail)
      issue(i + stages);

    // 4. Pack 16-byte chunks: the high block's, then the low block's.
    for (int c = tid; c < chunks; c += threads) {
      std::uint32_t word[4];
      const bool high = c < high_chunks;
      const int w0 = 4 * (high ? c : c - high_chunks);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        if (high)
          word[j] =
              w0 + j < high_words ? pack_word_from_codes<C::high_bits>(codes, kh, w0 + j) : 0u;
        else
          word[j] =
              w0 + j < low_words ? pack_word_from_codes<C::low_bits>(codes + khp, kl, w0 + j) : 0u;
      }
      const int left = (high ? high_row : low_row) - 4 * w0;
      std::uint8_t* dst = high ? args.x_high + row * high_row : args.x_low + row * low_row;
      store_words<4>(dst + 4 * w0, word, left < 16 ? left : 16);
    }
    if constexpr (PerBank) { // scales were read in step 3 (before B); the next row's atomics
      for (int b = tid; b < 2 * banks; b += threads) // come after its barrier (A)
        bank_word[b] = 0;
    }
  }
  cp_async_wait(0);
  if (flags != 0)
    raise_flag(static_cast<unsigned*>(args.workspace), flags);
}

} // namespace sqformat::gpu::datapath::detail

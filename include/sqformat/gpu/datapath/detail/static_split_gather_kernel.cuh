// sqformat/gpu/datapath/detail/static_split_gather_kernel.cuh: the block-gather kernel of the
// static quantize-and-split (StaticSplitPolicy). The streaming kernel
// (static_split_stream_kernel.cuh) is the default; this one stays as an independent second
// implementation (the tests require identical bytes from both) and for K too large for the
// streaming kernel's shared memory.
//
// One block owns RowsPerBlock tokens:
//
//   1. copy the rows of X into shared memory (cp.async, 16 B at a time);
//   2. gather: thread t takes output columns t, t + T, t + 2T, ... (consecutive lanes read
//      consecutive perm entries and nearby channels), keeps the values in registers and the
//      largest |x| of the high and of the low block as integer bits (one max per element also
//      catches NaN/Inf, whose bits are the largest); cub::BlockReduce -> per-token scales.
//      Per-(token, bank) scales instead: one thread per (token, bank) scans that bank first;
//   3. quantize the registers into int8 codes in shared memory (high block, then low block);
//   4. pack the codes into 32-bit words and store them, consecutive threads on consecutive
//      words (coalesced); a row that does not start on a word is stored byte by byte.
//
// Permutation checks: every block checks that each entry it gathers lies in its column's bank;
// block 0 then checks that no channel repeats and that each bank's runs increase
// (static_split_perm_check.cuh), with its X rows' shared memory as the bitmap.
#pragma once

#include <cstdint>
#include <cub/block/block_reduce.cuh>

#include "sqformat/gpu/datapath/detail/bit_pack.cuh"
#include "sqformat/gpu/datapath/detail/element.cuh"
#include "sqformat/gpu/datapath/detail/quantize.cuh"
#include "sqformat/gpu/datapath/detail/shared_copy.cuh"
#include "sqformat/gpu/datapath/detail/static_split_perm_check.cuh"
#include "sqformat/gpu/datapath/layout.hpp"
#include "sqformat/gpu/datapath/static_split_args.hpp"

namespace sqformat::gpu::datapath::detail {

template <int N> struct MaxBits { std::uint32_t v[N]; };
template <int N> struct MaxBitsOp {
  __device__ __forceinline__ MaxBits<N> operator()(const MaxBits<N>& a, const MaxBits<N>& b) const {
    MaxBits<N> out;
#pragma unroll
    for (int i = 0; i < N; ++i)
      out.v[i] = max(a.v[i], b.v[i]);
    return out;
  }
};

template <class C, class P, class T>
__global__ void __launch_bounds__(P::threads, P::min_blocks_per_sm)
    static_split_gather_kernel(StaticSplitArgs<T> args) {
  constexpr int R = P::rows_per_block, N = P::items_per_thread, Threads = P::threads;
  constexpr int H = C::high_per_bank, L = C::low_per_bank;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  __shared__ float token_scale[2 * R]; // high of rows 0..R-1, then low
  __shared__ typename cub::BlockReduce<MaxBits<2 * R>, Threads>::TempStorage reduce_storage;

  const int k = static_cast<int>(args.cols);
  const std::int64_t banks = args.cols / C::bank;
  const int kh = static_cast<int>(banks) * H, kl = k - kh;
  const int khp = (kh + 15) / 16 * 16; // low codes start here in a code row
  const int code_row = static_cast<int>(static_code_row_bytes(kh, kl));
  T* xs = reinterpret_cast<T*>(shared_bytes);
  auto* codes = reinterpret_cast<std::int8_t*>(shared_bytes +
                                               (std::int64_t{R} * k * sizeof(T) + 15) / 16 * 16);
  const std::int64_t first_row = static_cast<std::int64_t>(blockIdx.x) * R;
  const int rows = static_cast<int>(min(static_cast<std::int64_t>(R), args.rows - first_row));
  const bool per_bank = args.scales == ActivationScales::per_token_bank;
  const auto last = static_cast<std::uint32_t>(k - 1);
  unsigned flags = 0;

  copy_to_shared(xs, args.x + first_row * args.cols, static_cast<std::int64_t>(rows) * k);
  __syncthreads();

  if (per_bank) { // one thread per (row, bank): scales to global memory
    for (std::int64_t i = threadIdx.x; i < rows * banks; i += Threads) {
      const int r = static_cast<int>(i / banks);
      const std::int64_t bank = i % banks;
      std::uint32_t amax_high = 0, amax_low = 0;
      for (int j = 0; j < H + L; ++j) {
        const std::uint32_t source = args.perm[j < H ? bank * H + j : kh + bank * L + (j - H)];
        if (source > last)
          flags |= flag_bad_permutation;
        const std::uint32_t m = Element<T>::magnitude(xs[r * k + min(source, last)]);
        if (j < H)
          amax_high = max(amax_high, m);
        else
          amax_low = max(amax_low, m);
      }
      if (max(amax_high, amax_low) >= Element<T>::non_finite_magnitude)
        flags |= flag_non_finite;
      args.scale_high[(first_row + r) * banks + bank] =
          symmetric_scale(Element<T>::from_magnitude(amax_high), C::high_qmax);
      args.scale_low[(first_row + r) * banks + bank] =
          symmetric_scale(Element<T>::from_magnitude(amax_low), C::low_qmax);
    }
    __syncthreads();
  }

  // Gather into registers; per-token max of |x| as magnitude bits (NaN/Inf bits are largest).
  float v[R][N];
  MaxBits<2 * R> amax;
#pragma unroll
  for (int i = 0; i < 2 * R; ++i)
    amax.v[i] = 0;
  auto gather = [&](int c, std::uint32_t source, auto&& keep) {
    const int bank = c < kh ? c / H : (c - kh) / L; // the column's bank
    if (source > last || static_cast<int>(source / C::bank) != bank)
      flags |= flag_bad_permutation;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (r < rows) {
        const T raw = xs[r * k + min(source, last)];
        const int slot = c < kh ? r : R + r;
        amax.v[slot] = max(amax.v[slot], Element<T>::magnitude(raw));
        keep(r, Element<T>::to_float(raw));
      }
    }
  };
  std::uint32_t source[N]; // all permutation loads in flight before the first gather
#pragma unroll
  for (int i = 0; i < N; ++i) {
    const int c = threadIdx.x + i * Threads;
    source[i] = c < k ? args.perm[c] : 0u;
  }
#pragma unroll
  for (int i = 0; i < N; ++i) {
    const int c = threadIdx.x + i * Threads;
    if (c < k)
      gather(c, source[i], [&](int r, float x) { v[r][i] = x; });
  }
  for (int c = threadIdx.x + N * Threads; c < k; c += Threads)
    gather(c, args.perm[c], [](int, float) {});

  if (!per_bank) {
    const MaxBits<2 * R> total =
        cub::BlockReduce<MaxBits<2 * R>, Threads>(reduce_storage).Reduce(amax, MaxBitsOp<2 * R>{});
    if (threadIdx.x == 0) {
      for (int r = 0; r < rows; ++r) {
        if (max(total.v[r], total.v[R + r]) >= Element<T>::non_finite_magnitude)
          flags |= flag_non_finite;
        const float sh = symmetric_scale(Element<T>::from_magnitude(total.v[r]), C::high_qmax);
        const float sl = symmetric_scale(Element<T>::from_magnitude(total.v[R + r]), C::low_qmax);
        token_scale[r] = sh;
        token_scale[R + r] = sl;
        args.scale_high[first_row + r] = sh;
        args.scale_low[first_row + r] = sl;
      }
    }
    __syncthreads();
  }
  if (flags != 0)
    raise_flag(static_cast<unsigned*>(args.workspace), flags);

  // Quantize into codes (high block at [0, kh) of a code row, low block at [khp, khp + kl)).
  GroupQuantizer quantize_high[R], quantize_low[R];
  if (!per_bank) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
      quantize_high[r] = GroupQuantizer(token_scale[r], C::high_qmax);
      quantize_low[r] = GroupQuantizer(token_scale[R + r], C::low_qmax);
    }
  }
  auto code_of = [&](int r, int c, float x) {
    if (!per_bank)
      return c < kh ? quantize_high[r](x) : quantize_low[r](x);
    const std::int64_t row = first_row + r;
    return c < kh ? quantize_code(x, args.scale_high[row * banks + c / H], C::high_qmax)
                  : quantize_code(x, args.scale_low[row * banks + (c - kh) / L], C::low_qmax);
  };
  auto put = [&](int r, int c, float x) {
    codes[r * code_row + (c < kh ? c : khp + c - kh)] = static_cast<std::int8_t>(code_of(r, c, x));
  };
#pragma unroll
  for (int i = 0; i < N; ++i) {
    const int c = threadIdx.x + i * Threads;
#pragma unroll
    for (int r = 0; r < R; ++r)
      if (c < k && r < rows)
        put(r, c, v[r][i]);
  }
  for (int c = threadIdx.x + N * Threads; c < k; c += Threads) {
    const std::uint32_t source = min(args.perm[c], last);
    for (int r = 0; r < rows; ++r)
      put(r, c, Element<T>::to_float(xs[r * k + source]));
  }
  __syncthreads();

  // Pack: word w of a row's high block, then of its low block; rows one after another.
  const std::size_t high_row_bytes = static_high_row_bytes<C>(args.cols);
  const std::size_t low_row_bytes = static_low_row_bytes<C>(args.cols);
  const int high_words = (kh * C::high_bits + 31) / 32, low_words = (kl * C::low_bits + 31) / 32;
  for (int i = threadIdx.x; i < rows * (high_words + low_words); i += Threads) {
    const int r = i / (high_words + low_words), w = i % (high_words + low_words);
    const std::int64_t row = first_row + r;
    std::uint32_t word[1];
    if (w < high_words) {
      word[0] = pack_word_from_codes<C::high_bits>(codes + r * code_row, kh, w);
      const std::int64_t left = static_cast<std::int64_t>(high_row_bytes) - 4 * w;
      store_words<1>(args.x_high + row * high_row_bytes + 4 * w, word,
                     static_cast<int>(left < 4 ? left : 4));
    } else {
      const int lw = w - high_words;
      word[0] = pack_word_from_codes<C::low_bits>(codes + r * code_row + khp, kl, lw);
      const std::int64_t left = static_cast<std::int64_t>(low_row_bytes) - 4 * lw;
      store_words<1>(args.x_low + row * low_row_bytes + 4 * lw, word,
                     static_cast<int>(left < 4 ? left : 4));
    }
  }
  if (blockIdx.x == 0) { // the checks that need the whole permutation, once a launch
    const unsigned whole = check_whole_permutation<C>(
        args.perm, k, reinterpret_cast<std::uint32_t*>(shared_bytes)); // X rows: 2k bytes or more
    if (whole != 0)
      raise_flag(static_cast<unsigned*>(args.workspace), whole);
  }
}

} // namespace sqformat::gpu::datapath::detail

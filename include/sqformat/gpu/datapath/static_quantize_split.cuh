// sqformat/gpu/datapath/static_quantize_split.cuh: fused quantize-and-split of activations with
// a static high/low channel split (docs/layouts.md, "Static SQ activations").
//
// One pass over X. A block owns RowsPerBlock tokens:
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
//      X row (K, input order)      perm             x_high row (Kh)      x_low row (Kl)
//      [x0 x1 x2 ... x_{K-1}]  --> k' < Kh: high --> [q q q q | q q ...]  [q q q q q q | ...]
//                                  k' >= Kh: low      bank0 H   bank1      bank0 b-H   bank1
#pragma once

#include <cstddef>
#include <cstdint>
#include <cub/block/block_reduce.cuh>
#include <cuda_runtime.h>

#include "sqformat/config.hpp"
#include "sqformat/gpu/datapath/detail/bit_pack.cuh"
#include "sqformat/gpu/datapath/detail/element.cuh"
#include "sqformat/gpu/datapath/detail/quantize.cuh"
#include "sqformat/gpu/datapath/detail/shared_copy.cuh"
#include "sqformat/gpu/datapath/detail/sq_launch.cuh"
#include "sqformat/gpu/datapath/layout.hpp"
#include "sqformat/gpu/datapath/policy.hpp"
#include "sqformat/gpu/datapath/status_word.cuh"
#include "sqformat/status.hpp"

namespace sqformat::gpu::datapath {

/// Granularity of the activation scales: one high and one low scale per token (the fast path),
/// or per (token, bank).
enum class ActivationScales { per_token, per_token_bank };

/// Arguments of static_quantize_split. All pointers are device pointers, 16-byte aligned.
template <class T> struct StaticSplitArgs {
  const T* x = nullptr;                ///< M×K row-major, bf16 or fp16
  std::int64_t rows = 0;               ///< M
  std::int64_t cols = 0;               ///< K, a multiple of the bank size
  const std::uint32_t* perm = nullptr; ///< K entries: perm[k'] = source channel of column k'
  std::uint8_t* x_high = nullptr;      ///< M × static_high_row_bytes<C>(K)
  std::uint8_t* x_low = nullptr;       ///< M × static_low_row_bytes<C>(K)
  float* scale_high = nullptr;         ///< M floats, or M × K/b for per_token_bank
  float* scale_low = nullptr;          ///< same shape as scale_high
  ActivationScales scales = ActivationScales::per_token;
  void* workspace = nullptr; ///< workspace_size() bytes (status word)
  std::size_t workspace_bytes = 0;
};

namespace detail {

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

/// Bytes of one row of codes in shared memory: the high block, then the low block, each
/// padded to 16 bytes so that the packers may read whole vectors.
__host__ __device__ constexpr std::int64_t static_code_row_bytes(std::int64_t kh, std::int64_t kl) {
  return (kh + 15) / 16 * 16 + (kl + 15) / 16 * 16;
}

template <class C, class P, class T>
__global__ void __launch_bounds__(P::threads, P::min_blocks_per_sm)
    static_quantize_split_kernel(StaticSplitArgs<T> args) {
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
    if (source > last)
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
}

} // namespace detail

/// Quantizes and splits X (M×K, bf16 or fp16) into x_high / x_low with their scales.
///
/// \tparam Config  the layer's SqConfig (bank, H, bit widths).
/// \tparam Policy  StaticSplitPolicy; any valid policy gives identical bytes.
/// Returns at once on misuse: invalid_shape (M or K <= 0, K >= 2^31, or RowsPerBlock·K inputs
/// and their codes (3 bytes per element) exceed the device's shared memory per block),
/// k_not_multiple_of_bank, misaligned_pointer (any pointer not 16-byte aligned),
/// insufficient_workspace, unsupported_architecture, invalid_argument (null pointer). With
/// InputCheck::synchronous it then waits and returns non_finite_input (NaN/Inf in X) or
/// invalid_argument (perm entry >= K) if the kernel found one.
template <class Config, class Policy = StaticSplitPolicy<>, class T>
Status static_quantize_split(const StaticSplitArgs<T>& args, cudaStream_t stream,
                             InputCheck check = InputCheck::synchronous) {
  static_assert(sizeof(T) == 2, "static_quantize_split: X must be bf16 (__nv_bfloat16) or fp16 "
                                "(__half)");
  if (args.rows <= 0 || args.cols <= 0 || args.cols >= (std::int64_t{1} << 31))
    return Status::invalid_shape;
  if (args.cols % Config::bank != 0)
    return Status::k_not_multiple_of_bank;
  Status s = detail::check_pointers(args.x, args.perm, args.x_high, args.x_low, args.scale_high,
                                    args.scale_low);
  if (s != Status::success)
    return s;
  auto* kernel = &detail::static_quantize_split_kernel<Config, Policy, T>;
  if ((s = detail::check_workspace(args.workspace, args.workspace_bytes)) != Status::success)
    return s;
  static detail::KernelLaunchCache cache;
  long long shared_limit = 0;
  if ((s = detail::check_kernel_on_device(cache, kernel, shared_limit)) != Status::success)
    return s;
  const std::int64_t kh = static_high_cols<Config>(args.cols), kl = args.cols - kh;
  const std::size_t shared_bytes =
      static_cast<std::size_t>((Policy::rows_per_block * args.cols * sizeof(T) + 15) / 16 * 16 +
                               Policy::rows_per_block * detail::static_code_row_bytes(kh, kl));
  if (shared_bytes > static_cast<std::size_t>(shared_limit))
    return Status::invalid_shape;
  const std::int64_t blocks = (args.rows + Policy::rows_per_block - 1) / Policy::rows_per_block;
  if (blocks >= (std::int64_t{1} << 31))
    return Status::invalid_shape;
  kernel<<<static_cast<unsigned>(blocks), Policy::threads, shared_bytes, stream>>>(args);
  return detail::finish_launch(args.workspace, stream, check);
}

} // namespace sqformat::gpu::datapath

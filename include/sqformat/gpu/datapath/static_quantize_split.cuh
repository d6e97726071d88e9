// sqformat/gpu/datapath/static_quantize_split.cuh: fused quantize-and-split of activations with
// a static high/low channel split (docs/layouts.md, "Static SQ activations").
//
// One pass over X. A block owns RowsPerBlock tokens:
//
//   1. copy the rows of X into shared memory (cp.async, 16 B at a time);
//   2. per-token scales: gather every channel through perm, max |x| of the high block and of
//      the low block (cub::BlockReduce), scale = amax / qmax;
//      per-(token, bank) scales instead: one thread per (token, bank) scans that bank;
//   3. each thread takes a unit of U consecutive output columns of the high or the low block,
//      reads U permutation entries once for all rows of the block, quantizes, packs into
//      32-bit words and stores them.
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

/// Output columns a thread quantizes at once: enough to fill whole 32-bit words.
template <int Bits> constexpr int split_unit_codes = Bits == 3 ? 32 : 16;

template <int R> struct RowAmax {
  float high[R];
  float low[R];
};
template <int R> struct RowAmaxMax {
  __device__ __forceinline__ RowAmax<R> operator()(const RowAmax<R>& a, const RowAmax<R>& b) const {
    RowAmax<R> out;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      out.high[r] = fmaxf(a.high[r], b.high[r]);
      out.low[r] = fmaxf(a.low[r], b.low[r]);
    }
    return out;
  }
};

template <class T> __device__ __forceinline__ bool is_aligned_16(const T* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

/// Copies `count` elements from global to shared memory: 16-byte cp.async when both sides
/// allow it, plain loads otherwise (tiny or oddly sized rows).
template <class T>
__device__ __forceinline__ void copy_rows_to_shared(T* dst, const T* src, std::int64_t count) {
  const std::int64_t bytes = count * static_cast<std::int64_t>(sizeof(T));
  if (bytes % 16 == 0 && is_aligned_16(src)) {
    const auto* s = reinterpret_cast<const uint4*>(src);
    for (std::int64_t i = threadIdx.x; i < bytes / 16; i += blockDim.x) {
      const auto smem = static_cast<unsigned>(__cvta_generic_to_shared(dst) + 16 * i);
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem), "l"(s + i));
    }
    asm volatile("cp.async.commit_group;\ncp.async.wait_all;\n" ::: "memory");
  } else {
    for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x)
      dst[i] = src[i];
  }
}

/// Quantizes unit `unit` (U consecutive columns) of one block (high or low) of every row of
/// the tile and stores it. `perm_block` points at the block's first permutation entry.
template <int Bits, int Qmax, int ColsPerBank, int R, class T>
__device__ __forceinline__ void
split_unit(const T* xs, int k, int rows, std::int64_t first_row, const std::uint32_t* perm_block,
           int block_cols, int unit, std::uint8_t* out, std::size_t row_bytes,
           const float* token_scale, const float* bank_scale, std::int64_t banks) {
  constexpr int U = split_unit_codes<Bits>;
  const int c0 = unit * U;
  std::uint32_t source[U];
#pragma unroll
  for (int j = 0; j < U; ++j)
    source[j] =
        c0 + j < block_cols ? min(perm_block[c0 + j], static_cast<std::uint32_t>(k - 1)) : 0u;
  const std::size_t byte_offset = static_cast<std::size_t>(c0) * Bits / 8;
  const int valid_bytes =
      static_cast<int>(min(row_bytes - byte_offset, static_cast<std::size_t>(U * Bits / 8)));
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if (r >= rows)
      break;
    const std::int64_t row = first_row + r;
    int codes[U];
#pragma unroll
    for (int j = 0; j < U; ++j) {
      const float v = Element<T>::to_float(xs[static_cast<std::int64_t>(r) * k + source[j]]);
      const bool inside = c0 + j < block_cols; // the last unit of a row may stick out
      const float scale = bank_scale == nullptr ? token_scale[r]
                          : inside              ? bank_scale[row * banks + (c0 + j) / ColsPerBank]
                                                : 0.0f;
      codes[j] = inside ? quantize_code(v, scale, Qmax) : 0;
    }
    const PackedCodes<Bits, U> packed = pack_codes<Bits, U>(codes);
    store_words(out + static_cast<std::size_t>(row) * row_bytes + byte_offset, packed.word,
                valid_bytes);
  }
}

template <class C, class P, class T>
__global__ void __launch_bounds__(P::threads)
    static_quantize_split_kernel(StaticSplitArgs<T> args) {
  constexpr int R = P::rows_per_block;
  constexpr int H = C::high_per_bank, L = C::low_per_bank;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  T* xs = reinterpret_cast<T*>(shared_bytes);
  __shared__ float token_scale_high[R], token_scale_low[R];
  __shared__ typename cub::BlockReduce<RowAmax<R>, P::threads>::TempStorage reduce_storage;

  const int k = static_cast<int>(args.cols);
  const std::int64_t banks = args.cols / C::bank;
  const int kh = static_cast<int>(banks) * H, kl = k - kh;
  const std::int64_t first_row = static_cast<std::int64_t>(blockIdx.x) * R;
  const int rows = static_cast<int>(min(static_cast<std::int64_t>(R), args.rows - first_row));
  auto* status_word = static_cast<unsigned*>(args.workspace);

  copy_rows_to_shared(xs, args.x + first_row * args.cols, static_cast<std::int64_t>(rows) * k);
  __syncthreads();

  const bool per_bank = args.scales == ActivationScales::per_token_bank;
  bool non_finite = false, bad_perm = false;
  if (!per_bank) {
    RowAmax<R> amax;
#pragma unroll
    for (int r = 0; r < R; ++r)
      amax.high[r] = amax.low[r] = 0.0f;
    for (int c = threadIdx.x; c < k; c += P::threads) {
      std::uint32_t source = args.perm[c];
      bad_perm |= source >= static_cast<std::uint32_t>(k);
      source = min(source, static_cast<std::uint32_t>(k - 1));
#pragma unroll
      for (int r = 0; r < R; ++r) {
        if (r >= rows)
          break;
        const float v = Element<T>::to_float(xs[r * k + source]);
        non_finite |= is_non_finite(v);
        if (c < kh)
          amax.high[r] = fmaxf(amax.high[r], fabsf(v));
        else
          amax.low[r] = fmaxf(amax.low[r], fabsf(v));
      }
    }
    const RowAmax<R> total =
        cub::BlockReduce<RowAmax<R>, P::threads>(reduce_storage).Reduce(amax, RowAmaxMax<R>{});
    if (threadIdx.x == 0) {
      for (int r = 0; r < rows; ++r) {
        token_scale_high[r] = symmetric_scale(total.high[r], C::high_qmax);
        token_scale_low[r] = symmetric_scale(total.low[r], C::low_qmax);
        args.scale_high[first_row + r] = token_scale_high[r];
        args.scale_low[first_row + r] = token_scale_low[r];
      }
    }
  } else {
    for (std::int64_t i = threadIdx.x; i < rows * banks; i += P::threads) {
      const int r = static_cast<int>(i / banks);
      const std::int64_t bank = i % banks;
      float amax_high = 0.0f, amax_low = 0.0f;
      for (int j = 0; j < H + L; ++j) {
        const std::int64_t c = j < H ? bank * H + j : kh + bank * L + (j - H);
        std::uint32_t source = args.perm[c];
        bad_perm |= source >= static_cast<std::uint32_t>(k);
        source = min(source, static_cast<std::uint32_t>(k - 1));
        const float v = Element<T>::to_float(xs[r * k + source]);
        non_finite |= is_non_finite(v);
        if (j < H)
          amax_high = fmaxf(amax_high, fabsf(v));
        else
          amax_low = fmaxf(amax_low, fabsf(v));
      }
      args.scale_high[(first_row + r) * banks + bank] = symmetric_scale(amax_high, C::high_qmax);
      args.scale_low[(first_row + r) * banks + bank] = symmetric_scale(amax_low, C::low_qmax);
    }
  }
  if (non_finite)
    raise_flag(status_word, flag_non_finite);
  if (bad_perm)
    raise_flag(status_word, flag_bad_permutation);
  __syncthreads(); // scales (shared or global) visible to the whole block

  constexpr int UH = split_unit_codes<C::high_bits>, UL = split_unit_codes<C::low_bits>;
  const int high_units = (kh + UH - 1) / UH, low_units = (kl + UL - 1) / UL;
  const std::size_t high_row_bytes = static_high_row_bytes<C>(args.cols);
  const std::size_t low_row_bytes = static_low_row_bytes<C>(args.cols);
  for (int u = threadIdx.x; u < high_units + low_units; u += P::threads) {
    if (u < high_units)
      split_unit<C::high_bits, C::high_qmax, H, R>(xs, k, rows, first_row, args.perm, kh, u,
                                                   args.x_high, high_row_bytes, token_scale_high,
                                                   per_bank ? args.scale_high : nullptr, banks);
    else
      split_unit<C::low_bits, C::low_qmax, L, R>(
          xs, k, rows, first_row, args.perm + kh, kl, u - high_units, args.x_low, low_row_bytes,
          token_scale_low, per_bank ? args.scale_low : nullptr, banks);
  }
}

} // namespace detail

/// Quantizes and splits X (M×K, bf16 or fp16) into x_high / x_low with their scales.
///
/// \tparam Config  the layer's SqConfig (bank, H, bit widths).
/// \tparam Policy  StaticSplitPolicy; any valid policy gives identical bytes.
/// Returns at once on misuse: invalid_shape (M or K <= 0, K >= 2^31, or RowsPerBlock·K inputs
/// exceed the device's shared memory per block), k_not_multiple_of_bank, misaligned_pointer
/// (any pointer not 16-byte aligned), insufficient_workspace, unsupported_architecture,
/// invalid_argument (null pointer). With InputCheck::synchronous it then waits and returns
/// non_finite_input (NaN/Inf in X) or invalid_argument (perm entry >= K) if the kernel found one.
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
  if ((s = detail::check_launch_prerequisites(kernel, args.workspace, args.workspace_bytes)) !=
      Status::success)
    return s;
  const std::size_t shared_bytes =
      static_cast<std::size_t>(Policy::rows_per_block) * args.cols * sizeof(T);
  if ((s = detail::opt_in_shared_memory(kernel, shared_bytes)) != Status::success)
    return s;
  if ((s = detail::clear_status_word(args.workspace, stream)) != Status::success)
    return s;
  const std::int64_t blocks = (args.rows + Policy::rows_per_block - 1) / Policy::rows_per_block;
  if (blocks >= (std::int64_t{1} << 31))
    return Status::invalid_shape;
  kernel<<<static_cast<unsigned>(blocks), Policy::threads, shared_bytes, stream>>>(args);
  return detail::finish_launch(args.workspace, stream, check);
}

} // namespace sqformat::gpu::datapath

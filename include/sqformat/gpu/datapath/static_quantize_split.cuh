// sqformat/gpu/datapath/static_quantize_split.cuh: fused quantize-and-split of activations with
// a static high/low channel split (docs/layouts.md, "Static SQ activations").
//
//      X row (K, input order)      perm             x_high row (Kh)      x_low row (Kl)
//      [x0 x1 x2 ... x_{K-1}]  --> k' < Kh: high --> [q q q q | q q ...]  [q q q q q q | ...]
//                                  k' >= Kh: low      bank0 H   bank1      bank0 b-H   bank1
//
// Five kernels write identical bytes; the policy type picks one:
//   StaticSplitColumnPolicy (default)  detail/static_split_column_kernel.cuh: the bank kernel's
//                                      row loop with an output-order pass 2 and a one-byte
//                                      channel table; configs or K it cannot serve and
//                                      per-(token, bank) scales as StaticSplitBankPolicy<>;
//                                      Threads = 0 (the default) takes the lane kernel (with
//                                      StaticSplitLanePolicy<>) for at least auto_lane_rows
//                                      tokens where that one serves;
//   StaticSplitLanePolicy              detail/static_split_lane_kernel.cuh: persistent blocks,
//                                      each lane owning whole banks (its own output words),
//                                      per-token scales, 8/4-bit high and 4/2-bit low codes;
//                                      the rest runs the column kernel;
//   StaticSplitBankPolicy              detail/static_split_bank_kernel.cuh: persistent blocks,
//                                      a token row at a time in channel order, the permutation
//                                      as a high mask, warps quantizing whole banks; per-token
//                                      scales and K % 8 == 0 (else as StaticSplitStreamPolicy<>);
//                                      rejects a permutation not in the order of layouts.md;
//                                      blocks of 128 or 512 threads by K and M (policy.hpp);
//                                      ColumnGather = true runs the column kernel;
//   StaticSplitStreamPolicy            detail/static_split_stream_kernel.cuh: persistent blocks,
//                                      a token row at a time, next rows loading meanwhile;
//                                      K < 65536 (16-bit channel indices);
//   StaticSplitPolicy                  detail/static_split_gather_kernel.cuh: a block per
//                                      RowsPerBlock tokens; also taken for K >= 65536.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cuda_runtime.h>
#include <type_traits>

#include "sqformat/config.hpp"
#include "sqformat/gpu/datapath/detail/sq_launch.cuh"
#include "sqformat/gpu/datapath/detail/static_split_bank_kernel.cuh"
#include "sqformat/gpu/datapath/detail/static_split_column_kernel.cuh"
#include "sqformat/gpu/datapath/detail/static_split_gather_kernel.cuh"
#include "sqformat/gpu/datapath/detail/static_split_lane_kernel.cuh"
#include "sqformat/gpu/datapath/detail/static_split_stream_kernel.cuh"
#include "sqformat/gpu/datapath/layout.hpp"
#include "sqformat/gpu/datapath/policy.hpp"
#include "sqformat/gpu/datapath/static_split_args.hpp"
#include "sqformat/gpu/datapath/status_word.cuh"
#include "sqformat/status.hpp"

namespace sqformat::gpu::datapath {

namespace detail {

template <class P> struct is_stream_policy : std::false_type {};
template <int N, int T, int S>
struct is_stream_policy<StaticSplitStreamPolicy<N, T, S>> : std::true_type {};
template <class P> struct is_column_policy : std::false_type {};
template <int T, int S, int B, int W>
struct is_column_policy<StaticSplitColumnPolicy<T, S, B, W>> : std::true_type {};
template <class P> struct is_lane_policy : std::false_type {};
template <int S, int T, int R>
struct is_lane_policy<StaticSplitLanePolicy<S, T, R>> : std::true_type {};
template <class P> struct is_bank_policy : std::false_type {};
template <int T, int S, int B, bool G>
struct is_bank_policy<StaticSplitBankPolicy<T, S, B, G>> : std::true_type {};

/// Launch shape of a persistent kernel for one (device, K): found once with the occupancy API
/// and cached (one word: valid | device (8 bits) | K (31) | stages (4) | largest useful grid (20)),
/// so that a launch costs no queries.
struct StreamShapeCache {
  std::atomic<std::uint64_t> entry{0};
};

/// Stages (rows of X a block stages, at most max_stages) and grid cap (SMs x blocks a SM) of a
/// persistent kernel whose block needs bytes_of(stages) of dynamic shared memory: more stages
/// only where they cost no block.
template <class Kernel, class BytesOf>
Status persistent_shape(StreamShapeCache& cache, Kernel* kernel, int k, int threads, int max_stages,
                        long long shared_limit, BytesOf bytes_of, int& stages,
                        std::int64_t& grid_cap, const char** why) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess)
    return fail(why, Status::cuda_error, "cudaGetDevice failed");
  const std::uint64_t key = (std::uint64_t{1} << 63) |
                            (static_cast<std::uint64_t>(device & 0xff) << 55) |
                            (static_cast<std::uint64_t>(k & 0x7fffffff) << 24);
  const std::uint64_t entry = cache.entry.load(std::memory_order_relaxed);
  if ((entry & ~std::uint64_t{0xffffff}) == key) {
    stages = static_cast<int>((entry >> 20) & 15u);
    grid_cap = static_cast<std::int64_t>(entry & 0xfffffu);
    return Status::success;
  }
  int sms = 0;
  if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
    return fail(why, Status::cuda_error, "a device attribute query failed");
  int best_stages = 0, best_blocks = 0;
  for (int s = 1; s <= max_stages && s <= 15; ++s) {
    const std::int64_t bytes = bytes_of(s);
    if (bytes > shared_limit)
      break;
    int blocks = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(
            &blocks, kernel, threads, static_cast<std::size_t>(bytes)) != cudaSuccess)
      return fail(why, Status::cuda_error, "an occupancy query failed");
    if (blocks == 0 || blocks < best_blocks)
      break;
    best_stages = s;
    best_blocks = blocks;
  }
  if (best_stages == 0)
    return fail(why, Status::invalid_shape,
                "K (cols) too large: a block of the kernel with one staged row does not fit an SM "
                "of this device (shared memory: about 3 bytes a row element)");
  stages = best_stages;
  grid_cap = std::int64_t{sms} * best_blocks;
  if (grid_cap > 0xfffff)
    grid_cap = 0xfffff;
  cache.entry.store(key | (static_cast<std::uint64_t>(stages) << 20) |
                        static_cast<std::uint64_t>(grid_cap),
                    std::memory_order_relaxed);
  return Status::success;
}

/// Launches a persistent row kernel (streaming, bank, column) with `threads` threads: the most
/// stages up to max_stages that cost no block per SM, a grid of at most the blocks that fit the
/// device at once, and bytes_of(stages) of dynamic shared memory.
template <class T, class Kernel, class BytesOf>
Status launch_persistent(Kernel* kernel, KernelLaunchCache& launch_cache,
                         StreamShapeCache& shape_cache, const StaticSplitArgs<T>& args, int threads,
                         int max_stages, BytesOf bytes_of, cudaStream_t stream, InputCheck check,
                         const char** why) {
  long long shared_limit = 0;
  Status s = check_kernel_on_device(launch_cache, kernel, shared_limit, why);
  if (s != Status::success)
    return s;
  int stages = 0;
  std::int64_t grid_cap = 0;
  if ((s = persistent_shape(shape_cache, kernel, static_cast<int>(args.cols), threads, max_stages,
                            shared_limit, bytes_of, stages, grid_cap, why)) != Status::success)
    return s;
  const std::int64_t blocks = args.rows < grid_cap ? args.rows : grid_cap;
  kernel<<<static_cast<unsigned>(blocks), threads, static_cast<std::size_t>(bytes_of(stages)),
           stream>>>(args, stages);
  return finish_launch(args.workspace, stream, check, why);
}

template <class C, class P, class T>
Status launch_stream_kernel(const StaticSplitArgs<T>& args, cudaStream_t stream, InputCheck check,
                            const char** why) {
  const bool per_bank = args.scales == ActivationScales::per_token_bank;
  auto* kernel = per_bank ? &static_split_stream_kernel<C, P, T, true>
                          : &static_split_stream_kernel<C, P, T, false>;
  static KernelLaunchCache launch_cache[2];
  static StreamShapeCache shape_cache[2];
  const int k = static_cast<int>(args.cols);
  const int wanted = (k + P::items_per_thread - 1) / P::items_per_thread;
  const int threads = min_int(max_int(round_up(wanted, 32), 32), P::max_threads);
  auto bytes_of = [&](int n) { return stream_shared_bytes<C, T>(k, n, per_bank); };
  return launch_persistent(kernel, launch_cache[per_bank], shape_cache[per_bank], args, threads,
                           P::max_stages, bytes_of, stream, check, why);
}

template <class C, class P, class T>
Status launch_bank_kernel(const StaticSplitArgs<T>& args, cudaStream_t stream, InputCheck check,
                          const char** why) {
  static KernelLaunchCache launch_cache;
  static StreamShapeCache shape_cache;
  const int k = static_cast<int>(args.cols);
  using Tile = StaticBankTile<C>;
  const int tiles = (k / C::bank + Tile::banks - 1) / Tile::banks;
  const int threads = min_int(P::threads, 32 * tiles); // no warp without a tile
  auto bytes_of = [&](int n) { return bank_shared_bytes<C, T>(k, n, threads / 32); };
  return launch_persistent(&static_split_bank_kernel<C, P, T>, launch_cache, shape_cache, args,
                           threads, P::max_stages, bytes_of, stream, check, why);
}

template <class C, class P, class T>
Status launch_column_kernel(const StaticSplitArgs<T>& args, cudaStream_t stream, InputCheck check,
                            const char** why) {
  static KernelLaunchCache launch_cache;
  static StreamShapeCache shape_cache;
  const std::int64_t k = args.cols, kh = k / C::bank * C::high_per_bank;
  const std::int64_t words = kh * C::high_bits / 32 + (k - kh) * C::low_bits / 32;
  const std::int64_t units = words > k / 8 ? words : k / 8; // pass 2 words, pass 1 chunks
  const int threads =
      units >= P::threads ? P::threads : max_int(round_up(static_cast<int>(units), 32), 32);
  auto bytes_of = [&](int n) { return column_shared_bytes<C, T>(k, n); };
  return launch_persistent(&static_split_column_kernel<C, P, T>, launch_cache, shape_cache, args,
                           threads, P::max_stages, bytes_of, stream, check, why);
}

template <class C, class P, class T>
Status launch_lane_kernel(const StaticSplitArgs<T>& args, cudaStream_t stream, InputCheck check,
                          const char** why) {
  static KernelLaunchCache launch_cache;
  static StreamShapeCache shape_cache;
  const std::int64_t spans = lane_spans<C>(args.cols);
  if (spans == 0 || spans > P::max_threads)
    return fail(why, Status::invalid_shape, "K (cols) outside the lane kernel's range");
  const int warps = static_cast<int>((spans + 31) / 32);
  auto bytes_of = [&](int n) { return lane_shared_bytes<C>(args.cols, warps, n); };
  auto* kernel = [] {
    if constexpr (P::max_registers == 0)
      return &static_split_lane_kernel<C, P, T>;
    else
      return &static_split_lane_kernel_capped<C, P, T>;
  }();
  return launch_persistent(kernel, launch_cache, shape_cache, args, 32 * warps, P::max_stages,
                           bytes_of, stream, check, why);
}

template <class C, class P, class T>
Status launch_gather_kernel(const StaticSplitArgs<T>& args, cudaStream_t stream, InputCheck check,
                            const char** why) {
  auto* kernel = &static_split_gather_kernel<C, P, T>;
  static KernelLaunchCache cache;
  long long shared_limit = 0;
  Status s = check_kernel_on_device(cache, kernel, shared_limit, why);
  if (s != Status::success)
    return s;
  const std::int64_t kh = static_high_cols<C>(args.cols), kl = args.cols - kh;
  const std::size_t shared_bytes =
      static_cast<std::size_t>((P::rows_per_block * args.cols * sizeof(T) + 15) / 16 * 16 +
                               P::rows_per_block * static_code_row_bytes(kh, kl));
  if (shared_bytes > static_cast<std::size_t>(shared_limit))
    return fail(why, Status::invalid_shape,
                "K (cols) too large: the policy's rows do not fit the device's shared memory "
                "(about 3 bytes a row element)");
  const std::int64_t blocks = (args.rows + P::rows_per_block - 1) / P::rows_per_block;
  if (blocks >= (std::int64_t{1} << 31))
    return fail(why, Status::invalid_shape, "M (rows) too large for the policy's grid");
  kernel<<<static_cast<unsigned>(blocks), P::threads, shared_bytes, stream>>>(args);
  return finish_launch(args.workspace, stream, check, why);
}

inline constexpr PointerRule kStaticSplitPointers[] = {
    {"x is null", "x must be 16-byte aligned"},
    {"perm is null", "perm must be 16-byte aligned"},
    {"x_high is null", "x_high must be 16-byte aligned"},
    {"x_low is null", "x_low must be 16-byte aligned"},
    {"scale_high is null", "scale_high must be 16-byte aligned"},
    {"scale_low is null", "scale_low must be 16-byte aligned"}};

/// static_quantize_split's dispatch; AllowLane = false keeps the default column policy
/// (Threads = 0) on the column kernel (the bank policies' ColumnGather, the lane kernel's
/// fallback).
template <class Config, class Policy, bool AllowLane, class T>
Status static_split_dispatch(const StaticSplitArgs<T>& args, cudaStream_t stream, InputCheck check,
                             const char** why) {
  if (args.rows <= 0)
    return fail(why, Status::invalid_shape, "M (rows) must be >= 1");
  if (args.cols <= 0 || args.cols >= (std::int64_t{1} << 31))
    return fail(why, Status::invalid_shape, "K (cols) must be in [1, 2^31)");
  if (args.cols % Config::bank != 0)
    return fail(why, Status::k_not_multiple_of_bank,
                "K (cols) must be a multiple of the bank size b");
  Status s = check_pointers(why, kStaticSplitPointers, args.x, args.perm, args.x_high, args.x_low,
                            args.scale_high, args.scale_low);
  if (s != Status::success)
    return s;
  if ((s = check_workspace(args.workspace, args.workspace_bytes, why)) != Status::success)
    return s;
  if constexpr (is_column_policy<Policy>::value) {
    if constexpr (AllowLane && Policy::threads == 0 && lane_split_ok<Config>) {
      // Many tokens: the lane kernel where it serves (policy.hpp, auto_lane_rows).
      if (args.scales == ActivationScales::per_token && args.rows >= Policy::auto_lane_rows) {
        s = launch_lane_kernel<Config, StaticSplitLanePolicy<>, T>(args, stream, check, why);
        if (s != Status::invalid_shape)
          return s;
      }
    }
    // Per-token scales, whole 16-byte chunks and words the output order can fill: the column
    // kernel; the rest (and rows too long for its shared memory) as StaticSplitBankPolicy<>.
    if constexpr (column_pass_bits_ok<Config>) {
      if (args.scales == ActivationScales::per_token && args.cols % 8 == 0 &&
          column_pass_k_ok<Config>(args.cols)) {
        if constexpr (Policy::threads == 0) { // pick the block by K and M (policy.hpp)
          using Small =
              StaticSplitColumnPolicy<128, Policy::max_stages, 8, Policy::words_in_flight>;
          using Large =
              StaticSplitColumnPolicy<512, Policy::max_stages, 2, Policy::words_in_flight>;
          s = args.cols <= Policy::auto_small_k && args.rows >= Policy::auto_small_rows
                  ? launch_column_kernel<Config, Small, T>(args, stream, check, why)
                  : launch_column_kernel<Config, Large, T>(args, stream, check, why);
        } else {
          s = launch_column_kernel<Config, Policy, T>(args, stream, check, why);
        }
        if (s != Status::invalid_shape)
          return s;
      }
    }
    return static_split_dispatch<Config, StaticSplitBankPolicy<>, false>(args, stream, check, why);
  } else if constexpr (is_bank_policy<Policy>::value) {
    if constexpr (Policy::column_gather) { // the output order is the column kernel's
      using Column = StaticSplitColumnPolicy<Policy::threads, Policy::max_stages,
                                             Policy::min_blocks_per_sm, 1>;
      return static_split_dispatch<Config, Column, false>(args, stream, check,
                                                          why); // no lane kernel
    } else {
      // Per-token scales and whole 16-byte chunks: the bank kernel; the rest (and rows too long
      // for its shared memory) as StaticSplitStreamPolicy<> would.
      if (args.scales == ActivationScales::per_token && args.cols % 8 == 0) {
        if constexpr (Policy::threads == 0) { // pick the block by K (policy.hpp)
          using Small = StaticSplitBankPolicy<128, Policy::max_stages, 8>;
          using Large = StaticSplitBankPolicy<512, Policy::max_stages, 2>;
          s = args.cols <= Policy::auto_small_k && args.rows >= Policy::auto_small_rows
                  ? launch_bank_kernel<Config, Small, T>(args, stream, check, why)
                  : launch_bank_kernel<Config, Large, T>(args, stream, check, why);
        } else {
          s = launch_bank_kernel<Config, Policy, T>(args, stream, check, why);
        }
        if (s != Status::invalid_shape)
          return s;
      }
      return static_split_dispatch<Config, StaticSplitStreamPolicy<>, false>(args, stream, check,
                                                                             why);
    }
  } else if constexpr (is_lane_policy<Policy>::value) {
    if constexpr (lane_split_ok<Config>) {
      if (args.scales == ActivationScales::per_token) {
        s = launch_lane_kernel<Config, Policy, T>(args, stream, check, why);
        if (s != Status::invalid_shape)
          return s;
      }
    }
    // The column kernel (not the lane kernel again with the default policy).
    return static_split_dispatch<Config, StaticSplitColumnPolicy<>, false>(args, stream, check,
                                                                           why);
  } else if constexpr (is_stream_policy<Policy>::value) {
    if (args.cols < 65536) // source channels are held as 16-bit indices
      return launch_stream_kernel<Config, Policy, T>(args, stream, check, why);
    return launch_gather_kernel<Config, StaticSplitPolicy<>, T>(args, stream, check, why);
  } else {
    return launch_gather_kernel<Config, Policy, T>(args, stream, check, why);
  }
}

} // namespace detail

/// Quantizes and splits X (M×K, bf16 or fp16) into x_high / x_low with their scales.
///
/// \tparam Config  the layer's SqConfig (bank, H, bit widths).
/// \tparam Policy  StaticSplitColumnPolicy (default: StaticSplitDefaultPolicy, which takes the
///                 lane kernel from 16 tokens on), StaticSplitLanePolicy, StaticSplitBankPolicy,
///                 StaticSplitStreamPolicy or StaticSplitPolicy;
///                 any valid policy gives identical bytes for a permutation in the order of
///                 docs/layouts.md (high channels of each bank in increasing order, then the low
///                 ones); every kernel reports any other order as invalid_argument.
/// Returns at once on misuse: invalid_shape (M or K <= 0, K >= 2^31, or K too large for the
/// device's shared memory: about 3 bytes per element of a row), k_not_multiple_of_bank,
/// misaligned_pointer (any pointer not 16-byte aligned), insufficient_workspace,
/// unsupported_architecture, invalid_argument (null pointer). With InputCheck::synchronous it
/// then waits and returns non_finite_input (NaN/Inf in X) or invalid_argument (perm not a
/// permutation with the bank structure of docs/layouts.md) if the kernel found one. On failure
/// `*reason` (if given) names the rule that failed; a success leaves it untouched.
template <class Config, class Policy = StaticSplitDefaultPolicy, class T>
Status static_quantize_split(const StaticSplitArgs<T>& args, cudaStream_t stream,
                             InputCheck check = InputCheck::synchronous,
                             const char** reason = nullptr) {
  static_assert(detail::is_half16_v<T>, "static_quantize_split: X must be bf16 (__nv_bfloat16) "
                                        "or fp16 (__half)");
  const char* why = nullptr;
  const Status s = detail::static_split_dispatch<Config, Policy, true>(args, stream, check, &why);
  return detail::report(s, why, reason);
}

} // namespace sqformat::gpu::datapath

// sqformat/gpu/datapath/dynamic_quantize.cuh: dynamic SQ activations (docs/layouts.md,
// "Dynamic SQ activations"): per token and per bank the H elements of largest |x| are high,
// chosen at run time, and the tokens are written as an SQ tensor (dense low part with
// sentinels, compact high part, per-(token, bank) scales).
//
// Tie-break, exactly the reference's: larger |x| first; equal |x| -> lower index in the bank;
// -0 == +0. Each element gets the distinct key
//
//     key = |x| bits (sign cleared, 15 bits for bf16/fp16) << 10 | (1023 - index in bank)
//
// so "larger key" is "beats" (the bank-group kernel's form). Two kernels, same bytes:
//   SqLanePolicy (the default: SqLaneDynamicPolicyFor<Config>: coalesced loads, top_h_split and
//     write_split_bank, in blocks of 128 x 6 (SqLaneDynamicPolicy) for at most 8 high elements a
//     bank and 256 x 3 for 9 to 16, and the coalesced write_bank kernel for more;
//     detail/sq_lane_dynamic_kernel.cuh): one thread per bank, the bank in its registers;
//     the H-th largest |x| by a small selection network on 16-bit pairs, ties at it settled by
//     bit masks in index order (the same tie-break);
//     configs without sq_lane_kernel_fits run the bank-group kernel.
//   SqBankPolicy: one block per (token, tile of banks), the tile staged in shared memory with
//     cp.async, a bank spread over a group of lanes, the top-H keys found by select_top_h (warp
//     shuffles within the bank group, no sort).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cuda_runtime.h>
#include <type_traits>

#include "sqformat/config.hpp"
#include "sqformat/gpu/datapath/detail/bank_group.cuh"
#include "sqformat/gpu/datapath/detail/element.cuh"
#include "sqformat/gpu/datapath/detail/shared_copy.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_dynamic_kernel.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_launch.cuh"
#include "sqformat/gpu/datapath/detail/sq_launch.cuh"
#include "sqformat/gpu/datapath/detail/sq_tile.cuh"
#include "sqformat/gpu/datapath/layout.hpp"
#include "sqformat/gpu/datapath/policy.hpp"
#include "sqformat/gpu/datapath/sq_lane_policy.hpp"
#include "sqformat/gpu/datapath/sq_tensor_ref.hpp"
#include "sqformat/gpu/datapath/status_word.cuh"
#include "sqformat/status.hpp"

namespace sqformat::gpu::datapath {

/// Arguments of dynamic_quantize. All pointers are device pointers, 16-byte aligned.
template <class T> struct DynamicQuantizeArgs {
  const T* x = nullptr;  ///< M×K row-major, bf16 or fp16
  std::int64_t rows = 0; ///< M
  std::int64_t cols = 0; ///< K, a multiple of the bank size
  SqTensorRef out;       ///< the SQ tensor (see sq_tensor_ref.hpp for its shapes)
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
};

namespace detail {

template <class C, class P, class T>
__global__ void __launch_bounds__(P::threads, P::min_blocks_per_sm)
    dynamic_quantize_kernel(DynamicQuantizeArgs<T> args) {
  static_assert(C::bank <= 1024, "dynamic_quantize: the selection key holds a 10-bit index");
  using S = SqBankShape<C, P>;
  constexpr int G = S::lanes_per_bank, E = S::elements_per_lane;
  const std::int64_t row = blockIdx.x;
  __shared__ __align__(16) T tile_x[S::tile_low_codes];
  const TileExtent tile = tile_extent<C, P>(args.cols);
  copy_to_shared(tile_x, args.x + row * args.cols + tile.first * C::bank,
                 static_cast<std::int64_t>(tile.count) * C::bank);
  __syncthreads();

  auto load_bank = [&](int bank, int lane, bool active, float(&v)[E], bool(&high)[E]) {
    T raw[E];
    load_elements<E>(tile_x + bank * C::bank + lane * E, raw);
    std::uint32_t key[E];
    unsigned flags = 0;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      v[e] = Element<T>::to_float(raw[e]);
      if (active && Element<T>::magnitude(raw[e]) >= Element<T>::non_finite_magnitude)
        flags = flag_non_finite;
      key[e] =
          Element<T>::magnitude(raw[e]) << 10 | static_cast<std::uint32_t>(1023 - (lane * E + e));
    }
    select_top_h<G, E, C::high_per_bank>(key, high);
    return flags;
  };
  const unsigned flags = quantize_sq_tile<C, P, false>(row, args.cols, args.out, load_bank);
  if (flags != 0)
    raise_flag(static_cast<unsigned*>(args.workspace), flags);
}

} // namespace detail

namespace detail {

inline constexpr PointerRule kDynamicQuantizePointers[] = {
    {"x is null", "x must be 16-byte aligned"},
    {"out.low is null", "out.low must be 16-byte aligned"},
    {"out.high is null", "out.high must be 16-byte aligned"},
    {"out.scale_low is null", "out.scale_low must be 16-byte aligned"},
    {"out.scale_high is null", "out.scale_high must be 16-byte aligned"}};

template <class Config, class Policy, class T>
Status dynamic_quantize_checked(const DynamicQuantizeArgs<T>& args, cudaStream_t stream,
                                InputCheck check, const char** why) {
  // The lane kernels' top-H selection needs H <= b/2 (every half of the pairs holds H values);
  // other configs, like those the lane kernels do not fit, run the bank-group kernel.
  if constexpr (is_sq_lane_policy_v<Policy> &&
                !(sq_lane_kernel_fits<Config> && Config::high_per_bank <= Config::bank / 2)) {
    return dynamic_quantize_checked<Config, SqBankPolicy<>>(args, stream, check, why);
  } else {
    dim3 grid;
    std::int64_t banks = 0;
    Status s = sq_tensor_grid<Config, Policy>(args.rows, args.cols, banks, grid, why);
    if (s != Status::success)
      return s;
    if ((s = check_pointers(why, kDynamicQuantizePointers, args.x, args.out.low, args.out.high,
                            args.out.scale_low, args.out.scale_high)) != Status::success)
      return s;
    if ((s = check_workspace(args.workspace, args.workspace_bytes, why)) != Status::success)
      return s;
    static KernelLaunchCache cache;
    long long shared_limit = 0;
    if constexpr (is_sq_lane_policy_v<Policy>) {
      auto* kernel = &sq_lane_dynamic_kernel<Config, Policy, T>;
      if ((s = check_kernel_on_device(cache, kernel, shared_limit, why)) != Status::success)
        return s;
      if ((s = launch_lane_kernel<Config, Policy, sq_lane_dynamic_chunks<Config, T>>(
               kernel, grid, shared_limit, stream, why, args.x, banks, args.out,
               static_cast<unsigned*>(args.workspace))) != Status::success)
        return s;
    } else {
      auto* kernel = &dynamic_quantize_kernel<Config, Policy, T>;
      if ((s = check_kernel_on_device(cache, kernel, shared_limit, why)) != Status::success)
        return s;
      kernel<<<grid, Policy::threads, 0, stream>>>(args);
    }
    return finish_launch(args.workspace, stream, check, why);
  }
}

} // namespace detail

/// Quantizes X (M×K, bf16 or fp16) into a dynamic SQ tensor.
///
/// Returns at once on misuse: invalid_shape (M or K <= 0 or >= 2^31), k_not_multiple_of_bank,
/// invalid_argument (null pointer), misaligned_pointer (not 16-byte aligned),
/// insufficient_workspace, unsupported_architecture. With InputCheck::synchronous it then waits
/// and returns non_finite_input if X held NaN or Inf (the outputs are then unspecified). On
/// failure `*reason` (if given) names the rule that failed; a success leaves it untouched.
template <class Config, class Policy = SqLaneDynamicPolicyFor<Config>, class T>
Status dynamic_quantize(const DynamicQuantizeArgs<T>& args, cudaStream_t stream,
                        InputCheck check = InputCheck::synchronous, const char** reason = nullptr) {
  static_assert(detail::is_half16_v<T>, "dynamic_quantize: X must be bf16 (__nv_bfloat16) or fp16 "
                                        "(__half)");
  static_assert(!std::is_same_v<Policy, SqLanePackPolicy>,
                "dynamic_quantize: SqLanePackPolicy is pack_weights' default; use "
                "SqLaneDynamicPolicyFor<Config> or another SqLanePolicy / SqBankPolicy");
  const char* why = nullptr;
  const Status s = detail::dynamic_quantize_checked<Config, Policy>(args, stream, check, &why);
  return detail::report(s, why, reason);
}

} // namespace sqformat::gpu::datapath

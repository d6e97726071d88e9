// sqformat/gpu/datapath/weight_pack.cuh: packs weights (fp32 or bf16, N×K) and a high mask into
// an SQ tensor (docs/layouts.md, "SQ tensor"): W_low with sentinels, compact W_high, per-(row,
// bank) scales, exactly as the host reference's pack_sq.
//
// The mask has one byte per weight, 1 = high, 0 = low, exactly H high per bank (another value,
// or a bank with another count, sets the status word: Status::invalid_argument).
//
// Two kernels, same bytes: SqLanePolicy (the default: SqLanePackPolicyFor<Config, T>, coalesced
// loads and write_split_bank; detail/sq_lane_pack_kernel.cuh) gives each thread one whole bank, for
// configs with sq_lane_kernel_fits (others run the bank-group kernel); SqBankPolicy runs the
// bank-group kernel (one block per row and tile of banks, a bank spread over a group of lanes,
// detail/sq_tile.cuh).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cuda_runtime.h>
#include <type_traits>

#include "sqformat/config.hpp"
#include "sqformat/gpu/datapath/detail/element.cuh"
#include "sqformat/gpu/datapath/detail/shared_copy.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_launch.cuh"
#include "sqformat/gpu/datapath/detail/sq_lane_pack_kernel.cuh"
#include "sqformat/gpu/datapath/detail/sq_launch.cuh"
#include "sqformat/gpu/datapath/detail/sq_tile.cuh"
#include "sqformat/gpu/datapath/layout.hpp"
#include "sqformat/gpu/datapath/policy.hpp"
#include "sqformat/gpu/datapath/sq_lane_policy.hpp"
#include "sqformat/gpu/datapath/sq_tensor_ref.hpp"
#include "sqformat/gpu/datapath/status_word.cuh"
#include "sqformat/status.hpp"

namespace sqformat::gpu::datapath {

/// Arguments of pack_weights. All pointers are device pointers, 16-byte aligned.
template <class T> struct WeightPackArgs {
  const T* w = nullptr;                    ///< N×K row-major, float or bf16
  const std::uint8_t* high_mask = nullptr; ///< N×K bytes, 1 = high, 0 = low
  std::int64_t rows = 0;                   ///< N
  std::int64_t cols = 0;                   ///< K, a multiple of the bank size
  SqTensorRef out;
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
};

namespace detail {

template <class C, class P, class T>
__global__ void __launch_bounds__(P::threads, P::min_blocks_per_sm)
    pack_weights_kernel(WeightPackArgs<T> args) {
  using S = SqBankShape<C, P>;
  constexpr int E = S::elements_per_lane;
  const std::int64_t row = blockIdx.x;
  __shared__ __align__(16) T tile_w[S::tile_low_codes];
  __shared__ __align__(16) std::uint8_t tile_mask[S::tile_low_bytes];
  const TileExtent tile = tile_extent<C, P>(args.cols);
  const std::int64_t first = row * args.cols + tile.first * C::bank;
  const std::int64_t count = static_cast<std::int64_t>(tile.count) * C::bank;
  copy_to_shared(tile_w, args.w + first, count);
  copy_to_shared(tile_mask, args.high_mask + first, count);
  __syncthreads();

  auto load_bank = [&](int bank, int lane, bool active, float(&v)[E], bool(&high)[E]) {
    T raw[E];
    std::uint8_t mask[E];
    load_elements<E>(tile_w + bank * C::bank + lane * E, raw);
    load_elements<E>(tile_mask + bank * C::bank + lane * E, mask);
    unsigned flags = 0;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      v[e] = Element<T>::to_float(raw[e]);
      high[e] = mask[e] != 0;
      if (active && is_non_finite(v[e]))
        flags |= flag_non_finite;
      if (active && mask[e] > 1)
        flags |= flag_bad_mask; // the reference rejects it too
    }
    return flags;
  };
  const unsigned flags = quantize_sq_tile<C, P, true>(row, args.cols, args.out, load_bank);
  if (flags != 0)
    raise_flag(static_cast<unsigned*>(args.workspace), flags);
}

} // namespace detail

namespace detail {

inline constexpr PointerRule kPackWeightsPointers[] = {
    {"w is null", "w must be 16-byte aligned"},
    {"high_mask is null", "high_mask must be 16-byte aligned"},
    {"out.low is null", "out.low must be 16-byte aligned"},
    {"out.high is null", "out.high must be 16-byte aligned"},
    {"out.scale_low is null", "out.scale_low must be 16-byte aligned"},
    {"out.scale_high is null", "out.scale_high must be 16-byte aligned"}};

template <class Config, class Policy, class T>
Status pack_weights_checked(const WeightPackArgs<T>& args, cudaStream_t stream, InputCheck check,
                            const char** why) {
  if constexpr (std::is_same_v<Policy, SqLanePackPolicy>) {
    return pack_weights_checked<Config, SqLanePackPolicyFor<Config, T>>(args, stream, check, why);
  } else if constexpr (is_sq_lane_policy_v<Policy> && !sq_lane_kernel_fits<Config>) {
    return pack_weights_checked<Config, SqBankPolicy<>>(args, stream, check, why);
  } else {
    dim3 grid;
    std::int64_t banks = 0;
    Status s = sq_tensor_grid<Config, Policy>(args.rows, args.cols, banks, grid, why);
    if (s != Status::success)
      return s;
    if ((s = check_pointers(why, kPackWeightsPointers, args.w, args.high_mask, args.out.low,
                            args.out.high, args.out.scale_low, args.out.scale_high)) !=
        Status::success)
      return s;
    if ((s = check_workspace(args.workspace, args.workspace_bytes, why)) != Status::success)
      return s;
    static KernelLaunchCache cache;
    long long shared_limit = 0;
    if constexpr (is_sq_lane_policy_v<Policy>) {
      auto* kernel = &sq_lane_pack_kernel<Config, Policy, T>;
      if ((s = check_kernel_on_device(cache, kernel, shared_limit, why)) != Status::success)
        return s;
      if ((s = launch_lane_kernel<Config, Policy, sq_lane_pack_chunks<Config, T>>(
               kernel, grid, shared_limit, stream, why, args.w, args.high_mask, banks, args.out,
               static_cast<unsigned*>(args.workspace))) != Status::success)
        return s;
    } else {
      auto* kernel = &pack_weights_kernel<Config, Policy, T>;
      if ((s = check_kernel_on_device(cache, kernel, shared_limit, why)) != Status::success)
        return s;
      kernel<<<grid, Policy::threads, 0, stream>>>(args);
    }
    return finish_launch(args.workspace, stream, check, why);
  }
}

} // namespace detail

/// Packs W (N×K, float or bf16) with its high mask into an SQ tensor.
///
/// Returns at once on misuse: invalid_shape, k_not_multiple_of_bank, invalid_argument (null
/// pointer), misaligned_pointer, insufficient_workspace, unsupported_architecture. With
/// InputCheck::synchronous it then waits and returns non_finite_input (NaN/Inf in W) or
/// invalid_argument (a bank of the mask without exactly H high elements). On failure `*reason`
/// (if given) names the rule that failed; a success leaves it untouched.
template <class Config, class Policy = SqLanePackPolicy, class T>
Status pack_weights(const WeightPackArgs<T>& args, cudaStream_t stream,
                    InputCheck check = InputCheck::synchronous, const char** reason = nullptr) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, __nv_bfloat16>,
                "pack_weights: W must be float or bf16 (__nv_bfloat16)");
  const char* why = nullptr;
  const Status s = detail::pack_weights_checked<Config, Policy>(args, stream, check, &why);
  return detail::report(s, why, reason);
}

} // namespace sqformat::gpu::datapath

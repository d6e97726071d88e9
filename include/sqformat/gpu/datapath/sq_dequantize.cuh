// sqformat/gpu/datapath/sq_dequantize.cuh: the inverse of pack_weights / dynamic_quantize:
// an SQ tensor back to a dense rows×K matrix (float or bf16), element = code · scale in float32
// exactly as the host reference's dequantize (then rounded to nearest for bf16).
//
// Bank groups as in the packers: lane j of a group reads the low codes of its E elements, a
// sentinel marks a high element, whose code is the next one of the bank's compact high run;
// the position in the run is a prefix count of sentinels over the group's lanes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cuda_runtime.h>

#include "sqformat/config.hpp"
#include "sqformat/gpu/datapath/detail/bank_group.cuh"
#include "sqformat/gpu/datapath/detail/element.cuh"
#include "sqformat/gpu/datapath/detail/sq_launch.cuh"
#include "sqformat/gpu/datapath/layout.hpp"
#include "sqformat/gpu/datapath/policy.hpp"
#include "sqformat/gpu/datapath/sq_tensor_ref.hpp"
#include "sqformat/gpu/datapath/status_word.cuh"
#include "sqformat/status.hpp"

namespace sqformat::gpu::datapath {

/// Arguments of dequantize_sq. All pointers are device pointers, 16-byte aligned.
template <class T> struct SqDequantizeArgs {
  ConstSqTensorRef in; ///< rows × K SQ tensor
  std::int64_t rows = 0;
  std::int64_t cols = 0; ///< K, a multiple of the bank size
  T* out = nullptr;      ///< rows × K row-major, float or bf16
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
};

namespace detail {

/// Code `index` of a packed row (two's complement, sign-extended).
template <int Bits>
__device__ __forceinline__ int read_code(const std::uint8_t* row, std::int64_t index) {
  if constexpr (Bits == 8) {
    return static_cast<std::int8_t>(row[index]);
  } else {
    const std::int64_t bit = index * Bits;
    std::uint32_t raw = row[bit / 8] >> (bit % 8);
    if (bit % 8 + Bits > 8)
      raw |= static_cast<std::uint32_t>(row[bit / 8 + 1]) << (8 - bit % 8);
    return static_cast<int>(raw << (32 - Bits)) >> (32 - Bits);
  }
}

template <class C, class P, class T>
__global__ void __launch_bounds__(P::threads, P::min_blocks_per_sm)
    dequantize_sq_kernel(SqDequantizeArgs<T> args) {
  using S = SqBankShape<C, P>;
  constexpr int G = S::lanes_per_bank, E = S::elements_per_lane, TB = S::tile_banks;
  constexpr int B = C::bank, H = C::high_per_bank;
  const std::int64_t row = blockIdx.x, k = args.cols, banks = k / B;
  const std::uint8_t* low_row = args.in.low + row * sq_low_row_bytes<C>(k);
  const std::uint8_t* high_row = args.in.high + row * sq_high_row_bytes<C>(k);
  const std::int64_t first_bank = static_cast<std::int64_t>(blockIdx.y) * TB;
  const int tile_banks = static_cast<int>(min(static_cast<std::int64_t>(TB), banks - first_bank));
  const int group = threadIdx.x / G, lane = threadIdx.x % G;
  bool bad = false;

  for (int base = 0; base < tile_banks; base += S::groups_per_block) {
    const bool active = base + group < tile_banks;
    const std::int64_t bank = first_bank + (active ? base + group : 0);
    const std::int64_t first = bank * B + lane * E;
    int code[E];
    int high_count = 0;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      code[e] = read_code<C::low_bits>(low_row, first + e);
      high_count += code[e] == C::low_sentinel;
    }
    const int inclusive = group_inclusive_sum<G>(high_count, lane);
    if (!active)
      continue;
    bad |= lane == G - 1 && inclusive != H; // the group's last lane holds the bank's count
    const float s_low = args.in.scale_low[row * banks + bank];
    const float s_high = args.in.scale_high[row * banks + bank];
    int position = inclusive - high_count;
    T value[E];
#pragma unroll
    for (int e = 0; e < E; ++e) {
      float v;
      if (code[e] == C::low_sentinel) {
        bad |= position >= H;
        const int q = position < H ? read_code<C::high_bits>(high_row, bank * H + position) : 0;
        v = static_cast<float>(q) * s_high;
        ++position;
      } else {
        v = static_cast<float>(code[e]) * s_low;
      }
      value[e] = Element<T>::from_float(v);
    }
    T* dst = args.out + row * k + first;
#pragma unroll
    for (int e = 0; e < E; ++e)
      dst[e] = value[e];
  }
  if (bad)
    raise_flag(static_cast<unsigned*>(args.workspace), flag_bad_mask);
}

} // namespace detail

namespace detail {

inline constexpr PointerRule kDequantizePointers[] = {
    {"in.low is null", "in.low must be 16-byte aligned"},
    {"in.high is null", "in.high must be 16-byte aligned"},
    {"in.scale_low is null", "in.scale_low must be 16-byte aligned"},
    {"in.scale_high is null", "in.scale_high must be 16-byte aligned"},
    {"out is null", "out must be 16-byte aligned"}};

template <class Config, class Policy, class T>
Status dequantize_sq_checked(const SqDequantizeArgs<T>& args, cudaStream_t stream, InputCheck check,
                             const char** why) {
  dim3 grid;
  Status s = sq_grid<Config, Policy>(args.rows, args.cols, grid, why);
  if (s != Status::success)
    return s;
  if ((s = check_pointers(why, kDequantizePointers, args.in.low, args.in.high, args.in.scale_low,
                          args.in.scale_high, args.out)) != Status::success)
    return s;
  auto* kernel = &dequantize_sq_kernel<Config, Policy, T>;
  if ((s = check_workspace(args.workspace, args.workspace_bytes, why)) != Status::success)
    return s;
  static KernelLaunchCache cache;
  long long shared_limit = 0;
  if ((s = check_kernel_on_device(cache, kernel, shared_limit, why)) != Status::success)
    return s;
  kernel<<<grid, Policy::threads, 0, stream>>>(args);
  return finish_launch(args.workspace, stream, check, why);
}

} // namespace detail

/// Dequantizes an SQ tensor (rows × K) into `out` (float or bf16).
///
/// Returns at once on misuse: invalid_shape, k_not_multiple_of_bank, invalid_argument (null
/// pointer), misaligned_pointer, insufficient_workspace, unsupported_architecture. With
/// InputCheck::synchronous it then waits and returns invalid_argument if a bank did not hold
/// exactly H sentinels (not an SQ tensor of this config). On failure `*reason` (if given) names
/// the rule that failed; a success leaves it untouched.
template <class Config, class Policy = SqBankPolicy<>, class T>
Status dequantize_sq(const SqDequantizeArgs<T>& args, cudaStream_t stream,
                     InputCheck check = InputCheck::synchronous, const char** reason = nullptr) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, __nv_bfloat16>,
                "dequantize_sq: the output must be float or bf16 (__nv_bfloat16)");
  const char* why = nullptr;
  const Status s = detail::dequantize_sq_checked<Config, Policy>(args, stream, check, &why);
  return detail::report(s, why, reason);
}

} // namespace sqformat::gpu::datapath

// sqformat/gpu/datapath/static_split_args.hpp: arguments of the static quantize-and-split
// (docs/layouts.md, "Static SQ activations"), shared by its two kernels and its launcher.
//
// Plain C++17, no CUDA headers (SQFORMAT_HD marks what device code calls).
#pragma once

#include <cstddef>
#include <cstdint>

#include "sqformat/config.hpp" // SQFORMAT_HD

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

/// Bytes of one row of int8 codes in shared memory: the high block, then the low block, each
/// padded to 16 bytes so that the packers may read whole vectors.
SQFORMAT_HD constexpr std::int64_t static_code_row_bytes(std::int64_t kh, std::int64_t kl) {
  return (kh + 15) / 16 * 16 + (kl + 15) / 16 * 16;
}

} // namespace detail
} // namespace sqformat::gpu::datapath

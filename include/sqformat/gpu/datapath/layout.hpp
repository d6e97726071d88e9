// sqformat/gpu/datapath/layout.hpp: byte sizes of the buffers the data-path kernels read and
// write, as docs/layouts.md fixes them (every packed row starts on a byte: stride ceil(n·w/8)).
//
// Plain C++17, no CUDA headers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sqformat/config.hpp" // SQFORMAT_HD

namespace sqformat::gpu::datapath {

/// Bytes of one packed row of `count` codes of `bits` bits.
SQFORMAT_HD constexpr std::size_t packed_row_bytes(std::int64_t count, int bits) {
  return static_cast<std::size_t>((count * bits + 7) / 8);
}

/// Static split of an M×K activation: the high block has H·K/b columns, the low block the rest.
template <class Config> SQFORMAT_HD constexpr std::int64_t static_high_cols(std::int64_t k) {
  return k / Config::bank * Config::high_per_bank;
}
template <class Config> SQFORMAT_HD constexpr std::int64_t static_low_cols(std::int64_t k) {
  return k - static_high_cols<Config>(k);
}
template <class Config> SQFORMAT_HD constexpr std::size_t static_high_row_bytes(std::int64_t k) {
  return packed_row_bytes(static_high_cols<Config>(k), Config::high_bits);
}
template <class Config> SQFORMAT_HD constexpr std::size_t static_low_row_bytes(std::int64_t k) {
  return packed_row_bytes(static_low_cols<Config>(k), Config::low_bits);
}

/// SQ tensor (weights, dynamic activations) of rows×K: dense low part with sentinels, compact
/// high part, one low and one high float scale per (row, bank).
template <class Config> SQFORMAT_HD constexpr std::size_t sq_low_row_bytes(std::int64_t k) {
  return packed_row_bytes(k, Config::low_bits);
}
template <class Config> SQFORMAT_HD constexpr std::size_t sq_high_row_bytes(std::int64_t k) {
  return packed_row_bytes(k / Config::bank * Config::high_per_bank, Config::high_bits);
}
template <class Config> SQFORMAT_HD constexpr std::int64_t banks_per_row(std::int64_t k) {
  return k / Config::bank;
}

/// Bytes of device workspace every data-path kernel needs: one status word (padded to 16).
/// Query it through this function rather than relying on the value.
constexpr std::size_t workspace_size() { return 16; }

} // namespace sqformat::gpu::datapath

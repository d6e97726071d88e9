// sqformat/config.hpp: the compile-time description of one SQ-format configuration.
//
// A configuration fixes WHAT the data is (bank size, high elements per bank, bit widths) and
// therefore every result. How fast a kernel computes it is a separate "policy" (tiles, threads),
// which never changes results. Every derived constant of the format lives here, in one place.
//
// Plain C++17, no CUDA headers: usable from host code of any project and from device code.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define SQFORMAT_HD __host__ __device__
#else
#define SQFORMAT_HD
#endif

namespace sqformat {

namespace detail {
constexpr bool is_power_of_two(int v) { return v > 0 && (v & (v - 1)) == 0; }
} // namespace detail

/// Symmetric integer format of `Bits` bits as the SQ-format uses it.
/// Values lie in [-qmax, qmax] with qmax = 2^(Bits-1) - 1 (INT8 [-127,127], INT4 [-7,7],
/// INT3 [-3,3], INT2 [-1,1]). The most negative two's-complement code, -2^(Bits-1), is never a
/// value: in a dense low-precision tensor it is the *sentinel* that marks "this position is held
/// in high precision".
template <int Bits> struct IntFormat {
  static_assert(Bits == 2 || Bits == 3 || Bits == 4 || Bits == 8,
                "sqformat::IntFormat<Bits>: Bits must be 2, 3, 4 or 8 (the integer widths the "
                "SQ-format defines); use one of these widths");
  static constexpr int bits = Bits;
  static constexpr int qmax = (1 << (Bits - 1)) - 1;
  static constexpr int qmin = -qmax;
  static constexpr int sentinel = -(1 << (Bits - 1));
  /// Mask of the low `Bits` bits of a two's-complement code.
  static constexpr std::uint32_t code_mask = (1u << Bits) - 1u;
};

/// One SQ-format configuration, `B-(HighBits/LowBits)-s` in the paper's naming, with s = 1 - H/b.
///
/// \tparam BankSize     b: consecutive elements along K that form one bank (power of two, 4..1024).
/// \tparam HighPerBank  H: elements of every bank held in high precision, 0 < H < b.
/// \tparam HighBits     width of the high elements: 8 or 4.
/// \tparam LowBits      width of the low elements: 4, 3 or 2, narrower than HighBits.
template <int BankSize, int HighPerBank, int HighBits = 8, int LowBits = 4> struct SqConfig {
  static_assert(detail::is_power_of_two(BankSize),
                "sqformat::SqConfig: BankSize must be a power of two (4, 8, 16, ..., 1024); "
                "choose the nearest power of two");
  static_assert(BankSize >= 4 && BankSize <= 1024,
                "sqformat::SqConfig: BankSize must lie in [4, 1024]; choose a bank between 4 and "
                "1024 elements");
  static_assert(HighPerBank > 0 && HighPerBank < BankSize,
                "sqformat::SqConfig: HighPerBank must satisfy 0 < HighPerBank < BankSize (a bank "
                "with no high or no low elements is a uniform format: use the uniform quantizers)");
  static_assert(HighBits == 8 || HighBits == 4,
                "sqformat::SqConfig: HighBits must be 8 or 4 (INT8 or INT4 high precision)");
  static_assert(LowBits == 4 || LowBits == 3 || LowBits == 2,
                "sqformat::SqConfig: LowBits must be 4, 3 or 2 (INT4, INT3 or INT2 low precision)");
  static_assert(HighBits > LowBits,
                "sqformat::SqConfig: HighBits must be wider than LowBits (for example 8/4 or 4/2); "
                "swap them or pick a narrower low width");

  using high_format = IntFormat<HighBits>;
  using low_format = IntFormat<LowBits>;

  static constexpr int bank = BankSize;                       ///< b
  static constexpr int high_per_bank = HighPerBank;           ///< H
  static constexpr int low_per_bank = BankSize - HighPerBank; ///< b - H
  static constexpr int high_bits = HighBits;
  static constexpr int low_bits = LowBits;

  static constexpr int high_qmax = high_format::qmax;       ///< 127 or 7
  static constexpr int low_qmax = low_format::qmax;         ///< 7, 3 or 1
  static constexpr int low_sentinel = low_format::sentinel; ///< -8, -4 or -2

  /// s: fraction of every bank in low precision.
  static constexpr double sparsity = double(BankSize - HighPerBank) / double(BankSize);
  /// (1-s)·h_high + s·h_low, scales and masks excluded (the paper's figure).
  static constexpr double effective_bits =
      (double(HighPerBank) * HighBits + double(BankSize - HighPerBank) * LowBits) / BankSize;

  /// Bits of one bank of an SQ tensor (weights or dynamic activations): the dense low part with
  /// sentinels (b·low_bits) plus the compact high part (H·high_bits). Scales not included.
  static constexpr int sq_tensor_bits_per_bank = BankSize * LowBits + HighPerBank * HighBits;
  /// Bits of one bank of statically split activations (no sentinels: positions are static).
  static constexpr int static_split_bits_per_bank =
      HighPerBank * HighBits + (BankSize - HighPerBank) * LowBits;
  /// Scales stored per (row, bank) of an SQ tensor: one high and one low, float32 each.
  static constexpr int scale_bytes_per_bank = 2 * 4;
};

} // namespace sqformat

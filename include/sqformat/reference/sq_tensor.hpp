// sqformat/reference/sq_tensor.hpp: the SQ tensor (spec 1.1 weights W(SQ), and 1.3 dynamic
// activations) and its packing from float32 plus a high mask (docs/layouts.md, "SQ tensor").
//
// For a rows x K matrix, every bank of b consecutive elements of a row holds exactly H high
// elements:
//   low        rows x K codes at low_bits, packed; high positions hold the low sentinel
//              -(low_qmax+1). Row stride low_row_bytes = ceil(K * low_bits / 8).
//   high       rows x (H*K/b) codes at high_bits (INT8: one byte each; INT4: packed), in K order
//              inside each bank, banks in order. Row stride high_row_bytes.
//   scale_low  float32 rows x (K/b): per (row, bank), over the b-H low elements.
//   scale_high float32 rows x (K/b): per (row, bank), over the H high elements.
// The positions of the high elements are implied by the sentinels; no index array is stored.
#pragma once

#include <sqformat/config.hpp>
#include <sqformat/error.hpp>
#include <sqformat/reference/bitpack.hpp>
#include <sqformat/reference/detail/checks.hpp>
#include <sqformat/reference/quantize.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sqformat::ref {

template <class C> struct SqTensor {
  using config = C;
  std::size_t rows = 0;
  std::size_t cols = 0;           ///< K, a multiple of C::bank
  std::size_t low_row_bytes = 0;  ///< packed_bytes(cols, C::low_bits)
  std::size_t high_row_bytes = 0; ///< packed_bytes(high_cols(), C::high_bits)
  std::vector<std::uint8_t> low;  ///< rows x low_row_bytes
  std::vector<std::uint8_t> high; ///< rows x high_row_bytes
  std::vector<float> scale_low;   ///< rows x banks()
  std::vector<float> scale_high;  ///< rows x banks()

  std::size_t banks() const { return cols / C::bank; }
  std::size_t high_cols() const { return banks() * C::high_per_bank; }
  /// Low code (the sentinel at high positions) of element (r, k).
  int low_code(std::size_t r, std::size_t k) const {
    return get_code(low.data() + r * low_row_bytes, k, C::low_bits);
  }
  /// j-th high code of row r (j in [0, high_cols())).
  int high_code(std::size_t r, std::size_t j) const {
    return get_code(high.data() + r * high_row_bytes, j, C::high_bits);
  }
  bool is_high(std::size_t r, std::size_t k) const { return low_code(r, k) == C::low_sentinel; }
};

/// An SqTensor of the given shape with all storage allocated and zeroed.
template <class C> SqTensor<C> make_sq_tensor(std::size_t rows, std::size_t cols) {
  detail::check_nonempty(rows, cols, "make_sq_tensor");
  detail::check_bank_multiple(cols, C::bank, "make_sq_tensor");
  SqTensor<C> t;
  t.rows = rows;
  t.cols = cols;
  t.low_row_bytes = packed_bytes(cols, C::low_bits);
  t.high_row_bytes = packed_bytes(t.high_cols(), C::high_bits);
  t.low.assign(rows * t.low_row_bytes, 0);
  t.high.assign(rows * t.high_row_bytes, 0);
  t.scale_low.assign(rows * t.banks(), 0.0f);
  t.scale_high.assign(rows * t.banks(), 0.0f);
  return t;
}

namespace detail {
[[noreturn]] inline void throw_bad_mask(std::size_t row, std::size_t bank, std::size_t count,
                                        int expected, const char* who) {
  throw Error(ErrorCode::bad_mask,
              std::string(who) + ": row " + std::to_string(row) + ", bank " + std::to_string(bank) +
                  " has " + std::to_string(count) +
                  " high elements; every bank must have exactly H = " + std::to_string(expected));
}
} // namespace detail

/// Packs a row-major rows x cols float32 matrix into an SqTensor. `high_mask` (rows x cols, one
/// byte per element, 1 = high, 0 = low) must mark exactly H high elements in every (row, bank),
/// else Error(bad_mask); values other than 0 and 1 are rejected too. Throws
/// k_not_multiple_of_bank if cols % b != 0 and non_finite_input for NaN/Inf.
template <class C>
SqTensor<C> pack_sq(const float* x, std::size_t rows, std::size_t cols,
                    const std::uint8_t* high_mask) {
  detail::check_pointer(x, "pack_sq", "x");
  detail::check_pointer(high_mask, "pack_sq", "high_mask");
  SqTensor<C> t = make_sq_tensor<C>(rows, cols);
  constexpr int b = C::bank;
  std::vector<std::int8_t> low_codes(cols);
  std::vector<std::int8_t> high_codes(t.high_cols());
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    const std::uint8_t* mr = high_mask + r * cols;
    std::size_t hj = 0; // next high slot of this row
    for (std::size_t bank = 0; bank < t.banks(); ++bank) {
      const std::size_t k0 = bank * b;
      float amax_low = 0.0f;
      float amax_high = 0.0f;
      std::size_t count = 0;
      for (int i = 0; i < b; ++i) {
        const float v = xr[k0 + i];
        if (!std::isfinite(v)) {
          detail::throw_non_finite(v, r * cols + k0 + i, "pack_sq");
        }
        const std::uint8_t m = mr[k0 + i];
        if (m > 1) {
          throw Error(ErrorCode::bad_mask, "pack_sq: high_mask value " + std::to_string(m) +
                                               " at row " + std::to_string(r) + ", column " +
                                               std::to_string(k0 + i) + " is not 0 or 1");
        }
        const float a = std::fabs(v);
        if (m) {
          ++count;
          amax_high = a > amax_high ? a : amax_high;
        } else {
          amax_low = a > amax_low ? a : amax_low;
        }
      }
      if (count != static_cast<std::size_t>(C::high_per_bank)) {
        detail::throw_bad_mask(r, bank, count, C::high_per_bank, "pack_sq");
      }
      const float s_low = symmetric_scale(amax_low, C::low_qmax);
      const float s_high = symmetric_scale(amax_high, C::high_qmax);
      t.scale_low[r * t.banks() + bank] = s_low;
      t.scale_high[r * t.banks() + bank] = s_high;
      for (int i = 0; i < b; ++i) {
        const float v = xr[k0 + i];
        if (mr[k0 + i]) {
          low_codes[k0 + i] = static_cast<std::int8_t>(C::low_sentinel);
          high_codes[hj++] = static_cast<std::int8_t>(quantize_value(v, s_high, C::high_qmax));
        } else {
          low_codes[k0 + i] = static_cast<std::int8_t>(quantize_value(v, s_low, C::low_qmax));
        }
      }
    }
    pack_codes(low_codes.data(), cols, C::low_bits, t.low.data() + r * t.low_row_bytes);
    pack_codes(high_codes.data(), t.high_cols(), C::high_bits,
               t.high.data() + r * t.high_row_bytes);
  }
  return t;
}

/// Unpacks row r into dense codes: low_out[k] is the low code (0 at high positions) and
/// high_out[k] the high code (0 at low positions); both have cols entries. Either may be null.
template <class C>
void unpack_sq_row(const SqTensor<C>& t, std::size_t r, std::int8_t* low_out,
                   std::int8_t* high_out) {
  std::size_t hj = 0;
  for (std::size_t k = 0; k < t.cols; ++k) {
    const int lc = t.low_code(r, k);
    const bool high = lc == C::low_sentinel;
    if (low_out) {
      low_out[k] = static_cast<std::int8_t>(high ? 0 : lc);
    }
    if (high_out) {
      high_out[k] = static_cast<std::int8_t>(high ? t.high_code(r, hj) : 0);
    }
    hj += high ? 1 : 0;
  }
}

/// The high mask (rows x cols, 1 = high) recovered from the sentinels of the low part.
template <class C> std::vector<std::uint8_t> high_mask_of(const SqTensor<C>& t) {
  std::vector<std::uint8_t> mask(t.rows * t.cols);
  for (std::size_t r = 0; r < t.rows; ++r) {
    for (std::size_t k = 0; k < t.cols; ++k) {
      mask[r * t.cols + k] = t.is_high(r, k) ? 1 : 0;
    }
  }
  return mask;
}

/// Dequantizes to a row-major rows x cols float32 matrix: q * scale of the element's set.
template <class C> void dequantize(const SqTensor<C>& t, float* out) {
  for (std::size_t r = 0; r < t.rows; ++r) {
    std::size_t hj = 0; // next high code of the row
    for (std::size_t k = 0; k < t.cols; ++k) {
      const std::size_t s = r * t.banks() + k / C::bank;
      const int lc = t.low_code(r, k);
      out[r * t.cols + k] = lc == C::low_sentinel
                                ? dequantize_value(t.high_code(r, hj++), t.scale_high[s])
                                : dequantize_value(lc, t.scale_low[s]);
    }
  }
}

/// Dequantizes to float64: q * scale computed exactly (the oracle's input).
template <class C> std::vector<double> dequantize_double(const SqTensor<C>& t) {
  std::vector<double> out(t.rows * t.cols);
  std::vector<std::int8_t> lo(t.cols), hi(t.cols);
  for (std::size_t r = 0; r < t.rows; ++r) {
    unpack_sq_row(t, r, lo.data(), hi.data());
    for (std::size_t k = 0; k < t.cols; ++k) {
      const std::size_t s = r * t.banks() + k / C::bank;
      out[r * t.cols + k] = t.is_high(r, k) ? double(hi[k]) * double(t.scale_high[s])
                                            : double(lo[k]) * double(t.scale_low[s]);
    }
  }
  return out;
}

/// Checks the structural invariants of an SqTensor (sizes, exactly H sentinels per bank, no
/// sentinel among high codes, codes within [-qmax, qmax], zero padding bits, finite non-negative
/// scales). Throws
/// Error (shape_mismatch, bad_mask or invalid_argument) naming the first violation.
template <class C> void validate(const SqTensor<C>& t) {
  detail::check_nonempty(t.rows, t.cols, "validate(SqTensor)");
  detail::check_bank_multiple(t.cols, C::bank, "validate(SqTensor)");
  if (t.low_row_bytes != packed_bytes(t.cols, C::low_bits) ||
      t.high_row_bytes != packed_bytes(t.high_cols(), C::high_bits) ||
      t.low.size() != t.rows * t.low_row_bytes || t.high.size() != t.rows * t.high_row_bytes ||
      t.scale_low.size() != t.rows * t.banks() || t.scale_high.size() != t.rows * t.banks()) {
    throw Error(ErrorCode::shape_mismatch,
                "validate(SqTensor): array sizes disagree with the shape " +
                    std::to_string(t.rows) + "x" + std::to_string(t.cols));
  }
  for (std::size_t r = 0; r < t.rows; ++r) {
    for (std::size_t bank = 0; bank < t.banks(); ++bank) {
      std::size_t count = 0;
      for (int i = 0; i < C::bank; ++i) {
        count += t.is_high(r, bank * C::bank + i) ? 1 : 0;
      }
      if (count != static_cast<std::size_t>(C::high_per_bank)) {
        detail::throw_bad_mask(r, bank, count, C::high_per_bank, "validate(SqTensor)");
      }
      const float sl = t.scale_low[r * t.banks() + bank];
      const float sh = t.scale_high[r * t.banks() + bank];
      if (!(sl >= 0.0f) || !(sh >= 0.0f) || !std::isfinite(sl) || !std::isfinite(sh)) {
        throw Error(ErrorCode::invalid_argument,
                    "validate(SqTensor): scale of row " + std::to_string(r) + ", bank " +
                        std::to_string(bank) + " is negative or not finite");
      }
    }
    // Unused trailing bits of a packed row are zero (kernels may read whole bytes or words).
    const std::size_t low_used = t.cols * C::low_bits % 8;
    const std::size_t high_used = t.high_cols() * C::high_bits % 8;
    if ((low_used && (t.low[(r + 1) * t.low_row_bytes - 1] >> low_used) != 0) ||
        (high_used && (t.high[(r + 1) * t.high_row_bytes - 1] >> high_used) != 0)) {
      throw Error(ErrorCode::invalid_argument,
                  "validate(SqTensor): row " + std::to_string(r) + " has non-zero padding bits");
    }
    for (std::size_t j = 0; j < t.high_cols(); ++j) {
      const int c = t.high_code(r, j);
      if (c < -C::high_qmax || c > C::high_qmax) {
        throw Error(ErrorCode::invalid_argument,
                    "validate(SqTensor): high code " + std::to_string(c) + " of row " +
                        std::to_string(r) + " lies outside [-qmax, qmax]");
      }
    }
  }
}

} // namespace sqformat::ref

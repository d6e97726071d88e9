// sqformat/reference/static_split.hpp: static SQ activations (spec 1.2, docs/layouts.md
// "Static SQ activations").
//
// A channel mask (K flags, exactly H high per bank) becomes a permutation perm of K, with
// perm[k'] = original channel of permuted column k':
//
//   k' :  [ high of bank 0 | high of bank 1 | ... ][ low of bank 0 | low of bank 1 | ... ]
//          <---------- Kh = H*K/b ------------->  <-------- Kl = K - Kh --------------->
//
// each run in increasing channel order. Bank beta's high channels are high-block columns
// [beta*H, (beta+1)*H), its low ones low-block columns [beta*(b-H), (beta+1)*(b-H)). The weight
// columns are reordered by the same perm offline (permute_columns). At run time X splits into
// x_high (M x Kh at high_bits) and x_low (M x Kl at low_bits, packed) with per-token or per
// (token, bank) scales.
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

/// Permutation of the static split from a channel mask (K bytes, 1 = high, exactly H per bank).
template <class C>
std::vector<std::uint32_t> permutation_from_channel_mask(const std::uint8_t* mask, std::size_t K) {
  detail::check_pointer(mask, "permutation_from_channel_mask", "mask");
  detail::check_nonempty(1, K, "permutation_from_channel_mask");
  detail::check_bank_multiple(K, C::bank, "permutation_from_channel_mask");
  std::vector<std::uint32_t> perm(K);
  const std::size_t banks = K / C::bank;
  const std::size_t kh = banks * C::high_per_bank;
  std::size_t hi = 0;
  std::size_t lo = kh;
  for (std::size_t bank = 0; bank < banks; ++bank) {
    std::size_t count = 0;
    for (int i = 0; i < C::bank; ++i) {
      const std::size_t k = bank * C::bank + i;
      if (mask[k] > 1) {
        throw Error(ErrorCode::bad_mask, "permutation_from_channel_mask: mask value at channel " +
                                             std::to_string(k) + " is not 0 or 1");
      }
      count += mask[k];
    }
    if (count != static_cast<std::size_t>(C::high_per_bank)) {
      throw Error(ErrorCode::bad_mask, "permutation_from_channel_mask: bank " +
                                           std::to_string(bank) + " has " + std::to_string(count) +
                                           " high channels; every bank must have exactly H = " +
                                           std::to_string(C::high_per_bank));
    }
    for (int i = 0; i < C::bank; ++i) {
      const std::size_t k = bank * C::bank + i;
      perm[mask[k] ? hi++ : lo++] = static_cast<std::uint32_t>(k);
    }
  }
  return perm;
}

/// inv[perm[k']] = k'. Throws invalid_argument unless perm is a permutation of 0..K-1.
inline std::vector<std::uint32_t> inverse_permutation(const std::vector<std::uint32_t>& perm) {
  std::vector<std::uint32_t> inv(perm.size(), 0);
  std::vector<std::uint8_t> seen(perm.size(), 0);
  for (std::size_t k = 0; k < perm.size(); ++k) {
    const std::uint32_t p = perm[k];
    if (p >= perm.size() || seen[p]) {
      throw Error(ErrorCode::invalid_argument,
                  "inverse_permutation: entry " + std::to_string(k) + " = " + std::to_string(p) +
                      " is out of range or repeated; not a permutation");
    }
    seen[p] = 1;
    inv[p] = static_cast<std::uint32_t>(k);
  }
  return inv;
}

/// Throws unless perm has the bank structure above: a permutation of 0..K-1 whose high-block
/// column beta*H + j and low-block column beta*(b-H) + j both hold channels of bank beta, in
/// increasing channel order inside each bank's high run and low run.
template <class C>
void check_static_permutation(const std::vector<std::uint32_t>& perm, std::size_t K) {
  if (perm.size() != K) {
    throw Error(ErrorCode::shape_mismatch, "static permutation has " + std::to_string(perm.size()) +
                                               " entries but K = " + std::to_string(K));
  }
  detail::check_bank_multiple(K, C::bank, "check_static_permutation");
  (void)inverse_permutation(perm);
  const std::size_t kh = K / C::bank * C::high_per_bank;
  for (std::size_t k = 0; k < K; ++k) {
    const std::size_t bank = k < kh ? k / C::high_per_bank : (k - kh) / C::low_per_bank;
    if (perm[k] / C::bank != bank) {
      throw Error(ErrorCode::invalid_argument,
                  "static permutation: column " + std::to_string(k) + " holds channel " +
                      std::to_string(perm[k]) + ", which is not in bank " + std::to_string(bank) +
                      "; build it with permutation_from_channel_mask");
    }
    // Inside a bank's run of high (or low) columns the channels increase, so the permutation is
    // a function of the channel mask alone (docs/layouts.md).
    const bool run_continues =
        k + 1 < K && k + 1 != kh &&
        (k + 1 < kh ? (k + 1) % C::high_per_bank != 0 : (k + 1 - kh) % C::low_per_bank != 0);
    if (run_continues && perm[k + 1] < perm[k]) {
      throw Error(ErrorCode::invalid_argument,
                  "static permutation: columns " + std::to_string(k) + " and " +
                      std::to_string(k + 1) + " hold channels " + std::to_string(perm[k]) +
                      " and " + std::to_string(perm[k + 1]) +
                      " of one bank in decreasing order; build it with "
                      "permutation_from_channel_mask");
    }
  }
}

/// Channel mask (1 = high) described by a static permutation.
template <class C>
std::vector<std::uint8_t> channel_mask_of(const std::vector<std::uint32_t>& perm) {
  check_static_permutation<C>(perm, perm.size());
  std::vector<std::uint8_t> mask(perm.size(), 0);
  const std::size_t kh = perm.size() / C::bank * C::high_per_bank;
  for (std::size_t k = 0; k < kh; ++k) {
    mask[perm[k]] = 1;
  }
  return mask;
}

/// Reorders the columns of a row-major rows x K matrix: out[r, k'] = w[r, perm[k']].
template <class T>
std::vector<T> permute_columns(const T* w, std::size_t rows, std::size_t K,
                               const std::vector<std::uint32_t>& perm) {
  if (perm.size() != K) {
    throw Error(ErrorCode::shape_mismatch, "permute_columns: permutation length " +
                                               std::to_string(perm.size()) +
                                               " != K = " + std::to_string(K));
  }
  (void)inverse_permutation(perm);
  std::vector<T> out(rows * K);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t k = 0; k < K; ++k) {
      out[r * K + k] = w[r * K + perm[k]];
    }
  }
  return out;
}

/// Granularity of the activation scales of a static split.
enum class ActScale : std::uint32_t {
  per_token = 0,      ///< one high and one low scale per token (the fast path)
  per_token_bank = 1, ///< one high and one low scale per (token, bank)
};

template <class C> struct StaticSplit {
  using config = C;
  std::size_t rows = 0; ///< M, tokens
  std::size_t cols = 0; ///< K
  ActScale granularity = ActScale::per_token;
  std::vector<std::uint32_t> perm;  ///< perm[k'] = original channel
  std::size_t high_row_bytes = 0;   ///< packed_bytes(high_cols(), C::high_bits)
  std::size_t low_row_bytes = 0;    ///< packed_bytes(low_cols(), C::low_bits)
  std::vector<std::uint8_t> x_high; ///< rows x high_row_bytes
  std::vector<std::uint8_t> x_low;  ///< rows x low_row_bytes
  std::vector<float> scale_high;    ///< rows x scales_per_row()
  std::vector<float> scale_low;     ///< rows x scales_per_row()

  std::size_t banks() const { return cols / C::bank; }
  std::size_t high_cols() const { return banks() * C::high_per_bank; }
  std::size_t low_cols() const { return banks() * C::low_per_bank; }
  std::size_t scales_per_row() const { return granularity == ActScale::per_token ? 1 : banks(); }
  int high_code(std::size_t m, std::size_t j) const {
    return get_code(x_high.data() + m * high_row_bytes, j, C::high_bits);
  }
  int low_code(std::size_t m, std::size_t j) const {
    return get_code(x_low.data() + m * low_row_bytes, j, C::low_bits);
  }
  /// Code of token m at permuted column k' (high block first, then low block).
  int code(std::size_t m, std::size_t kp) const {
    return kp < high_cols() ? high_code(m, kp) : low_code(m, kp - high_cols());
  }
  /// Scale of token m at permuted column k'.
  float scale(std::size_t m, std::size_t kp) const {
    const bool high = kp < high_cols();
    if (granularity == ActScale::per_token) {
      return high ? scale_high[m] : scale_low[m];
    }
    const std::size_t bank = high ? kp / C::high_per_bank : (kp - high_cols()) / C::low_per_bank;
    return high ? scale_high[m * banks() + bank] : scale_low[m * banks() + bank];
  }
};

namespace detail {
/// Quantizes n values (already gathered) with one scale into codes; returns the scale.
inline float quantize_group(const float* v, std::size_t n, int qmax, std::int8_t* codes) {
  float amax = 0.0f;
  for (std::size_t i = 0; i < n; ++i) {
    const float a = std::fabs(v[i]);
    amax = a > amax ? a : amax;
  }
  const float s = symmetric_scale(amax, qmax);
  for (std::size_t i = 0; i < n; ++i) {
    codes[i] = static_cast<std::int8_t>(quantize_value(v[i], s, qmax));
  }
  return s;
}
} // namespace detail

/// Splits and quantizes activations X (row-major M x K, original channel order) by a static
/// permutation (from permutation_from_channel_mask) with the given scale granularity.
template <class C>
StaticSplit<C> split_static(const float* x, std::size_t M, std::size_t K,
                            const std::vector<std::uint32_t>& perm, ActScale granularity) {
  detail::check_pointer(x, "split_static", "x");
  detail::check_nonempty(M, K, "split_static");
  detail::check_bank_multiple(K, C::bank, "split_static");
  check_static_permutation<C>(perm, K);
  if (granularity != ActScale::per_token && granularity != ActScale::per_token_bank) {
    throw Error(ErrorCode::invalid_argument, "split_static: unknown ActScale value");
  }
  StaticSplit<C> s;
  s.rows = M;
  s.cols = K;
  s.granularity = granularity;
  s.perm = perm;
  s.high_row_bytes = packed_bytes(s.high_cols(), C::high_bits);
  s.low_row_bytes = packed_bytes(s.low_cols(), C::low_bits);
  s.x_high.assign(M * s.high_row_bytes, 0);
  s.x_low.assign(M * s.low_row_bytes, 0);
  s.scale_high.assign(M * s.scales_per_row(), 0.0f);
  s.scale_low.assign(M * s.scales_per_row(), 0.0f);
  std::vector<float> xp(K);
  std::vector<std::int8_t> codes(K);
  const std::size_t kh = s.high_cols();
  for (std::size_t m = 0; m < M; ++m) {
    const float* xr = x + m * K;
    for (std::size_t k = 0; k < K; ++k) {
      const float v = xr[perm[k]];
      if (!std::isfinite(v)) {
        detail::throw_non_finite(v, m * K + perm[k], "split_static");
      }
      xp[k] = v;
    }
    if (granularity == ActScale::per_token) {
      s.scale_high[m] = detail::quantize_group(xp.data(), kh, C::high_qmax, codes.data());
      s.scale_low[m] =
          detail::quantize_group(xp.data() + kh, K - kh, C::low_qmax, codes.data() + kh);
    } else {
      for (std::size_t bank = 0; bank < s.banks(); ++bank) {
        const std::size_t h0 = bank * C::high_per_bank;
        const std::size_t l0 = kh + bank * C::low_per_bank;
        s.scale_high[m * s.banks() + bank] = detail::quantize_group(
            xp.data() + h0, C::high_per_bank, C::high_qmax, codes.data() + h0);
        s.scale_low[m * s.banks() + bank] =
            detail::quantize_group(xp.data() + l0, C::low_per_bank, C::low_qmax, codes.data() + l0);
      }
    }
    pack_codes(codes.data(), kh, C::high_bits, s.x_high.data() + m * s.high_row_bytes);
    pack_codes(codes.data() + kh, K - kh, C::low_bits, s.x_low.data() + m * s.low_row_bytes);
  }
  return s;
}

/// Dequantizes to M x K float32 in PERMUTED column order (high block, then low block).
template <class C> void dequantize_permuted(const StaticSplit<C>& s, float* out) {
  for (std::size_t m = 0; m < s.rows; ++m) {
    for (std::size_t k = 0; k < s.cols; ++k) {
      out[m * s.cols + k] = dequantize_value(s.code(m, k), s.scale(m, k));
    }
  }
}

/// Dequantizes to M x K float32 in the ORIGINAL channel order.
template <class C> void dequantize(const StaticSplit<C>& s, float* out) {
  for (std::size_t m = 0; m < s.rows; ++m) {
    for (std::size_t k = 0; k < s.cols; ++k) {
      out[m * s.cols + s.perm[k]] = dequantize_value(s.code(m, k), s.scale(m, k));
    }
  }
}

/// Dequantizes exactly to float64, PERMUTED column order (the oracle's input).
template <class C> std::vector<double> dequantize_double_permuted(const StaticSplit<C>& s) {
  std::vector<double> out(s.rows * s.cols);
  for (std::size_t m = 0; m < s.rows; ++m) {
    for (std::size_t k = 0; k < s.cols; ++k) {
      out[m * s.cols + k] = double(s.code(m, k)) * double(s.scale(m, k));
    }
  }
  return out;
}

} // namespace sqformat::ref

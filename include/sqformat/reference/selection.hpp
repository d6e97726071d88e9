// sqformat/reference/selection.hpp: top-H selection per (row, bank) and dynamic SQ activations
// (spec 1.3, docs/layouts.md "Dynamic SQ activations").
//
// Deterministic tie-break: a larger score first; equal scores -> the lower index within the bank
// wins. -0 and +0 compare equal. (score, index) is a strict total order on positions, so the
// selected set is unique whatever the selection algorithm. The reference maps scores to
// order-preserving uint32 keys, finds the H-th largest key of the bank with std::nth_element on a
// stack copy (b <= 1024), then takes the larger keys and the lowest-index equal ones.
#pragma once

#include <sqformat/config.hpp>
#include <sqformat/reference/detail/checks.hpp>
#include <sqformat/reference/quantize.hpp>
#include <sqformat/reference/sq_tensor.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace sqformat::ref {

namespace detail {

/// Order-preserving map of a finite float to uint32 (a < b as floats <=> key(a) < key(b) as
/// integers); -0 maps like +0 so the two compare equal.
inline std::uint32_t order_key(float v) {
  if (v == 0.0f) {
    v = 0.0f;
  }
  std::uint32_t bits;
  std::memcpy(&bits, &v, 4);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

/// Marks in mask[0..b) the H positions of largest key with the documented tie-break: t = the
/// H-th largest key (nth_element on a copy); every key > t is high, then keys == t in increasing
/// index order until H are high. Equivalent to sorting by (key descending, index ascending).
template <class C> void select_bank(const std::uint32_t* key, std::uint8_t* mask) {
  std::array<std::uint32_t, C::bank> buf;
  std::copy(key, key + C::bank, buf.begin());
  std::nth_element(buf.begin(), buf.begin() + (C::high_per_bank - 1), buf.end(),
                   [](std::uint32_t a, std::uint32_t b) { return a > b; });
  const std::uint32_t t = buf[C::high_per_bank - 1];
  int greater = 0;
  for (int i = 0; i < C::bank; ++i) {
    greater += key[i] > t ? 1 : 0;
  }
  int equal_left = C::high_per_bank - greater; // >= 1: t itself is among the top H
  for (int i = 0; i < C::bank; ++i) {
    const bool take = key[i] > t || (key[i] == t && equal_left > 0);
    equal_left -= (key[i] == t && take) ? 1 : 0;
    mask[i] = take ? 1 : 0;
  }
}

/// Selection over rows x cols with key_of(value) as the score; checks finiteness.
template <class C, class KeyOf>
std::vector<std::uint8_t> select_banks(const float* x, std::size_t rows, std::size_t cols,
                                       KeyOf key_of, const char* who) {
  check_pointer(x, who, "input");
  check_nonempty(rows, cols, who);
  check_bank_multiple(cols, C::bank, who);
  std::vector<std::uint8_t> mask(rows * cols);
  std::array<std::uint32_t, C::bank> key;
  for (std::size_t base = 0; base < rows * cols; base += C::bank) {
    for (int i = 0; i < C::bank; ++i) {
      const float v = x[base + i];
      if (!std::isfinite(v)) {
        throw_non_finite(v, base + i, who);
      }
      key[i] = key_of(v);
    }
    select_bank<C>(key.data(), mask.data() + base);
  }
  return mask;
}
} // namespace detail

/// High mask (rows x cols bytes, 1 = high) holding, per row and bank, the H largest scores
/// (ties -> lower index). Scores must be finite (else Error(non_finite_input)); cols % b == 0.
template <class C>
std::vector<std::uint8_t> select_top_h(const float* score, std::size_t rows, std::size_t cols) {
  return detail::select_banks<C>(
      score, rows, cols, [](float v) { return detail::order_key(v); }, "select_top_h");
}

/// High mask of the H largest |x| per (row, bank), ties -> lower index (dynamic activations).
template <class C>
std::vector<std::uint8_t> select_top_h_abs(const float* x, std::size_t rows, std::size_t cols) {
  return detail::select_banks<C>(
      x, rows, cols, [](float v) { return detail::order_key(std::fabs(v)); }, "select_top_h_abs");
}

/// Dynamic SQ activations: per (token, bank) the H elements of largest |x| are high; the result
/// is an SqTensor (rows = tokens).
template <class C>
SqTensor<C> quantize_dynamic(const float* x, std::size_t rows, std::size_t cols) {
  const std::vector<std::uint8_t> mask = select_top_h_abs<C>(x, rows, cols);
  return pack_sq<C>(x, rows, cols, mask.data());
}

} // namespace sqformat::ref

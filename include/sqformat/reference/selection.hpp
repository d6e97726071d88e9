// sqformat/reference/selection.hpp: top-H selection per (row, bank) and dynamic SQ activations
// (spec 1.3, docs/layouts.md "Dynamic SQ activations").
//
// Deterministic tie-break: a larger score first; equal scores -> the lower index within the bank
// wins. -0 and +0 compare equal. The comparator is a strict total order on positions, so the
// selected set is unique whatever the selection algorithm; the reference uses std::nth_element on
// a per-bank index array (b <= 1024 indices, no per-element heap allocation).
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
#include <vector>

namespace sqformat::ref {

namespace detail {
/// Marks in mask[0..b) the H positions of largest key(i) with the documented tie-break.
template <class C, class Key> void select_bank(Key key, std::uint8_t* mask) {
  std::array<std::uint16_t, C::bank> idx;
  for (int i = 0; i < C::bank; ++i) {
    idx[i] = static_cast<std::uint16_t>(i);
    mask[i] = 0;
  }
  auto before = [&](std::uint16_t a, std::uint16_t b) {
    const float ka = key(a);
    const float kb = key(b);
    return ka > kb || (ka == kb && a < b);
  };
  std::nth_element(idx.begin(), idx.begin() + C::high_per_bank, idx.end(), before);
  for (int i = 0; i < C::high_per_bank; ++i) {
    mask[idx[i]] = 1;
  }
}
} // namespace detail

/// High mask (rows x cols bytes, 1 = high) holding, per row and bank, the H largest scores
/// (ties -> lower index). Scores must be finite (else Error(non_finite_input)); cols % b == 0.
template <class C>
std::vector<std::uint8_t> select_top_h(const float* score, std::size_t rows, std::size_t cols) {
  detail::check_pointer(score, "select_top_h", "score");
  detail::check_nonempty(rows, cols, "select_top_h");
  detail::check_bank_multiple(cols, C::bank, "select_top_h");
  for (std::size_t i = 0; i < rows * cols; ++i) {
    if (!std::isfinite(score[i])) {
      detail::throw_non_finite(score[i], i, "select_top_h");
    }
  }
  std::vector<std::uint8_t> mask(rows * cols);
  for (std::size_t base = 0; base < rows * cols; base += C::bank) {
    const float* s = score + base;
    detail::select_bank<C>([s](int i) { return s[i]; }, mask.data() + base);
  }
  return mask;
}

/// High mask of the H largest |x| per (row, bank), ties -> lower index (dynamic activations).
template <class C>
std::vector<std::uint8_t> select_top_h_abs(const float* x, std::size_t rows, std::size_t cols) {
  detail::check_pointer(x, "select_top_h_abs", "x");
  detail::check_nonempty(rows, cols, "select_top_h_abs");
  detail::check_bank_multiple(cols, C::bank, "select_top_h_abs");
  for (std::size_t i = 0; i < rows * cols; ++i) {
    if (!std::isfinite(x[i])) {
      detail::throw_non_finite(x[i], i, "select_top_h_abs");
    }
  }
  std::vector<std::uint8_t> mask(rows * cols);
  for (std::size_t base = 0; base < rows * cols; base += C::bank) {
    const float* s = x + base;
    detail::select_bank<C>([s](int i) { return std::fabs(s[i]); }, mask.data() + base);
  }
  return mask;
}

/// Dynamic SQ activations: per (token, bank) the H elements of largest |x| are high; the result
/// is an SqTensor (rows = tokens).
template <class C>
SqTensor<C> quantize_dynamic(const float* x, std::size_t rows, std::size_t cols) {
  const std::vector<std::uint8_t> mask = select_top_h_abs<C>(x, rows, cols);
  return pack_sq<C>(x, rows, cols, mask.data());
}

} // namespace sqformat::ref

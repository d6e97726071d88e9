// sqformat/reference/product_static.hpp: W_int . A(SQ) with static activations (spec 1.2).
//
// W is an N x K uniform tensor whose columns are already in the permuted order of the split
// (permute_columns before quantizing; per channel or per group of 128 permuted columns). The
// integer sums run over permuted K: segments are the cuts of W's groups, of the activation
// scales (the high/low block boundary Kh, plus every bank's run for per (token, bank) scales),
// merged. High-block segments come first, then low-block ones.
#pragma once

#include <sqformat/reference/product_common.hpp>
#include <sqformat/reference/static_split.hpp>
#include <sqformat/reference/uniform.hpp>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace sqformat::ref {

template <class C>
ProductResult uniform_weight_times_static_detailed(const UniformTensor& w,
                                                   const StaticSplit<C>& x) {
  if (w.cols != x.cols) {
    detail::throw_k_mismatch(x.cols, w.cols, "uniform_weight_times_static");
  }
  const std::size_t K = x.cols, kh = x.high_cols();
  std::vector<std::size_t> act_cuts;
  if (x.granularity == ActScale::per_token) {
    act_cuts = {0, kh, K};
  } else {
    act_cuts = detail::merge_cuts(detail::regular_cuts(0, kh, C::high_per_bank),
                                  detail::regular_cuts(kh, K, C::low_per_bank));
  }
  const std::vector<std::size_t> cuts =
      detail::merge_cuts(act_cuts, detail::regular_cuts(0, K, w.group));
  PathSums ps;
  ps.rows = x.rows;
  ps.cols = w.rows;
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    ps.segments.push_back({cuts[i], cuts[i + 1], cuts[i] < kh ? Path::high : Path::low});
  }
  const std::size_t S = ps.segments.size();
  ps.sums.assign(ps.rows * ps.cols * S, 0);
  std::vector<std::int8_t> xc(x.rows * K); // activation codes in permuted order
  for (std::size_t m = 0; m < x.rows; ++m) {
    unpack_codes(x.x_high.data() + m * x.high_row_bytes, kh, C::high_bits, xc.data() + m * K);
    unpack_codes(x.x_low.data() + m * x.low_row_bytes, K - kh, C::low_bits, xc.data() + m * K + kh);
  }
  for (std::size_t m = 0; m < ps.rows; ++m) {
    for (std::size_t n = 0; n < ps.cols; ++n) {
      for (std::size_t s = 0; s < S; ++s) {
        const Segment& g = ps.segments[s];
        ps.sums[(m * ps.cols + n) * S + s] =
            detail::dot_codes(xc.data() + m * K, w.codes.data() + n * K, g.k_begin, g.k_end);
      }
    }
  }
  return detail::epilogue(std::move(ps), [&](std::size_t m, std::size_t n, const Segment& g) {
    return std::pair<float, float>{x.scale(m, g.k_begin), w.scale(n, g.k_begin)};
  });
}

template <class C>
std::vector<float> uniform_weight_times_static(const UniformTensor& w, const StaticSplit<C>& x) {
  return uniform_weight_times_static_detailed(w, x).y;
}
template <class C>
PathSums uniform_weight_static_int_sums(const UniformTensor& w, const StaticSplit<C>& x) {
  return uniform_weight_times_static_detailed(w, x).sums;
}

} // namespace sqformat::ref

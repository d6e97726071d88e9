// The usage snippet of docs/reference.md, compiled and run (the text between the markers is
// copied verbatim into the doc).
#include "ref_test_util.hpp"
#include "sq_catch.hpp"

#include <cstdio>
#include <string>

// [snippet begin]
#include <sqformat/reference.hpp>

namespace ref = sqformat::ref;
using C = sqformat::SqConfig<64, 8, 8, 4>; // "B64-(8/4)-0.875"

// w: N x K weights, x: M x K activations, row-major float32. Returns the largest error bound.
double reference_tour(const std::vector<float>& w, const std::vector<float>& x, std::size_t N,
                      std::size_t M, std::size_t K, const std::string& path) {
  // W(SQ): per (row, bank) the H largest |w| are high (PTQ passes an importance score to
  // select_top_h instead), then pack: low codes with sentinels, compact high codes, two scales.
  const std::vector<std::uint8_t> mask = ref::select_top_h_abs<C>(w.data(), N, K);
  const ref::SqTensor<C> wq = ref::pack_sq<C>(w.data(), N, K, mask.data());

  // W(SQ) . A8 with per-token INT8 activations: Y (M x N), exact int sums, error bound.
  const ref::UniformTensor x8 = ref::quantize_uniform(x.data(), M, K, 8, K);
  const ref::ProductResult r = ref::sq_weight_times_uniform_detailed(wq, x8);

  // The same against the float64 oracle of the dequantized operands.
  const std::vector<double> xd = ref::dequantize_double(x8), wd = ref::dequantize_double(wq);
  const std::vector<double> oracle = ref::oracle_matmul(xd.data(), wd.data(), M, N, K);

  // W4 . A(SQ) static: channel mask -> permutation; W's columns permuted, then INT4 per channel.
  std::vector<std::uint8_t> channel_mask(K);
  for (std::size_t k = 0; k < K; ++k) {
    channel_mask[k] = (k % C::bank) < static_cast<std::size_t>(C::high_per_bank) ? 1 : 0;
  }
  const std::vector<std::uint32_t> perm =
      ref::permutation_from_channel_mask<C>(channel_mask.data(), K);
  const std::vector<float> wp = ref::permute_columns(w.data(), N, K, perm);
  const ref::UniformTensor w4 = ref::quantize_uniform(wp.data(), N, K, 4, K);
  const ref::StaticSplit<C> xs =
      ref::split_static<C>(x.data(), M, K, perm, ref::ActScale::per_token);
  const std::vector<float> y_static = ref::uniform_weight_times_static(w4, xs);

  // Save and load (throws sqformat::Error on a truncated, corrupted or mismatched file).
  ref::save(wq, path);
  const ref::SqTensor<C> back = ref::load_sq_tensor<C>(path, N, K);

  double worst = 0.0;
  for (std::size_t i = 0; i < M * N; ++i) {
    if (std::fabs(r.y[i] - oracle[i]) > r.bound[i] + 1e-12 * std::fabs(oracle[i]) ||
        back.low != wq.low || y_static.size() != M * N) {
      return -1.0;
    }
    worst = std::max(worst, r.bound[i]);
  }
  return worst;
}
// [snippet end]

TEST_CASE("the docs/reference.md snippet compiles and checks itself", "[doc]") {
  const auto seed = sqtest::fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const std::size_t N = 6, M = 4, K = 256;
  const auto w = sqtest::random_matrix(N, K, rng);
  const auto x = sqtest::random_matrix(M, K, rng);
  const std::string path = "sq_doc_snippet_" + std::to_string(seed) + ".sqf";
  const double worst = reference_tour(w, x, N, M, K, path);
  std::remove(path.c_str());
  REQUIRE(worst >= 0.0);
  REQUIRE(ref::config_name<C>() == "B64-(8/4)-0.875");
}

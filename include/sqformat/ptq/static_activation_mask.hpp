// sqformat/ptq/static_activation_mask.hpp: static SQ activation masks by Algorithm 2 (spec
// section 2) and the permutation that makes the split contiguous (spec 1.2).
//
//   I_j = | mean_tokens |X_j| * sum_n W[n, j] |     (ChannelRanking::paper)
//   I_j = mean_tokens |X_j|                          (ChannelRanking::mean_abs, the ablation)
// Per bank of K, the H channels of largest I_j are high (ties -> lower channel). The permutation
// is ref::permutation_from_channel_mask; W's columns are reordered by it offline.
#pragma once

#include <sqformat/error.hpp>
#include <sqformat/ptq/calibration_stats.hpp>
#include <sqformat/reference/selection.hpp>
#include <sqformat/reference/static_split.hpp>

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sqformat::ptq {

enum class ChannelRanking { paper, mean_abs };

/// Channel importance I_j (length K). `mean_abs`: mean |X_j| (length K); `w`: N x K weights.
inline std::vector<float> channel_importance(const std::vector<double>& mean_abs, const float* w,
                                             std::size_t n, std::size_t k, ChannelRanking ranking) {
  if (mean_abs.size() != k) {
    throw Error(ErrorCode::shape_mismatch, "channel_importance: mean|X| has " +
                                               std::to_string(mean_abs.size()) +
                                               " channels, W has K = " + std::to_string(k));
  }
  if (w == nullptr || n == 0 || k == 0) {
    throw Error(ErrorCode::invalid_argument, "channel_importance: weights are null or empty");
  }
  ref::check_finite(w, n * k);
  std::vector<double> col_sum(k, 0.0);
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t j = 0; j < k; ++j) {
      col_sum[j] += w[r * k + j];
    }
  }
  std::vector<float> score(k);
  for (std::size_t j = 0; j < k; ++j) {
    const double v =
        ranking == ChannelRanking::paper ? std::fabs(mean_abs[j] * col_sum[j]) : mean_abs[j];
    score[j] = v < static_cast<double>(FLT_MAX) ? static_cast<float>(v) : FLT_MAX;
  }
  return score;
}

/// A layer's static activation plan: which channels are high, the permutation, and W reordered.
template <class C> struct StaticActivationPlan {
  std::vector<std::uint8_t> channel_mask; ///< K flags, exactly H high per bank
  std::vector<std::uint32_t> perm;        ///< perm[k'] = original channel
  std::vector<float> weights_permuted;    ///< N x K, column k' = original column perm[k']
};

/// The Hessian of the permuted channels: H'[a, b] = H[perm[a], perm[b]] (K x K, row-major). Use
/// it to GPTQ-quantize the permuted weights (StaticActivationPlan::weights_permuted).
inline std::vector<double> permute_hessian(const std::vector<double>& h,
                                           const std::vector<std::uint32_t>& perm) {
  const std::size_t k = perm.size();
  if (h.size() != k * k) {
    throw Error(ErrorCode::shape_mismatch,
                "permute_hessian: H is not K x K for K = " + std::to_string(k));
  }
  (void)ref::inverse_permutation(perm); // throws unless perm is a permutation
  std::vector<double> out(k * k);
  for (std::size_t a = 0; a < k; ++a) {
    for (std::size_t b = 0; b < k; ++b) {
      out[a * k + b] = h[std::size_t(perm[a]) * k + perm[b]];
    }
  }
  return out;
}

/// Algorithm 2: the static mask from calibration statistics and the layer's weights (N x K).
template <class C>
StaticActivationPlan<C> plan_static_activations(const CalibrationStats& stats, const float* w,
                                                std::size_t n, std::size_t k,
                                                ChannelRanking ranking = ChannelRanking::paper) {
  if (stats.channels() != k) {
    throw Error(ErrorCode::shape_mismatch,
                "plan_static_activations: statistics have K = " + std::to_string(stats.channels()) +
                    ", W has K = " + std::to_string(k));
  }
  const std::vector<float> score = channel_importance(stats.mean_abs(), w, n, k, ranking);
  StaticActivationPlan<C> p;
  p.channel_mask = ref::select_top_h<C>(score.data(), 1, k);
  p.perm = ref::permutation_from_channel_mask<C>(p.channel_mask.data(), k);
  p.weights_permuted = ref::permute_columns(w, n, k, p.perm);
  return p;
}

} // namespace sqformat::ptq

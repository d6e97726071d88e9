// sqformat/ptq/activation_quantizer.hpp: calibrate-then-quantize for SQ activations, switching
// between the static split (mask chosen once from calibration, spec 1.2) and dynamic selection
// (per-token top-H by |x|, spec 1.3).
//
//   ActivationQuantizer<C> q(ActivationSelection::static_mask);
//   q.calibrate(stats, w, n, k);            // static: Algorithm 2 mask + perm; dynamic: K only
//   q.weight_column_order()                 // perm (static) or identity (dynamic) for W
//   q.quantize_static(x, m, k) / q.quantize_dynamic(x, m, k)   the stored forms
//   q.fake_quantize(x, m, k, out)           // dequantized, original channel order, either mode
#pragma once

#include <sqformat/error.hpp>
#include <sqformat/ptq/calibration_stats.hpp>
#include <sqformat/ptq/static_activation_mask.hpp>
#include <sqformat/reference/selection.hpp>
#include <sqformat/reference/sq_tensor.hpp>
#include <sqformat/reference/static_split.hpp>

#include <cstddef>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

namespace sqformat::ptq {

enum class ActivationSelection { static_mask, dynamic };

template <class C> class ActivationQuantizer {
public:
  explicit ActivationQuantizer(ActivationSelection mode,
                               ChannelRanking ranking = ChannelRanking::paper,
                               ref::ActScale scales = ref::ActScale::per_token)
      : mode_(mode), ranking_(ranking), scales_(scales) {}

  /// Fixes the layer's K and, in static mode, its channel mask and permutation (Algorithm 2).
  void calibrate(const CalibrationStats& stats, const float* w, std::size_t n, std::size_t k) {
    if (mode_ == ActivationSelection::static_mask) {
      StaticActivationPlan<C> p = plan_static_activations<C>(stats, w, n, k, ranking_);
      perm_ = std::move(p.perm);
      channel_mask_ = std::move(p.channel_mask);
    } else {
      if (stats.channels() != k || k % C::bank != 0) {
        throw Error(ErrorCode::shape_mismatch,
                    "ActivationQuantizer::calibrate: K must match the statistics and be a "
                    "multiple of the bank size");
      }
      perm_.resize(k);
      std::iota(perm_.begin(), perm_.end(), 0u);
      channel_mask_.clear();
    }
    k_ = k;
  }

  ActivationSelection mode() const { return mode_; }
  bool calibrated() const { return k_ != 0; }
  /// Column order of W matching this quantizer's activations: perm (static), identity (dynamic).
  const std::vector<std::uint32_t>& weight_column_order() const {
    require("weight_column_order", k_);
    return perm_;
  }
  /// The static channel mask (empty in dynamic mode).
  const std::vector<std::uint8_t>& channel_mask() const { return channel_mask_; }

  ref::StaticSplit<C> quantize_static(const float* x, std::size_t m, std::size_t k) const {
    require("quantize_static", k);
    if (mode_ != ActivationSelection::static_mask) {
      throw Error(ErrorCode::invalid_argument,
                  "ActivationQuantizer::quantize_static: the quantizer is in dynamic mode");
    }
    return ref::split_static<C>(x, m, k, perm_, scales_);
  }

  ref::SqTensor<C> quantize_dynamic(const float* x, std::size_t m, std::size_t k) const {
    require("quantize_dynamic", k);
    return ref::quantize_dynamic<C>(x, m, k);
  }

  /// Quantize-dequantize in the original channel order, by the quantizer's mode.
  void fake_quantize(const float* x, std::size_t m, std::size_t k, float* out) const {
    if (mode_ == ActivationSelection::static_mask) {
      ref::dequantize(quantize_static(x, m, k), out);
    } else {
      ref::dequantize(quantize_dynamic(x, m, k), out);
    }
  }

private:
  void require(const char* who, std::size_t k) const {
    if (k_ == 0) {
      throw Error(ErrorCode::invalid_argument,
                  std::string("ActivationQuantizer::") + who + ": call calibrate() first");
    }
    if (k != k_) {
      throw Error(ErrorCode::shape_mismatch,
                  std::string("ActivationQuantizer::") + who + ": K = " + std::to_string(k) +
                      " but the quantizer was calibrated for K = " + std::to_string(k_));
    }
  }

  ActivationSelection mode_;
  ChannelRanking ranking_;
  ref::ActScale scales_;
  std::size_t k_ = 0;
  std::vector<std::uint32_t> perm_;
  std::vector<std::uint8_t> channel_mask_;
};

} // namespace sqformat::ptq

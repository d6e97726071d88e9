// sqformat/eval/calibration.hpp: calibration of the model's linear layers for PTQ.
//
// A LinearObserver that streams every linear layer's input into a ptq::CalibrationStats
// (Hessian X^T X, mean |X_j|, max |X_j|). Layers that read the same input share one statistics
// object: q/k/v read the attention norm's output, gate/up the FFN norm's output. The dampened
// inverse-Hessian factors GPTQ needs are computed once per input and cached.
// Statistics come from the float model (no sequential re-calibration of quantized layers).
#pragma once

#include <sqformat/eval/linear_backend.hpp>
#include <sqformat/eval/llama_model.hpp>
#include <sqformat/ptq/calibration_stats.hpp>
#include <sqformat/ptq/inverse_hessian.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace sqformat::eval {

class Calibration : public LinearObserver {
public:
  explicit Calibration(const LlamaWeights& model) : model_(model) {
    stats_.resize(model.linears.size());
    for (std::size_t i = 0; i < model.linears.size(); ++i) {
      if (source(i) == i) {
        stats_[i] = std::make_unique<ptq::CalibrationStats>(model.linears[i].cols);
      }
    }
  }

  /// The linear layer whose statistics layer `index` shares (q for k/v, gate for up).
  static std::size_t source(std::size_t index) {
    const auto kind = static_cast<LinearKind>(index % linears_per_layer);
    const std::size_t base = index - index % linears_per_layer;
    if (kind == LinearKind::k || kind == LinearKind::v)
      return base + std::size_t(LinearKind::q);
    if (kind == LinearKind::up)
      return base + std::size_t(LinearKind::gate);
    return index;
  }

  void observe(std::size_t index, const float* x, std::size_t m, std::size_t k) override {
    if (source(index) != index)
      return; // already seen through its source layer
    stats_[index]->add(x, m, k);
    tokens_ += (index == 0) ? m : 0;
  }

  std::size_t tokens() const { return tokens_; }
  const ptq::CalibrationStats& stats(std::size_t index) const { return *stats_[source(index)]; }

  /// GPTQ's factor of the dampened inverse Hessian of layer `index`'s input (cached).
  const ptq::InverseHessianFactor& inverse_hessian(std::size_t index) {
    const std::size_t s = source(index);
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = factors_.find(s);
    if (it == factors_.end()) {
      const std::vector<double> h = stats_[s]->hessian();
      it = factors_.emplace(s, ptq::factor_inverse_hessian(h.data(), model_.linears[s].cols)).first;
    }
    return it->second;
  }

private:
  const LlamaWeights& model_;
  std::vector<std::unique_ptr<ptq::CalibrationStats>> stats_;
  std::map<std::size_t, ptq::InverseHessianFactor> factors_;
  std::mutex mutex_;
  std::size_t tokens_ = 0;
};

} // namespace sqformat::eval

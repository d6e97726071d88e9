// sqformat/eval/quantized_linear.hpp: a LinearBackend that runs every linear layer of the model
// in one QuantScheme, with the library's reference quantizers (sqformat::ref) and PTQ
// (sqformat::ptq: GPTQ, Algorithm 1 SQ weights, Algorithm 2 static activation masks).
//
// Two ways to compute the product, chosen at construction:
//  - Product::fake_quant (default): weights are quantized once and dequantized; at every call the
//    activations are quantized with the reference (same codes and scales) and dequantized, and
//    the product runs in float32 BLAS. Only the order of the float sums differs from the integer
//    reference products, a relative difference of order 1e-6 that perplexity cannot see; that is
//    what makes the whole-model table affordable on a CPU.
//  - Product::reference: the stored forms go through the reference products themselves
//    (ref::uniform_weight_times_static, uniform_weight_times_sq, sq_weight_times_uniform,
//    sq_weight_times_float): exact int64 sums per segment and the documented epilogue. Slow
//    (scalar loops), meant for short slices and for checking the fast path
//    (test/eval/test_quantized_linear.cpp). Schemes without an SQ operand have no reference
//    product and use the fast path.
#pragma once

#include <sqformat/error.hpp>
#include <sqformat/eval/calibration.hpp>
#include <sqformat/eval/linear_backend.hpp>
#include <sqformat/eval/quant_scheme.hpp>
#include <sqformat/ptq/activation_quantizer.hpp>
#include <sqformat/ptq/sq_weights.hpp>
#include <sqformat/ptq/uniform_weights.hpp>
#include <sqformat/reference/products.hpp>
#include <sqformat/reference/uniform.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sqformat::eval {

enum class Product { fake_quant, reference };

/// Quantized uniform weights shared between schemes (W4 GPTQ serves W4A16, W4A8, W4A4, W4A(SQ)).
struct WeightCache {
  std::map<std::string, std::vector<ref::UniformTensor>> uniform;
};

class QuantizedLinear : public LinearBackend {
public:
  QuantizedLinear(const LlamaWeights& model, const QuantScheme& scheme, Calibration* calibration,
                  WeightCache* cache = nullptr, Product product = Product::fake_quant)
      : model_(model), scheme_(scheme), product_(product) {
    if (scheme.needs_calibration() && (calibration == nullptr || calibration->tokens() == 0)) {
      throw Error(ErrorCode::invalid_argument,
                  "QuantizedLinear: scheme '" + scheme.name + "' needs calibration statistics");
    }
    layers_.resize(model.linears.size());
    for (std::size_t i = 0; i < model.linears.size(); ++i)
      prepare(i, calibration, cache);
  }

  void forward(std::size_t index, const float* x, std::size_t m, float* y) override {
    Layer& L = layers_.at(index);
    const LinearWeight& lw = model_.linears[index];
    if (L.reference) {
      const std::vector<float> out = L.reference(x, m);
      std::copy(out.begin(), out.end(), y);
      return;
    }
    const float* xin = x;
    if (L.act) {
      buffer_.resize(m * lw.cols);
      L.act(x, m, buffer_.data());
      xin = buffer_.data();
    }
    matmul_nt(xin, L.w_hat.empty() ? lw.w.data() : L.w_hat.data(), m, lw.rows, lw.cols, y);
  }

  const QuantScheme& scheme() const { return scheme_; }

private:
  struct Layer {
    std::vector<float> w_hat; ///< dequantized weights (empty: the float weights)
    std::function<void(const float*, std::size_t, float*)> act; ///< fake-quantize activations
    std::function<std::vector<float>(const float*, std::size_t)> reference; ///< exact product
  };

  ref::UniformTensor uniform_weights(std::size_t i, Calibration* calib, WeightCache* cache) {
    const LinearWeight& lw = model_.linears[i];
    const std::size_t group = scheme_.weight_group == 0 ? lw.cols : scheme_.weight_group;
    const bool gptq = scheme_.weight == WeightQuant::uniform_gptq;
    const std::string key = std::string(gptq ? "gptq" : "rtn") + "/" +
                            std::to_string(scheme_.weight_bits) + "/" +
                            std::to_string(scheme_.weight_group);
    if (cache != nullptr) {
      auto& v = cache->uniform[key];
      if (v.size() == model_.linears.size() && v[i].rows != 0)
        return v[i];
    }
    ref::UniformTensor t =
        gptq ? ptq::quantize_weights_uniform_gptq(lw.w.data(), lw.rows, lw.cols,
                                                  calib->inverse_hessian(i), scheme_.weight_bits,
                                                  group)
             : ref::quantize_uniform(lw.w.data(), lw.rows, lw.cols, scheme_.weight_bits, group);
    if (cache != nullptr) {
      auto& v = cache->uniform[key];
      v.resize(model_.linears.size());
      v[i] = t;
    }
    return t;
  }

  void prepare(std::size_t i, Calibration* calib, WeightCache* cache) {
    const LinearWeight& lw = model_.linears[i];
    Layer& L = layers_[i];
    const std::size_t n = lw.rows, k = lw.cols;
    const bool ref_product = product_ == Product::reference;

    // Weights.
    std::shared_ptr<ref::UniformTensor> wu;
    std::function<std::vector<float>(const float*, std::size_t, int)> sq_weight_product;
    switch (scheme_.weight) {
    case WeightQuant::none: break;
    case WeightQuant::uniform_rtn:
    case WeightQuant::uniform_gptq: {
      wu = std::make_shared<ref::UniformTensor>(uniform_weights(i, calib, cache));
      L.w_hat.resize(n * k);
      ref::dequantize(*wu, L.w_hat.data());
      break;
    }
    case WeightQuant::sq_rtn:
    case WeightQuant::sq_gptq:
      with_sq_config(scheme_.sq, [&](auto cfg) {
        using C = decltype(cfg);
        const ptq::InverseHessianFactor& f = calib->inverse_hessian(i);
        auto sw = std::make_shared<ptq::SqWeights<C>>(
            scheme_.weight == WeightQuant::sq_gptq
                ? ptq::quantize_weights_sq_gptq<C>(lw.w.data(), n, k, f)
                : ptq::quantize_weights_sq_rtn<C>(lw.w.data(), n, k, f));
        L.w_hat.resize(n * k);
        ref::dequantize(sw->tensor, L.w_hat.data());
        // Exact product of these SQ weights with float (bits 16) or uniform activations.
        sq_weight_product = [sw, k](const float* x, std::size_t m, int bits) {
          if (bits >= 16)
            return ref::sq_weight_times_float(sw->tensor, x, m);
          const ref::UniformTensor xu = ref::quantize_uniform(x, m, k, bits, k);
          return ref::sq_weight_times_uniform(sw->tensor, xu);
        };
      });
      break;
    }

    // Activations.
    switch (scheme_.act) {
    case ActQuant::none:
      if (ref_product && sq_weight_product) {
        L.reference = [f = sq_weight_product](const float* x, std::size_t m) {
          return f(x, m, 16);
        };
      }
      break;
    case ActQuant::uniform: {
      const int bits = scheme_.act_bits;
      L.act = [bits, k](const float* x, std::size_t m, float* out) {
        ref::dequantize(ref::quantize_uniform(x, m, k, bits, k), out);
      };
      if (ref_product && sq_weight_product) {
        L.reference = [f = sq_weight_product, bits](const float* x, std::size_t m) {
          return f(x, m, bits);
        };
      }
      break;
    }
    case ActQuant::sq_static:
    case ActQuant::sq_dynamic:
      with_sq_config(scheme_.sq, [&](auto cfg) {
        using C = decltype(cfg);
        const bool is_static = scheme_.act == ActQuant::sq_static;
        auto q = std::make_shared<ptq::ActivationQuantizer<C>>(
            is_static ? ptq::ActivationSelection::static_mask : ptq::ActivationSelection::dynamic,
            scheme_.ranking, scheme_.act_scale);
        if (is_static) {
          q->calibrate(calib->stats(i), lw.w.data(), n, k);
        } else {
          // Dynamic selection needs no statistics: calibrate on one token of zeros for K.
          ptq::CalibrationStats empty(k);
          std::vector<float> zero(k, 0.0f);
          empty.add(zero.data(), 1);
          q->calibrate(empty, lw.w.data(), n, k);
        }
        L.act = [q, k](const float* x, std::size_t m, float* out) {
          q->fake_quantize(x, m, k, out);
        };
        if (ref_product && wu) {
          if (wu->group != k) {
            throw Error(ErrorCode::invalid_argument, "QuantizedLinear: the reference W4A(SQ) "
                                                     "products need per-channel weight scales");
          }
          // Weights with columns in the activations' order (static: the permutation).
          auto wp = std::make_shared<ref::UniformTensor>(*wu);
          const auto& perm = q->weight_column_order();
          for (std::size_t r = 0; r < n; ++r) {
            for (std::size_t c = 0; c < k; ++c)
              wp->codes[r * k + c] = wu->codes[r * k + perm[c]];
          }
          L.reference = [q, wp, k, is_static](const float* x, std::size_t m) {
            return is_static ? ref::uniform_weight_times_static(*wp, q->quantize_static(x, m, k))
                             : ref::uniform_weight_times_sq(*wp, q->quantize_dynamic(x, m, k));
          };
        }
      });
      break;
    }
  }

  const LlamaWeights& model_;
  QuantScheme scheme_;
  Product product_;
  std::vector<Layer> layers_;
  std::vector<float> buffer_;
};

} // namespace sqformat::eval

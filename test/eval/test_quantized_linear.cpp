// The fast path of the evaluation (quantize with the reference, dequantize, float BLAS) against
// the reference products themselves, on real layer inputs of the model's first layer: the two
// must agree to float rounding, and both must differ from the float product (quantization acts).
#include "sq_catch.hpp"

#include <sqformat/eval/llama_forward.hpp>
#include <sqformat/eval/model_location.hpp>
#include <sqformat/eval/quantized_linear.hpp>

#include <cmath>
#include <random>

using namespace sqformat::eval;

namespace {

// The model's first layer alone (a 1-layer Llama), enough to exercise every linear shape.
LlamaWeights first_layer() {
  const GgufFile file = GgufFile::open(default_model_path());
  LlamaWeights m = load_llama(file);
  m.config.layers = 1;
  m.norms.resize(1);
  m.linears.resize(linears_per_layer);
  return m;
}

double max_abs(const std::vector<float>& v) {
  double a = 0.0;
  for (float x : v)
    a = std::max(a, double(std::fabs(x)));
  return a;
}

} // namespace

TEST_CASE("quantized linear: fast path equals the reference products", "[eval][quantized]") {
  static const LlamaWeights model = first_layer();
  const unsigned seed = std::random_device{}();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  std::vector<int> tokens(48);
  for (auto& t : tokens)
    t = std::uniform_int_distribution<int>(17, 49151)(rng);

  // Calibrate, and record each linear's real input on the same tokens.
  Calibration calib(model);
  struct Recorder : LinearObserver {
    std::vector<std::vector<float>> inputs = std::vector<std::vector<float>>(linears_per_layer);
    void observe(std::size_t i, const float* x, std::size_t m, std::size_t k) override {
      inputs[i].assign(x, x + m * k);
    }
  } rec;
  {
    FloatLinear fl(model);
    LlamaForward(model, fl, &calib).hidden(tokens);
    LlamaForward(model, fl, &rec).hidden(tokens);
  }

  QuantScheme w4_static;
  w4_static.name = "W4A(SQ5) static";
  w4_static.weight = WeightQuant::uniform_rtn;
  w4_static.weight_bits = 4;
  w4_static.act = ActQuant::sq_static;
  w4_static.sq = {64, 16};
  QuantScheme w4_static_bank = w4_static;
  w4_static_bank.act_scale = sqformat::ref::ActScale::per_token_bank;
  QuantScheme w4_dynamic = w4_static;
  w4_dynamic.act = ActQuant::sq_dynamic;
  QuantScheme wsq_a8;
  wsq_a8.name = "W(SQ6)A8";
  wsq_a8.weight = WeightQuant::sq_rtn;
  wsq_a8.act = ActQuant::uniform;
  wsq_a8.act_bits = 8;
  wsq_a8.sq = {64, 32};
  QuantScheme wsq_a16 = wsq_a8;
  wsq_a16.act = ActQuant::none;

  for (const QuantScheme& s : {w4_static, w4_static_bank, w4_dynamic, wsq_a8, wsq_a16}) {
    CAPTURE(s.name, int(s.act), int(s.act_scale));
    QuantizedLinear fast(model, s, &calib, nullptr, Product::fake_quant);
    QuantizedLinear exact(model, s, &calib, nullptr, Product::reference);
    FloatLinear fl(model);
    for (std::size_t i = 0; i < linears_per_layer; ++i) {
      CAPTURE(i);
      const LinearWeight& lw = model.linears[i];
      const std::size_t m = tokens.size();
      std::vector<float> yf(m * lw.rows), ye(m * lw.rows), y0(m * lw.rows);
      fast.forward(i, rec.inputs[i].data(), m, yf.data());
      exact.forward(i, rec.inputs[i].data(), m, ye.data());
      fl.forward(i, rec.inputs[i].data(), m, y0.data());
      double diff = 0.0, qerr = 0.0;
      for (std::size_t e = 0; e < yf.size(); ++e) {
        diff = std::max(diff, double(std::fabs(yf[e] - ye[e])));
        qerr = std::max(qerr, double(std::fabs(y0[e] - ye[e])));
      }
      const double scale = max_abs(ye);
      CAPTURE(diff, qerr, scale);
      CHECK(diff <= 1e-4 * scale); // same numerics up to the order of float sums
      CHECK(qerr > 1e-3 * scale);  // and quantization really happened
    }
  }
}

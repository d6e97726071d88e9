// Host code of a consumer: a configuration, the host reference (pack, dequantize, product) and
// the error type of the host API, all from the installed (or added) headers.
#include <sqformat/config.hpp>
#include <sqformat/error.hpp>
#include <sqformat/reference.hpp>
#include <sqformat/reference/products.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

using Sq5 = sqformat::SqConfig<16, 4>; // B16-(8/4)-0.75
static_assert(Sq5::effective_bits == 5.0, "SQ5 is 5 effective bits");

int main() {
  namespace ref = sqformat::ref;
  const std::size_t N = 8, K = 64, M = 2;
  std::vector<float> w(N * K), x(M * K);
  for (std::size_t i = 0; i < w.size(); ++i)
    w[i] = std::sin(0.37f * float(i));
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = std::cos(0.11f * float(i));

  const ref::SqTensor<Sq5> w_sq = ref::quantize_dynamic<Sq5>(w.data(), N, K);
  std::vector<float> w_hat(N * K);
  ref::dequantize(w_sq, w_hat.data());
  double err = 0.0;
  for (std::size_t i = 0; i < w.size(); ++i)
    err = std::fmax(err, std::fabs(w[i] - w_hat[i]));
  const std::vector<float> y = ref::sq_weight_times_float(w_sq, x.data(), M);

  bool threw = false;
  try {
    (void)ref::quantize_dynamic<Sq5>(w.data(), N, K - 1); // K not a multiple of the bank
  } catch (const sqformat::Error& e) {
    threw = e.code() == sqformat::ErrorCode::k_not_multiple_of_bank;
  }
  const bool ok = err < 0.1 && y.size() == M * N && std::isfinite(y[0]) && threw;
  std::printf("consumer_host: %s, max |w - dequantized| = %.4f, y[0] = %.4f: %s\n",
              ref::config_name<Sq5>().c_str(), err, double(y[0]), ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}

// sqformat/eval/quant_scheme.hpp: what one row of the evaluation table quantizes, and how.
//
// A scheme fixes the weight format (none, uniform RTN/GPTQ, SQ RTN/GPTQ by Algorithm 1) and the
// activation format (none, uniform per token, SQ static by Algorithm 2 or by mean|X|, SQ
// dynamic). At most one operand is in SQ-format; its (bank, high-per-bank) pair is `sq`. The SQ
// configurations are templates, so the run-time pair is dispatched to the compiled set below.
#pragma once

#include <sqformat/config.hpp>
#include <sqformat/error.hpp>
#include <sqformat/ptq/static_activation_mask.hpp>
#include <sqformat/reference/static_split.hpp>

#include <cstddef>
#include <string>

namespace sqformat::eval {

enum class WeightQuant { none, uniform_rtn, uniform_gptq, sq_rtn, sq_gptq };
enum class ActQuant { none, uniform, sq_static, sq_dynamic };

struct SqShape {
  int bank = 64;
  int high = 16;
};

struct QuantScheme {
  std::string name;
  WeightQuant weight = WeightQuant::none;
  int weight_bits = 16;
  std::size_t weight_group = 0; ///< 0: per output channel (group = K)
  ActQuant act = ActQuant::none;
  int act_bits = 16;
  SqShape sq;
  ptq::ChannelRanking ranking = ptq::ChannelRanking::paper;
  ref::ActScale act_scale = ref::ActScale::per_token;

  bool needs_calibration() const {
    return weight == WeightQuant::uniform_gptq || weight == WeightQuant::sq_gptq ||
           weight == WeightQuant::sq_rtn || act == ActQuant::sq_static;
  }
  /// (1-s) h_high + s h_low for SQ (INT8/INT4), the width otherwise; 16 for unquantized.
  double sq_bits() const { return (sq.high * 8.0 + (sq.bank - sq.high) * 4.0) / sq.bank; }
  double weight_effective_bits() const {
    if (weight == WeightQuant::sq_rtn || weight == WeightQuant::sq_gptq)
      return sq_bits();
    return weight == WeightQuant::none ? 16.0 : weight_bits;
  }
  double act_effective_bits() const {
    if (act == ActQuant::sq_static || act == ActQuant::sq_dynamic)
      return sq_bits();
    return act == ActQuant::none ? 16.0 : act_bits;
  }
};

/// Calls f(SqConfig<b, H, 8, 4>{}) for the compiled (bank, high) pairs; Error otherwise.
template <class F> void with_sq_config(SqShape s, F&& f) {
  const int b = s.bank, h = s.high;
  if (b == 64 && h == 32)
    return f(SqConfig<64, 32>{});
  if (b == 64 && h == 16)
    return f(SqConfig<64, 16>{});
  if (b == 64 && h == 8)
    return f(SqConfig<64, 8>{});
  if (b == 16 && h == 4)
    return f(SqConfig<16, 4>{});
  if (b == 32 && h == 8)
    return f(SqConfig<32, 8>{});
  if (b == 128 && h == 32)
    return f(SqConfig<128, 32>{});
  if (b == 32 && h == 16)
    return f(SqConfig<32, 16>{});
  if (b == 32 && h == 4)
    return f(SqConfig<32, 4>{});
  throw Error(ErrorCode::invalid_argument,
              "eval: SQ configuration b=" + std::to_string(b) + " H=" + std::to_string(h) +
                  " is not compiled in; add it to with_sq_config (quant_scheme.hpp)");
}

} // namespace sqformat::eval

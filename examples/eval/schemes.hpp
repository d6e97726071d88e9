// The rows of the evaluation table (docs/evaluation.md): the full list and the --quick subset.
#pragma once

#include <sqformat/eval/quant_scheme.hpp>

#include <vector>

namespace sq_eval {

using namespace sqformat::eval;

inline QuantScheme
make(const char* name, WeightQuant w, int wbits, ActQuant a, int abits, SqShape sq = {64, 16},
     sqformat::ptq::ChannelRanking ranking = sqformat::ptq::ChannelRanking::paper,
     sqformat::ref::ActScale scale = sqformat::ref::ActScale::per_token,
     std::size_t int4_weight_group = 64) {
  QuantScheme s;
  s.name = name;
  s.weight = w;
  s.weight_bits = wbits;
  s.act = a;
  s.act_bits = abits;
  s.sq = sq;
  s.ranking = ranking;
  s.act_scale = scale;
  // INT4 weights: symmetric, one scale per row and group of 64 along K by default. Groups of 128,
  // the usual GPTQ setting, do not divide this model's hidden size (576 = 4.5 x 128); per-channel
  // INT4 (group 0) is in the full table for comparison and costs this small model a lot.
  if (w == WeightQuant::uniform_gptq || (w == WeightQuant::uniform_rtn && wbits == 4)) {
    s.weight_group = int4_weight_group;
  }
  return s;
}

inline std::vector<QuantScheme> full_schemes() {
  using A = ActQuant;
  using W = WeightQuant;
  using sqformat::ptq::ChannelRanking;
  using sqformat::ref::ActScale;
  return {
      make("float (Q4_1 weights dequantized)", W::none, 16, A::none, 16),
      make("W8A8 RTN", W::uniform_rtn, 8, A::uniform, 8),
      make("W4A16 RTN per-channel", W::uniform_rtn, 4, A::none, 16, {64, 16}, ChannelRanking::paper,
           ActScale::per_token, 0),
      make("W4A16 GPTQ per-channel", W::uniform_gptq, 4, A::none, 16, {64, 16},
           ChannelRanking::paper, ActScale::per_token, 0),
      make("W4A16 RTN g64", W::uniform_rtn, 4, A::none, 16),
      make("W4A16 GPTQ g64", W::uniform_gptq, 4, A::none, 16),
      make("W4A8 GPTQ g64", W::uniform_gptq, 4, A::uniform, 8),
      make("W4A4 GPTQ g64", W::uniform_gptq, 4, A::uniform, 4),
      make("W4A(SQ6) static b64", W::uniform_gptq, 4, A::sq_static, 0, {64, 32}),
      make("W4A(SQ5) static b64", W::uniform_gptq, 4, A::sq_static, 0, {64, 16}),
      make("W4A(SQ4.5) static b64", W::uniform_gptq, 4, A::sq_static, 0, {64, 8}),
      make("W4A(SQ5) dynamic b64", W::uniform_gptq, 4, A::sq_dynamic, 0, {64, 16}),
      make("W(SQ6)A4 GPTQ b64", W::sq_gptq, 0, A::uniform, 4, {64, 32}),
      make("W(SQ5)A4 GPTQ b64", W::sq_gptq, 0, A::uniform, 4, {64, 16}),
      make("W(SQ5)A8 GPTQ b64", W::sq_gptq, 0, A::uniform, 8, {64, 16}),
      make("W(SQ5)A8 RTN b64", W::sq_rtn, 0, A::uniform, 8, {64, 16}),
      make("W4A(SQ5) static b64, per-bank act scales", W::uniform_gptq, 4, A::sq_static, 0,
           {64, 16}, ChannelRanking::paper, ActScale::per_token_bank),
      make("W4A(SQ5) static b16", W::uniform_gptq, 4, A::sq_static, 0, {16, 4}),
      make("W4A(SQ5) static b32", W::uniform_gptq, 4, A::sq_static, 0, {32, 8}),
      make("W4A(SQ5) static b128", W::uniform_gptq, 4, A::sq_static, 0, {128, 32}),
      make("W4A(SQ5) static b64, ranking mean|X|", W::uniform_gptq, 4, A::sq_static, 0, {64, 16},
           ChannelRanking::mean_abs),
  };
}

inline std::vector<QuantScheme> quick_schemes() {
  using A = ActQuant;
  using W = WeightQuant;
  return {
      make("float (Q4_1 weights dequantized)", W::none, 16, A::none, 16),
      make("W8A8 RTN", W::uniform_rtn, 8, A::uniform, 8),
      make("W4A8 GPTQ g64", W::uniform_gptq, 4, A::uniform, 8),
      make("W4A(SQ5) static b64", W::uniform_gptq, 4, A::sq_static, 0, {64, 16}),
      make("W4A(SQ5) dynamic b64", W::uniform_gptq, 4, A::sq_dynamic, 0, {64, 16}),
  };
}

} // namespace sq_eval

// sqformat/eval/perplexity.hpp: perplexity of a model over a token stream.
//
// Protocol (documented in docs/evaluation.md): the stream is cut into non-overlapping windows
// of `window` tokens starting at token 0 (a partial last window is dropped); each window is an
// independent sequence with no BOS (this model's GGUF sets add_bos_token = false); every token
// of a window except its first is predicted from the tokens before it in the same window.
// ppl = exp(sum NLL / count), with the NLL summed in float64.
#pragma once

#include <sqformat/error.hpp>
#include <sqformat/eval/llama_forward.hpp>

#include <cmath>
#include <functional>
#include <vector>

namespace sqformat::eval {

struct PerplexityResult {
  double nll = 0.0;
  std::size_t count = 0;
  std::size_t windows = 0;
  double perplexity() const { return count == 0 ? 0.0 : std::exp(nll / double(count)); }
};

/// `max_windows` = 0: every whole window of the stream. `progress` (optional) is called after
/// each window with (windows done, windows total).
inline PerplexityResult
perplexity(LlamaForward& forward, const std::vector<int>& tokens, std::size_t window,
           std::size_t max_windows = 0,
           const std::function<void(std::size_t, std::size_t)>& progress = {}) {
  if (window < 2)
    throw Error(ErrorCode::invalid_argument, "perplexity: window must be >= 2");
  std::size_t total = tokens.size() / window;
  if (max_windows != 0 && max_windows < total)
    total = max_windows;
  if (total == 0) {
    throw Error(ErrorCode::invalid_argument,
                "perplexity: the text has fewer tokens (" + std::to_string(tokens.size()) +
                    ") than one window (" + std::to_string(window) + ")");
  }
  PerplexityResult r;
  for (std::size_t w = 0; w < total; ++w) {
    const std::vector<int> win(tokens.begin() + static_cast<std::ptrdiff_t>(w * window),
                               tokens.begin() + static_cast<std::ptrdiff_t>((w + 1) * window));
    const WindowLoss l = forward.loss(win);
    r.nll += l.nll;
    r.count += l.count;
    ++r.windows;
    if (progress)
      progress(w + 1, total);
  }
  return r;
}

} // namespace sqformat::eval

// sqformat/eval/llama_forward.hpp: the float32 forward pass of a Llama-architecture model over
// one window of tokens (causal self-attention, no cache), and the negative log-likelihood of the
// window's next tokens, from which perplexity follows.
//
// Per layer:  h = x + Wo * Attn(RoPE(Wq * n1), RoPE(Wk * n1), Wv * n1),   n1 = RMSNorm(x) * g1
//             x' = h + Wdown * (SiLU(Wgate * n2) * (Wup * n2)),            n2 = RMSNorm(h) * g2
// then RMSNorm with the output gain and the (tied) output projection to logits.
// RMSNorm: x / sqrt(mean(x^2) + eps) * g. RoPE on adjacent pairs (2i, 2i+1) of each head's first
// rope_dims dimensions with angle pos * base^(-2i / rope_dims). Grouped-query attention: query
// head h reads key/value head h / (heads / kv_heads). Every linear product goes through the
// LinearBackend; only attention scores, the output projection and elementwise work are fixed.
#pragma once

#include <sqformat/error.hpp>
#include <sqformat/eval/linear_backend.hpp>
#include <sqformat/eval/llama_model.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace sqformat::eval {

struct WindowLoss {
  double nll = 0.0;      ///< sum of -log p(token | prefix) over the scored positions
  std::size_t count = 0; ///< scored positions
};

class LlamaForward {
public:
  LlamaForward(const LlamaWeights& model, LinearBackend& backend,
               LinearObserver* observer = nullptr)
      : m_(model), backend_(backend), observer_(observer) {}

  /// Final hidden states (T x dim, after the output norm) of the window `tokens`.
  std::vector<float> hidden(const std::vector<int>& tokens) {
    const LlamaConfig& c = m_.config;
    const std::size_t T = tokens.size();
    if (T == 0)
      throw Error(ErrorCode::invalid_argument, "forward: empty window");
    std::vector<float> x(T * c.dim);
    for (std::size_t t = 0; t < T; ++t) {
      const int id = tokens[t];
      if (id < 0 || static_cast<std::size_t>(id) >= c.vocab) {
        throw Error(ErrorCode::invalid_argument,
                    "forward: token id " + std::to_string(id) + " outside the vocabulary");
      }
      std::copy_n(m_.embedding.begin() + static_cast<std::ptrdiff_t>(std::size_t(id) * c.dim),
                  c.dim, x.begin() + static_cast<std::ptrdiff_t>(t * c.dim));
    }
    const std::size_t kv_dim = c.kv_heads * c.head_dim;
    std::vector<float> n(T * c.dim), q(T * c.dim), k(T * kv_dim), v(T * kv_dim), att(T * c.dim),
        o(T * c.dim), scores(T * T), g(T * c.ffn), u(T * c.ffn);
    for (std::size_t l = 0; l < c.layers; ++l) {
      rms_norm(x.data(), m_.norms[l].attn.data(), T, n.data());
      linear(l, LinearKind::q, n.data(), T, q.data());
      linear(l, LinearKind::k, n.data(), T, k.data());
      linear(l, LinearKind::v, n.data(), T, v.data());
      rope(q.data(), T, c.heads);
      rope(k.data(), T, c.kv_heads);
      attention(q.data(), k.data(), v.data(), T, scores.data(), att.data());
      linear(l, LinearKind::o, att.data(), T, o.data());
      for (std::size_t i = 0; i < x.size(); ++i)
        x[i] += o[i];
      rms_norm(x.data(), m_.norms[l].ffn.data(), T, n.data());
      linear(l, LinearKind::gate, n.data(), T, g.data());
      linear(l, LinearKind::up, n.data(), T, u.data());
      for (std::size_t i = 0; i < g.size(); ++i)
        g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
      linear(l, LinearKind::down, g.data(), T, o.data());
      for (std::size_t i = 0; i < x.size(); ++i)
        x[i] += o[i];
    }
    rms_norm(x.data(), m_.output_norm.data(), T, n.data());
    return n;
  }

  /// Sum of -log p(tokens[t+1] | tokens[0..t]) for t in [first_scored - 1, T - 1): positions
  /// before `first_scored` are context only (first_scored >= 1).
  WindowLoss loss(const std::vector<int>& tokens, std::size_t first_scored = 1) {
    const LlamaConfig& c = m_.config;
    const std::size_t T = tokens.size();
    if (first_scored < 1 || first_scored >= T) {
      throw Error(ErrorCode::invalid_argument, "loss: first_scored must lie in [1, T)");
    }
    const std::vector<float> h = hidden(tokens);
    WindowLoss out;
    // Logits in chunks of rows keep the T x vocab matrix small.
    const std::size_t chunk = 64;
    std::vector<float> logits(chunk * c.vocab);
    for (std::size_t t0 = first_scored - 1; t0 + 1 < T; t0 += chunk) {
      const std::size_t rows = std::min(chunk, T - 1 - t0);
      matmul_nt(h.data() + t0 * c.dim, m_.output_projection().data(), rows, c.vocab, c.dim,
                logits.data());
      for (std::size_t r = 0; r < rows; ++r) {
        const float* z = logits.data() + r * c.vocab;
        const float zmax = *std::max_element(z, z + c.vocab);
        double sum = 0.0;
        for (std::size_t j = 0; j < c.vocab; ++j)
          sum += std::exp(double(z[j]) - zmax);
        const int target = tokens[t0 + r + 1];
        out.nll += std::log(sum) + zmax - double(z[target]);
        ++out.count;
      }
    }
    return out;
  }

private:
  void linear(std::size_t layer, LinearKind kind, const float* x, std::size_t T, float* y) {
    const std::size_t index = LlamaWeights::index(layer, kind);
    if (observer_ != nullptr)
      observer_->observe(index, x, T, m_.linears[index].cols);
    backend_.forward(index, x, T, y);
  }

  void rms_norm(const float* x, const float* gain, std::size_t T, float* out) const {
    const std::size_t d = m_.config.dim;
    for (std::size_t t = 0; t < T; ++t) {
      const float* xr = x + t * d;
      double ss = 0.0;
      for (std::size_t i = 0; i < d; ++i)
        ss += double(xr[i]) * xr[i];
      const float r = 1.0f / std::sqrt(static_cast<float>(ss / double(d)) + m_.config.rms_eps);
      for (std::size_t i = 0; i < d; ++i)
        out[t * d + i] = xr[i] * r * gain[i];
    }
  }

  void rope(float* x, std::size_t T, std::size_t heads) const {
    const LlamaConfig& c = m_.config;
    const std::size_t half = c.rope_dims / 2;
    std::vector<double> inv_freq(half);
    for (std::size_t i = 0; i < half; ++i) {
      inv_freq[i] = std::pow(double(c.rope_base), -2.0 * double(i) / double(c.rope_dims));
    }
    for (std::size_t t = 0; t < T; ++t) {
      for (std::size_t i = 0; i < half; ++i) {
        const double a = double(t) * inv_freq[i];
        const float cs = static_cast<float>(std::cos(a)), sn = static_cast<float>(std::sin(a));
        for (std::size_t h = 0; h < heads; ++h) {
          float* p = x + (t * heads + h) * c.head_dim + 2 * i;
          const float x0 = p[0], x1 = p[1];
          p[0] = x0 * cs - x1 * sn;
          p[1] = x0 * sn + x1 * cs;
        }
      }
    }
  }

  // Causal attention of every query head; q: T x (heads*hd), k, v: T x (kv_heads*hd).
  void attention(const float* q, const float* k, const float* v, std::size_t T, float* scores,
                 float* out) const {
    const LlamaConfig& c = m_.config;
    const int hd = static_cast<int>(c.head_dim);
    const int qs = static_cast<int>(c.heads * c.head_dim);
    const int ks = static_cast<int>(c.kv_heads * c.head_dim);
    const int t = static_cast<int>(T);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    const std::size_t group = c.heads / c.kv_heads;
    for (std::size_t h = 0; h < c.heads; ++h) {
      const std::size_t kvh = h / group;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t, t, hd, scale, q + h * c.head_dim, qs,
                  k + kvh * c.head_dim, ks, 0.0f, scores, t);
      for (std::size_t i = 0; i < T; ++i) {
        float* s = scores + i * T;
        const float smax = *std::max_element(s, s + i + 1);
        float sum = 0.0f;
        for (std::size_t j = 0; j <= i; ++j) {
          s[j] = std::exp(s[j] - smax);
          sum += s[j];
        }
        const float inv = 1.0f / sum;
        for (std::size_t j = 0; j <= i; ++j)
          s[j] *= inv;
        for (std::size_t j = i + 1; j < T; ++j)
          s[j] = 0.0f;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, t, hd, t, 1.0f, scores, t,
                  v + kvh * c.head_dim, ks, 0.0f, out + h * c.head_dim, qs);
    }
  }

  const LlamaWeights& m_;
  LinearBackend& backend_;
  LinearObserver* observer_;
};

} // namespace sqformat::eval

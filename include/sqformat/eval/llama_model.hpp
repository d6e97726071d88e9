// sqformat/eval/llama_model.hpp: the hyperparameters and float32 weights of a Llama-architecture
// model read from a GGUF file (general.architecture = "llama"), every tensor dequantized.
//
// Linear layers are numbered layer * 7 + kind (kind: q, k, v, o, gate, up, down) and stored as
// row-major N x K matrices (N outputs, K inputs): Y = X * W^T. That is the GGUF order already:
// a tensor of dims {K, N} holds N rows of K contiguous elements.
// The Q and K projections in GGUF Llama files are stored for rotary embedding on ADJACENT pairs
// (x[2i], x[2i+1]) of each head (the converter from Hugging Face reorders their rows); the
// forward pass rotates adjacent pairs accordingly.
#pragma once

#include <sqformat/error.hpp>
#include <sqformat/eval/gguf_file.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace sqformat::eval {

enum class LinearKind { q = 0, k, v, o, gate, up, down };
inline constexpr int linears_per_layer = 7;

inline const char* to_string(LinearKind k) {
  switch (k) {
  case LinearKind::q: return "attn_q";
  case LinearKind::k: return "attn_k";
  case LinearKind::v: return "attn_v";
  case LinearKind::o: return "attn_output";
  case LinearKind::gate: return "ffn_gate";
  case LinearKind::up: return "ffn_up";
  case LinearKind::down: return "ffn_down";
  }
  return "?";
}

struct LlamaConfig {
  std::size_t layers = 0;
  std::size_t dim = 0; ///< hidden size
  std::size_t heads = 0;
  std::size_t kv_heads = 0;
  std::size_t ffn = 0;
  std::size_t vocab = 0;
  std::size_t head_dim = 0;
  std::size_t rope_dims = 0; ///< rotated dimensions of each head (== head_dim for SmolLM2)
  std::size_t context = 0;
  float rope_base = 10000.0f;
  float rms_eps = 1e-5f;
};

struct LinearWeight {
  std::string name;
  std::size_t layer = 0;
  LinearKind kind = LinearKind::q;
  std::size_t rows = 0; ///< N (outputs)
  std::size_t cols = 0; ///< K (inputs)
  std::vector<float> w; ///< N x K row-major
};

struct LlamaLayerNorms {
  std::vector<float> attn;
  std::vector<float> ffn;
};

struct LlamaWeights {
  LlamaConfig config;
  std::vector<float> embedding; ///< vocab x dim; also the output projection when tied
  std::vector<float> output;    ///< vocab x dim; empty when tied to the embedding
  std::vector<float> output_norm;
  std::vector<LlamaLayerNorms> norms;
  std::vector<LinearWeight> linears; ///< layers * 7, index layer * 7 + kind

  const std::vector<float>& output_projection() const {
    return output.empty() ? embedding : output;
  }
  static std::size_t index(std::size_t layer, LinearKind k) {
    return layer * linears_per_layer + static_cast<std::size_t>(k);
  }
};

/// Dequantizes a whole tensor, checking its shape (dims in ggml order, dims[0] fastest).
inline std::vector<float> load_tensor(const GgufFile& f, const std::string& name,
                                      const std::vector<std::uint64_t>& dims) {
  const GgufTensorInfo& t = f.tensor(name);
  if (t.dims != dims) {
    std::string want, got;
    for (auto d : dims)
      want += std::to_string(d) + " ";
    for (auto d : t.dims)
      got += std::to_string(d) + " ";
    throw Error(ErrorCode::shape_mismatch,
                "GGUF tensor '" + name + "' has dims {" + got + "}, expected {" + want + "}");
  }
  std::vector<float> out(static_cast<std::size_t>(t.element_count()));
  dequantize(t.type, f.tensor_data(t), out.size(), out.data());
  return out;
}

inline LlamaWeights load_llama(const GgufFile& f) {
  const std::string arch = f.get_string("general.architecture");
  if (arch != "llama") {
    throw Error(ErrorCode::format_mismatch,
                "model architecture '" + arch + "' is not supported (only 'llama')");
  }
  LlamaWeights m;
  LlamaConfig& c = m.config;
  c.layers = f.get_uint("llama.block_count");
  c.dim = f.get_uint("llama.embedding_length");
  c.heads = f.get_uint("llama.attention.head_count");
  c.kv_heads = f.has("llama.attention.head_count_kv") ? f.get_uint("llama.attention.head_count_kv")
                                                      : c.heads;
  c.ffn = f.get_uint("llama.feed_forward_length");
  c.context = f.get_uint("llama.context_length");
  c.rms_eps = static_cast<float>(f.get_float("llama.attention.layer_norm_rms_epsilon"));
  c.rope_base = f.has("llama.rope.freq_base")
                    ? static_cast<float>(f.get_float("llama.rope.freq_base"))
                    : 10000.0f;
  if (c.heads == 0 || c.kv_heads == 0 || c.dim % c.heads != 0 || c.heads % c.kv_heads != 0) {
    throw Error(ErrorCode::format_mismatch, "llama: inconsistent head counts");
  }
  c.head_dim = c.dim / c.heads;
  c.rope_dims =
      f.has("llama.rope.dimension_count") ? f.get_uint("llama.rope.dimension_count") : c.head_dim;
  if (c.rope_dims > c.head_dim || c.rope_dims % 2 != 0) {
    throw Error(ErrorCode::format_mismatch, "llama: rope.dimension_count must be even and at most "
                                            "the head dimension");
  }
  if (f.has("llama.rope.scaling.type") && f.get_string("llama.rope.scaling.type") != "none") {
    throw Error(ErrorCode::format_mismatch, "llama: rope scaling is not supported");
  }
  const GgufTensorInfo& emb = f.tensor("token_embd.weight");
  if (emb.dims.size() != 2 || emb.dims[0] != c.dim) {
    throw Error(ErrorCode::shape_mismatch, "llama: token_embd.weight does not have dim columns");
  }
  c.vocab = emb.dims[1];
  m.embedding = load_tensor(f, "token_embd.weight", {c.dim, c.vocab});
  if (f.find_tensor("output.weight") != nullptr) {
    m.output = load_tensor(f, "output.weight", {c.dim, c.vocab});
  }
  m.output_norm = load_tensor(f, "output_norm.weight", {c.dim});
  const std::size_t kv_dim = c.kv_heads * c.head_dim;
  for (std::size_t l = 0; l < c.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    m.norms.push_back({load_tensor(f, p + "attn_norm.weight", {c.dim}),
                       load_tensor(f, p + "ffn_norm.weight", {c.dim})});
    const std::size_t shapes[linears_per_layer][2] = {
        {c.dim, c.dim}, {kv_dim, c.dim}, {kv_dim, c.dim}, {c.dim, c.dim},
        {c.ffn, c.dim}, {c.ffn, c.dim},  {c.dim, c.ffn}};
    for (int k = 0; k < linears_per_layer; ++k) {
      LinearWeight lw;
      lw.kind = static_cast<LinearKind>(k);
      lw.layer = l;
      lw.name = p + to_string(lw.kind);
      lw.rows = shapes[k][0];
      lw.cols = shapes[k][1];
      lw.w = load_tensor(f, lw.name + ".weight", {lw.cols, lw.rows});
      m.linears.push_back(std::move(lw));
    }
  }
  return m;
}

} // namespace sqformat::eval

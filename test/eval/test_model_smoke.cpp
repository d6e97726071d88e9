// Smoke test of the real model (skips without it): hyperparameters, the tokenizer on a
// paragraph of wiki.test.raw against the Hugging Face ids, and the float perplexity of a short
// slice in a sane range (a broken RoPE or norm gives hundreds or more).
#include "eval_test_util.hpp"
#include "sq_catch.hpp"

#include <sqformat/eval/bpe_tokenizer.hpp>
#include <sqformat/eval/perplexity.hpp>

using namespace sqformat::eval;

TEST_CASE("model smoke: load, tokenize a paragraph, float perplexity", "[eval][model]") {
  const GgufFile file = GgufFile::open(default_model_path());
  const LlamaWeights model = load_llama(file);
  const LlamaConfig& c = model.config;
  CHECK(c.layers == 30);
  CHECK(c.dim == 576);
  CHECK(c.heads == 9);
  CHECK(c.kv_heads == 3);
  CHECK(c.ffn == 1536);
  CHECK(c.vocab == 49152);
  CHECK(model.output.empty()); // tied embeddings

  // A paragraph: the text up to the first ". " after byte 1500 ends a pre-token on both sides,
  // so its ids are a prefix of the whole text's ids.
  const BpeTokenizer tok = BpeTokenizer::from_gguf(file);
  const std::string text =
      eval_test::read_file(eval_test::data_dir() + "/wikitext-2-raw/wiki.test.raw");
  const std::size_t cut = text.find(". ", 1500) + 1;
  REQUIRE(cut > 1500);
  const std::vector<int> ids = tok.encode(text.substr(0, cut));
  const auto fixture = eval_test::read_id_fixture(eval_test::fixture_dir() + "/wiki_test_ids.bin");
  REQUIRE(ids.size() < fixture.ids.size());
  CHECK(ids == std::vector<int>(fixture.ids.begin(),
                                fixture.ids.begin() + static_cast<std::ptrdiff_t>(ids.size())));

  // Float perplexity of the first 2 windows of 64 tokens.
  FloatLinear fl(model);
  LlamaForward fw(model, fl);
  const PerplexityResult r = perplexity(fw, fixture.ids, 64, 2);
  INFO("perplexity " << r.perplexity());
  CHECK(r.count == 126);
  CHECK(r.perplexity() > 5.0);
  CHECK(r.perplexity() < 80.0);
}

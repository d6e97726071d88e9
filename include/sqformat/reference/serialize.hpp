// sqformat/reference/serialize.hpp: save / load of SqTensor and StaticSplit in a documented
// little-endian binary layout (docs/reference.md, "File layout"):
//
//   magic "SQFORMAT" | u32 version (1) | u32 kind (1 SqTensor, 2 StaticSplit)
//   | u32 bank | u32 high_per_bank | u32 high_bits | u32 low_bits | u64 rows | u64 cols
//   | u32 granularity (StaticSplit; 0 for SqTensor) | u32 array count
//   | arrays, each u64 byte length + bytes | u64 FNV-1a 64 of every byte before it
//
// Loading checks, in order: magic, version and kind, configuration (format_mismatch), shape
// (invalid / not a multiple of the bank: format_mismatch; not the caller's expected shape:
// shape_mismatch), total length (short: truncated_file; extra bytes: format_mismatch), checksum
// (format_mismatch), array lengths (format_mismatch), then the invariants of the decoded object.
#pragma once

#include <sqformat/error.hpp>
#include <sqformat/reference/config_name.hpp>
#include <sqformat/reference/detail/byte_io.hpp>
#include <sqformat/reference/sq_tensor.hpp>
#include <sqformat/reference/static_split.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace sqformat::ref {

constexpr char file_magic[8] = {'S', 'Q', 'F', 'O', 'R', 'M', 'A', 'T'};
constexpr std::uint32_t file_version = 1;
enum class FileKind : std::uint32_t { sq_tensor = 1, static_split = 2 };

namespace detail {

constexpr std::size_t header_bytes = 56;

template <class C>
void write_header(ByteWriter& w, FileKind kind, std::size_t rows, std::size_t cols,
                  std::uint32_t granularity, std::uint32_t arrays) {
  w.bytes(file_magic, 8);
  w.u32(file_version);
  w.u32(static_cast<std::uint32_t>(kind));
  w.u32(C::bank);
  w.u32(C::high_per_bank);
  w.u32(C::high_bits);
  w.u32(C::low_bits);
  w.u64(rows);
  w.u64(cols);
  w.u32(granularity);
  w.u32(arrays);
}

struct Header {
  std::size_t rows = 0, cols = 0;
  std::uint32_t granularity = 0, arrays = 0;
};

/// Reads and checks the header and the whole-file framing (length, checksum) of a file that must
/// hold `kind` for config C with `arrays` arrays of the given byte lengths (a function of the
/// shape and granularity).
template <class C, class Lengths>
Header read_header(ByteReader& r, const std::uint8_t* data, std::size_t size, FileKind kind,
                   std::uint32_t arrays, Lengths lengths) {
  const std::uint8_t* magic = r.take(8, "the magic number");
  if (std::memcmp(magic, file_magic, 8) != 0) {
    throw Error(ErrorCode::format_mismatch, "not an sqformat file (wrong magic number)");
  }
  const std::uint32_t version = r.u32();
  if (version != file_version) {
    throw Error(ErrorCode::format_mismatch, "file version " + std::to_string(version) +
                                                " is not supported (this build reads version " +
                                                std::to_string(file_version) + ")");
  }
  const std::uint32_t k = r.u32();
  if (k != static_cast<std::uint32_t>(kind)) {
    throw Error(ErrorCode::format_mismatch,
                std::string("file holds ") +
                    (k == 1   ? "an SqTensor"
                     : k == 2 ? "a StaticSplit"
                              : "an unknown kind") +
                    ", not " + (kind == FileKind::sq_tensor ? "an SqTensor" : "a StaticSplit"));
  }
  const std::uint32_t b = r.u32(), h = r.u32(), hb = r.u32(), lb = r.u32();
  if (b != C::bank || h != C::high_per_bank || hb != C::high_bits || lb != C::low_bits) {
    throw Error(ErrorCode::format_mismatch,
                "file holds configuration b=" + std::to_string(b) + ", H=" + std::to_string(h) +
                    ", bits " + std::to_string(hb) + "/" + std::to_string(lb) +
                    " but was loaded as " + config_name<C>() + " (b=" + std::to_string(C::bank) +
                    ", H=" + std::to_string(C::high_per_bank) + ")");
  }
  Header hd;
  const std::uint64_t rows = r.u64(), cols = r.u64();
  hd.granularity = r.u32();
  hd.arrays = r.u32();
  constexpr std::uint64_t max_elements = std::uint64_t(1) << 44; // keeps all sizes exact
  if (rows == 0 || cols == 0 || rows > max_elements / cols ||
      cols % static_cast<std::uint64_t>(C::bank) != 0 || hd.arrays != arrays ||
      (kind == FileKind::sq_tensor && hd.granularity != 0)) {
    throw Error(ErrorCode::format_mismatch,
                "file header declares an invalid shape " + std::to_string(rows) + "x" +
                    std::to_string(cols) + ", array count " + std::to_string(hd.arrays) +
                    " or granularity " + std::to_string(hd.granularity));
  }
  hd.rows = static_cast<std::size_t>(rows);
  hd.cols = static_cast<std::size_t>(cols);
  std::size_t total = header_bytes + 8; // header + checksum
  for (std::size_t len : lengths(hd)) {
    total += 8 + len;
  }
  if (size < total) {
    throw Error(ErrorCode::truncated_file, "file has " + std::to_string(size) +
                                               " bytes but its header declares " +
                                               std::to_string(total));
  }
  if (size > total) {
    throw Error(ErrorCode::format_mismatch,
                "file has " + std::to_string(size - total) + " bytes after its declared end");
  }
  std::uint64_t stored = 0;
  for (int i = 0; i < 8; ++i) {
    stored |= static_cast<std::uint64_t>(data[size - 8 + i]) << (8 * i);
  }
  if (stored != fnv1a64(data, size - 8)) {
    throw Error(ErrorCode::format_mismatch, "checksum mismatch: the file is corrupted");
  }
  return hd;
}

inline const std::uint8_t* read_array(ByteReader& r, std::size_t expected, const char* what) {
  const std::uint64_t len = r.u64();
  if (len != expected) {
    throw Error(ErrorCode::format_mismatch, std::string("array ") + what + " has " +
                                                std::to_string(len) + " bytes, the shape needs " +
                                                std::to_string(expected));
  }
  return r.take(expected, what);
}

inline std::vector<float> read_floats(ByteReader& r, std::size_t count, const char* what) {
  const std::uint8_t* p = read_array(r, count * 4, what);
  std::vector<float> v(count);
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint32_t bits = std::uint32_t(p[4 * i]) | std::uint32_t(p[4 * i + 1]) << 8 |
                               std::uint32_t(p[4 * i + 2]) << 16 |
                               std::uint32_t(p[4 * i + 3]) << 24;
    std::memcpy(&v[i], &bits, 4);
  }
  return v;
}

inline void check_expected_shape(std::size_t rows, std::size_t cols, std::size_t want_rows,
                                 std::size_t want_cols) {
  if (rows != want_rows || cols != want_cols) {
    throw Error(ErrorCode::shape_mismatch, "file holds a " + std::to_string(rows) + "x" +
                                               std::to_string(cols) + " tensor, expected " +
                                               std::to_string(want_rows) + "x" +
                                               std::to_string(want_cols));
  }
}

inline std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    throw Error(ErrorCode::io_error, "cannot open '" + path + "' for reading");
  }
  std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(f)),
                                 std::istreambuf_iterator<char>());
  if (f.bad()) {
    throw Error(ErrorCode::io_error, "error while reading '" + path + "'");
  }
  return data;
}

inline void write_file(const std::string& path, const std::vector<std::uint8_t>& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) {
    throw Error(ErrorCode::io_error, "cannot open '" + path + "' for writing");
  }
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!f) {
    throw Error(ErrorCode::io_error, "error while writing '" + path + "'");
  }
}

} // namespace detail

// ---- SqTensor ------------------------------------------------------------------------------

template <class C> std::vector<std::uint8_t> serialize(const SqTensor<C>& t) {
  validate(t);
  detail::ByteWriter w;
  detail::write_header<C>(w, FileKind::sq_tensor, t.rows, t.cols, 0, 4);
  w.array(t.low);
  w.array(t.high);
  w.array(t.scale_low);
  w.array(t.scale_high);
  return w.finish();
}

template <class C> SqTensor<C> deserialize_sq_tensor(const std::uint8_t* data, std::size_t size) {
  detail::ByteReader r(data, size);
  const auto lengths = [](const detail::Header& h) {
    const std::size_t banks = h.cols / C::bank;
    const std::size_t high_cols = banks * C::high_per_bank;
    return std::vector<std::size_t>{h.rows * packed_bytes(h.cols, C::low_bits),
                                    h.rows * packed_bytes(high_cols, C::high_bits),
                                    h.rows * banks * 4, h.rows * banks * 4};
  };
  const detail::Header h = detail::read_header<C>(r, data, size, FileKind::sq_tensor, 4, lengths);
  SqTensor<C> t = make_sq_tensor<C>(h.rows, h.cols);
  const auto len = lengths(h);
  const std::uint8_t* low = detail::read_array(r, len[0], "low");
  t.low.assign(low, low + len[0]);
  const std::uint8_t* high = detail::read_array(r, len[1], "high");
  t.high.assign(high, high + len[1]);
  t.scale_low = detail::read_floats(r, len[2] / 4, "scale_low");
  t.scale_high = detail::read_floats(r, len[3] / 4, "scale_high");
  validate(t);
  return t;
}

template <class C> void save(const SqTensor<C>& t, const std::string& path) {
  detail::write_file(path, serialize(t));
}

template <class C> SqTensor<C> load_sq_tensor(const std::string& path) {
  const auto data = detail::read_file(path);
  return deserialize_sq_tensor<C>(data.data(), data.size());
}

/// As load_sq_tensor, and throws Error(shape_mismatch) unless the file holds rows x cols.
template <class C>
SqTensor<C> load_sq_tensor(const std::string& path, std::size_t rows, std::size_t cols) {
  SqTensor<C> t = load_sq_tensor<C>(path);
  detail::check_expected_shape(t.rows, t.cols, rows, cols);
  return t;
}

// ---- StaticSplit ---------------------------------------------------------------------------

template <class C> std::vector<std::uint8_t> serialize(const StaticSplit<C>& s) {
  check_static_permutation<C>(s.perm, s.cols);
  detail::ByteWriter w;
  detail::write_header<C>(w, FileKind::static_split, s.rows, s.cols,
                          static_cast<std::uint32_t>(s.granularity), 5);
  w.array(s.perm);
  w.array(s.x_high);
  w.array(s.x_low);
  w.array(s.scale_high);
  w.array(s.scale_low);
  return w.finish();
}

template <class C>
StaticSplit<C> deserialize_static_split(const std::uint8_t* data, std::size_t size) {
  detail::ByteReader r(data, size);
  const auto shape_of = [](const detail::Header& h) {
    StaticSplit<C> s;
    s.rows = h.rows;
    s.cols = h.cols;
    s.granularity = h.granularity == 0 ? ActScale::per_token : ActScale::per_token_bank;
    s.high_row_bytes = packed_bytes(s.high_cols(), C::high_bits);
    s.low_row_bytes = packed_bytes(s.low_cols(), C::low_bits);
    return s;
  };
  const auto lengths = [&](const detail::Header& h) {
    const StaticSplit<C> s = shape_of(h);
    const std::size_t scales = s.rows * s.scales_per_row() * 4;
    return std::vector<std::size_t>{s.cols * 4, s.rows * s.high_row_bytes, s.rows * s.low_row_bytes,
                                    scales, scales};
  };
  const detail::Header h =
      detail::read_header<C>(r, data, size, FileKind::static_split, 5, lengths);
  if (h.granularity > 1) {
    throw Error(ErrorCode::format_mismatch,
                "unknown activation scale granularity " + std::to_string(h.granularity));
  }
  StaticSplit<C> s = shape_of(h);
  const auto len = lengths(h);
  const std::uint8_t* p = detail::read_array(r, len[0], "perm");
  s.perm.resize(s.cols);
  for (std::size_t k = 0; k < s.cols; ++k) {
    s.perm[k] = std::uint32_t(p[4 * k]) | std::uint32_t(p[4 * k + 1]) << 8 |
                std::uint32_t(p[4 * k + 2]) << 16 | std::uint32_t(p[4 * k + 3]) << 24;
  }
  const std::uint8_t* xh = detail::read_array(r, len[1], "x_high");
  s.x_high.assign(xh, xh + len[1]);
  const std::uint8_t* xl = detail::read_array(r, len[2], "x_low");
  s.x_low.assign(xl, xl + len[2]);
  s.scale_high = detail::read_floats(r, len[3] / 4, "scale_high");
  s.scale_low = detail::read_floats(r, len[4] / 4, "scale_low");
  check_static_permutation<C>(s.perm, s.cols);
  return s;
}

template <class C> void save(const StaticSplit<C>& s, const std::string& path) {
  detail::write_file(path, serialize(s));
}

template <class C> StaticSplit<C> load_static_split(const std::string& path) {
  const auto data = detail::read_file(path);
  return deserialize_static_split<C>(data.data(), data.size());
}

/// As load_static_split, and throws Error(shape_mismatch) unless the file holds M x K.
template <class C>
StaticSplit<C> load_static_split(const std::string& path, std::size_t M, std::size_t K) {
  StaticSplit<C> s = load_static_split<C>(path);
  detail::check_expected_shape(s.rows, s.cols, M, K);
  return s;
}

} // namespace sqformat::ref

// sqformat/eval/gguf_file.hpp: a reader of GGUF version 3 files (the model container of the
// ggml ecosystem), enough to load a Llama-architecture model for the evaluation.
//
// Layout (all little endian):
//   magic "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count x  { string key | u32 value_type | value }
//   tensor_count x { string name | u32 n_dims | u64 dims[n_dims] | u32 ggml_type | u64 offset }
//   padding to `alignment` | tensor data blob (each tensor at data_start + offset)
// A string is u64 length + bytes (no terminator). An array value is u32 element type + u64 count
// + the elements. `alignment` is the u32 value of "general.alignment", 32 when absent.
//
// Every read is bounds-checked: a truncated file, a wrong magic, an unknown value or tensor type,
// a tensor outside the file or a misaligned offset throws sqformat::Error; nothing is read past
// the end of the buffer. The whole file is held in memory (models of a few hundred MB).
#pragma once

#include <sqformat/error.hpp>
#include <sqformat/eval/ggml_types.hpp>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sqformat::eval {

/// Type tags of GGUF metadata values.
enum class GgufType : std::uint32_t {
  uint8 = 0,
  int8 = 1,
  uint16 = 2,
  int16 = 3,
  uint32 = 4,
  int32 = 5,
  float32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  uint64 = 10,
  int64 = 11,
  float64 = 12,
};

inline const char* to_string(GgufType t) {
  switch (t) {
  case GgufType::uint8: return "uint8";
  case GgufType::int8: return "int8";
  case GgufType::uint16: return "uint16";
  case GgufType::int16: return "int16";
  case GgufType::uint32: return "uint32";
  case GgufType::int32: return "int32";
  case GgufType::float32: return "float32";
  case GgufType::boolean: return "bool";
  case GgufType::string: return "string";
  case GgufType::array: return "array";
  case GgufType::uint64: return "uint64";
  case GgufType::int64: return "int64";
  case GgufType::float64: return "float64";
  }
  return "unknown";
}

/// One metadata value. Integers are kept in the widest type of their signedness, floats as
/// double; `type` remembers what the file declared.
struct GgufValue {
  GgufType type = GgufType::uint8;
  std::uint64_t u = 0;                     ///< unsigned integers and bool
  std::int64_t i = 0;                      ///< signed integers
  double f = 0.0;                          ///< float32 / float64
  std::string s;                           ///< string
  GgufType element_type = GgufType::uint8; ///< for arrays
  std::vector<GgufValue> elements;         ///< for arrays

  bool is_unsigned() const {
    return type == GgufType::uint8 || type == GgufType::uint16 || type == GgufType::uint32 ||
           type == GgufType::uint64 || type == GgufType::boolean;
  }
  bool is_signed() const {
    return type == GgufType::int8 || type == GgufType::int16 || type == GgufType::int32 ||
           type == GgufType::int64;
  }
  bool is_float() const { return type == GgufType::float32 || type == GgufType::float64; }
};

/// Where a tensor lies and what it holds. dims[0] is the fastest-varying dimension (ggml order):
/// a weight of shape {K, N} is N rows of K contiguous elements.
struct GgufTensorInfo {
  std::string name;
  std::vector<std::uint64_t> dims;
  GgmlType type = GgmlType::f32;
  std::uint64_t offset = 0;      ///< relative to the data blob, as stored
  std::uint64_t file_offset = 0; ///< absolute position in the file
  std::uint64_t bytes = 0;

  std::uint64_t element_count() const {
    std::uint64_t n = 1;
    for (auto d : dims)
      n *= d;
    return n;
  }
};

class GgufFile {
public:
  /// Parses a complete GGUF file held in `bytes` (the object keeps it).
  explicit GgufFile(std::vector<std::uint8_t> bytes, std::string origin = "<memory>")
      : bytes_(std::move(bytes)), origin_(std::move(origin)) {
    parse();
  }

  /// Reads and parses the file at `path`.
  static GgufFile open(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) {
      throw Error(ErrorCode::io_error, "GGUF: cannot open '" + path +
                                           "'; check the path (scripts/fetch_model.sh prints it)");
    }
    const std::streamoff size = in.tellg();
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
    in.seekg(0);
    if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) {
      throw Error(ErrorCode::io_error, "GGUF: cannot read '" + path + "'");
    }
    return GgufFile(std::move(bytes), path);
  }

  std::uint32_t version() const { return version_; }
  std::uint64_t alignment() const { return alignment_; }
  std::uint64_t data_start() const { return data_start_; }
  const std::map<std::string, GgufValue>& metadata() const { return kv_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }

  bool has(const std::string& key) const { return kv_.count(key) != 0; }
  const GgufValue& value(const std::string& key) const {
    auto it = kv_.find(key);
    if (it == kv_.end()) {
      throw Error(ErrorCode::format_mismatch,
                  "GGUF '" + origin_ + "': metadata key '" + key + "' is missing");
    }
    return it->second;
  }
  std::uint64_t get_uint(const std::string& key) const {
    const GgufValue& v = value(key);
    if (v.is_unsigned())
      return v.u;
    if (v.is_signed() && v.i >= 0)
      return static_cast<std::uint64_t>(v.i);
    throw Error(ErrorCode::format_mismatch, "GGUF: key '" + key + "' is " + to_string(v.type) +
                                                ", expected a non-negative integer");
  }
  double get_float(const std::string& key) const {
    const GgufValue& v = value(key);
    if (!v.is_float()) {
      throw Error(ErrorCode::format_mismatch,
                  "GGUF: key '" + key + "' is " + to_string(v.type) + ", expected a float");
    }
    return v.f;
  }
  const std::string& get_string(const std::string& key) const {
    const GgufValue& v = value(key);
    if (v.type != GgufType::string) {
      throw Error(ErrorCode::format_mismatch,
                  "GGUF: key '" + key + "' is " + to_string(v.type) + ", expected a string");
    }
    return v.s;
  }

  const GgufTensorInfo* find_tensor(const std::string& name) const {
    for (const auto& t : tensors_) {
      if (t.name == name)
        return &t;
    }
    return nullptr;
  }
  const GgufTensorInfo& tensor(const std::string& name) const {
    const GgufTensorInfo* t = find_tensor(name);
    if (t == nullptr) {
      throw Error(ErrorCode::format_mismatch,
                  "GGUF '" + origin_ + "': tensor '" + name + "' is missing");
    }
    return *t;
  }
  /// The raw bytes of a tensor (validated to lie inside the file when parsing).
  const std::uint8_t* tensor_data(const GgufTensorInfo& t) const {
    return bytes_.data() + t.file_offset;
  }

private:
  // Limits that keep a corrupt count from allocating the machine away.
  static constexpr std::uint64_t max_dims = 4;
  static constexpr std::uint64_t max_string = std::uint64_t(1) << 30;

  void need(std::uint64_t n, const char* what) const {
    if (n > bytes_.size() || pos_ > bytes_.size() - n) {
      throw Error(ErrorCode::truncated_file,
                  "GGUF '" + origin_ + "': file ends inside " + what + " (at byte " +
                      std::to_string(pos_) + " of " + std::to_string(bytes_.size()) +
                      "); the download is incomplete or the file is not GGUF, fetch it again");
    }
  }
  template <class T> T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const char* what) {
    const auto n = read<std::uint64_t>(what);
    if (n > max_string) {
      throw Error(ErrorCode::format_mismatch,
                  "GGUF '" + origin_ + "': string of " + std::to_string(n) + " bytes in " + what);
    }
    need(n, what);
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<std::size_t>(n));
    pos_ += n;
    return s;
  }
  GgufType read_type(const char* what) {
    const auto t = read<std::uint32_t>(what);
    if (t > static_cast<std::uint32_t>(GgufType::float64)) {
      throw Error(ErrorCode::format_mismatch, "GGUF '" + origin_ + "': unknown value type " +
                                                  std::to_string(t) + " in " + what);
    }
    return static_cast<GgufType>(t);
  }
  GgufValue read_value(GgufType type, int depth) {
    GgufValue v;
    v.type = type;
    switch (type) {
    case GgufType::uint8: v.u = read<std::uint8_t>("a uint8 value"); break;
    case GgufType::int8: v.i = read<std::int8_t>("an int8 value"); break;
    case GgufType::uint16: v.u = read<std::uint16_t>("a uint16 value"); break;
    case GgufType::int16: v.i = read<std::int16_t>("an int16 value"); break;
    case GgufType::uint32: v.u = read<std::uint32_t>("a uint32 value"); break;
    case GgufType::int32: v.i = read<std::int32_t>("an int32 value"); break;
    case GgufType::uint64: v.u = read<std::uint64_t>("a uint64 value"); break;
    case GgufType::int64: v.i = read<std::int64_t>("an int64 value"); break;
    case GgufType::float32: v.f = read<float>("a float32 value"); break;
    case GgufType::float64: v.f = read<double>("a float64 value"); break;
    case GgufType::boolean: {
      const auto b = read<std::uint8_t>("a bool value");
      if (b > 1) {
        throw Error(ErrorCode::format_mismatch,
                    "GGUF '" + origin_ + "': bool value " + std::to_string(b) + " is not 0 or 1");
      }
      v.u = b;
      break;
    }
    case GgufType::string: v.s = read_string("a string value"); break;
    case GgufType::array: {
      if (depth > 0) {
        throw Error(ErrorCode::format_mismatch,
                    "GGUF '" + origin_ + "': nested arrays are not supported");
      }
      v.element_type = read_type("an array element type");
      const auto count = read<std::uint64_t>("an array length");
      // Every element takes at least one byte: a count beyond the rest of the file is corrupt.
      if (count > bytes_.size() - pos_) {
        throw Error(ErrorCode::truncated_file, "GGUF '" + origin_ + "': array of " +
                                                   std::to_string(count) +
                                                   " elements does not fit in the file");
      }
      v.elements.reserve(static_cast<std::size_t>(count));
      for (std::uint64_t e = 0; e < count; ++e)
        v.elements.push_back(read_value(v.element_type, 1));
      break;
    }
    }
    return v;
  }

  void parse() {
    pos_ = 0;
    const auto magic = read<std::uint32_t>("the magic");
    if (magic != 0x46554747u) { // "GGUF" read as little-endian u32
      throw Error(ErrorCode::format_mismatch,
                  "GGUF '" + origin_ + "': wrong magic (not a GGUF file); expected bytes 'GGUF'");
    }
    version_ = read<std::uint32_t>("the version");
    if (version_ != 3) {
      throw Error(ErrorCode::format_mismatch, "GGUF '" + origin_ + "': version " +
                                                  std::to_string(version_) +
                                                  " is not supported (only version 3)");
    }
    const auto tensor_count = read<std::uint64_t>("the tensor count");
    const auto kv_count = read<std::uint64_t>("the metadata count");
    if (tensor_count > bytes_.size() || kv_count > bytes_.size()) {
      throw Error(ErrorCode::truncated_file,
                  "GGUF '" + origin_ + "': counts (" + std::to_string(tensor_count) + " tensors, " +
                      std::to_string(kv_count) + " keys) exceed the file size");
    }
    for (std::uint64_t k = 0; k < kv_count; ++k) {
      std::string key = read_string("a metadata key");
      const GgufType t = read_type("a metadata value type");
      kv_[key] = read_value(t, 0);
    }
    alignment_ = 32;
    if (has("general.alignment")) {
      const GgufValue& a = kv_.at("general.alignment");
      if (a.type != GgufType::uint32 || a.u == 0 || (a.u & (a.u - 1)) != 0) {
        throw Error(ErrorCode::format_mismatch,
                    "GGUF '" + origin_ + "': general.alignment must be a uint32 power of two");
      }
      alignment_ = a.u;
    }
    for (std::uint64_t n = 0; n < tensor_count; ++n) {
      GgufTensorInfo t;
      t.name = read_string("a tensor name");
      const auto nd = read<std::uint32_t>("a tensor's dimension count");
      if (nd == 0 || nd > max_dims) {
        throw Error(ErrorCode::format_mismatch, "GGUF '" + origin_ + "': tensor '" + t.name +
                                                    "' has " + std::to_string(nd) +
                                                    " dimensions (1 to 4 allowed)");
      }
      for (std::uint32_t d = 0; d < nd; ++d) {
        const auto dim = read<std::uint64_t>("a tensor dimension");
        if (dim == 0 || dim > (std::uint64_t(1) << 40)) {
          throw Error(ErrorCode::format_mismatch, "GGUF '" + origin_ + "': tensor '" + t.name +
                                                      "' has dimension " + std::to_string(dim));
        }
        t.dims.push_back(dim);
      }
      const auto type = read<std::uint32_t>("a tensor type");
      t.type = ggml_type_from_code(type, t.name);
      t.offset = read<std::uint64_t>("a tensor offset");
      tensors_.push_back(std::move(t));
    }
    data_start_ = (pos_ + alignment_ - 1) / alignment_ * alignment_;
    for (auto& t : tensors_) {
      const GgmlTypeTraits tr = ggml_type_traits(t.type);
      if (t.dims[0] % tr.block_elements != 0) {
        throw Error(ErrorCode::format_mismatch, "GGUF '" + origin_ + "': tensor '" + t.name +
                                                    "' row of " + std::to_string(t.dims[0]) +
                                                    " is not a multiple of the " +
                                                    ggml_type_name(t.type) + " block (" +
                                                    std::to_string(tr.block_elements) + ")");
      }
      t.bytes = t.element_count() / tr.block_elements * tr.block_bytes;
      if (t.offset % alignment_ != 0) {
        throw Error(ErrorCode::format_mismatch, "GGUF '" + origin_ + "': tensor '" + t.name +
                                                    "' offset " + std::to_string(t.offset) +
                                                    " is not a multiple of the alignment " +
                                                    std::to_string(alignment_));
      }
      const std::uint64_t size = bytes_.size();
      if (data_start_ > size || t.offset > size - data_start_ ||
          t.bytes > size - data_start_ - t.offset) {
        throw Error(ErrorCode::truncated_file,
                    "GGUF '" + origin_ + "': tensor '" + t.name + "' (" + std::to_string(t.bytes) +
                        " bytes at data offset " + std::to_string(t.offset) +
                        ") lies outside the file of " + std::to_string(size) + " bytes");
      }
      t.file_offset = data_start_ + t.offset;
    }
  }

  std::vector<std::uint8_t> bytes_;
  std::string origin_;
  std::size_t pos_ = 0;
  std::uint32_t version_ = 0;
  std::uint64_t alignment_ = 32;
  std::uint64_t data_start_ = 0;
  std::map<std::string, GgufValue> kv_;
  std::vector<GgufTensorInfo> tensors_;
};

} // namespace sqformat::eval

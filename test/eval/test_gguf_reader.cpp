// GGUF reader on tiny files written by the test: metadata of every type, tensor descriptors,
// alignment, dequantization of every supported block type, and broken files (truncated, wrong
// magic, unknown types, out-of-range or misaligned offsets) that must throw sqformat::Error.
#include "gguf_writer.hpp"
#include "sq_catch.hpp"

#include <sqformat/eval/gguf_file.hpp>

#include <random>

using namespace sqformat;
using namespace sqformat::eval;
using eval_test::exact_half;
using eval_test::GgufWriter;

namespace {

struct BlockCase {
  GgmlType type;
  std::vector<std::uint8_t> bytes;
  std::vector<float> expected;
};

// Encodes `blocks` random blocks of `type` and the values a correct decoder must produce.
BlockCase make_blocks(GgmlType type, int blocks, std::mt19937& rng) {
  BlockCase c{type, {}, {}};
  auto half = [&](float v) { GgufWriter::put<std::uint16_t>(c.bytes, exact_half(v)); };
  std::uniform_int_distribution<int> small(-64, 64);
  for (int b = 0; b < blocks; ++b) {
    const float d = static_cast<float>(small(rng)) / 32.0f; // exact in binary16
    const float m = static_cast<float>(small(rng)) / 16.0f;
    std::vector<int> q(32);
    switch (type) {
    case GgmlType::q4_0:
    case GgmlType::q4_1: {
      for (auto& v : q)
        v = std::uniform_int_distribution<int>(0, 15)(rng);
      half(d);
      if (type == GgmlType::q4_1)
        half(m);
      for (int j = 0; j < 16; ++j)
        c.bytes.push_back(static_cast<std::uint8_t>(q[j] | (q[j + 16] << 4)));
      for (int j = 0; j < 32; ++j) {
        c.expected.push_back(type == GgmlType::q4_0 ? d * float(q[j] - 8) : d * float(q[j]) + m);
      }
      break;
    }
    case GgmlType::q5_0:
    case GgmlType::q5_1: {
      for (auto& v : q)
        v = std::uniform_int_distribution<int>(0, 31)(rng);
      half(d);
      if (type == GgmlType::q5_1)
        half(m);
      std::uint32_t qh = 0;
      for (int j = 0; j < 32; ++j)
        qh |= std::uint32_t((q[j] >> 4) & 1) << j;
      GgufWriter::put<std::uint32_t>(c.bytes, qh);
      for (int j = 0; j < 16; ++j) {
        c.bytes.push_back(static_cast<std::uint8_t>((q[j] & 15) | ((q[j + 16] & 15) << 4)));
      }
      for (int j = 0; j < 32; ++j) {
        c.expected.push_back(type == GgmlType::q5_0 ? d * float(q[j] - 16) : d * float(q[j]) + m);
      }
      break;
    }
    case GgmlType::q8_0: {
      for (auto& v : q)
        v = std::uniform_int_distribution<int>(-128, 127)(rng);
      half(d);
      for (int j = 0; j < 32; ++j)
        c.bytes.push_back(static_cast<std::uint8_t>(q[j] & 0xff));
      for (int j = 0; j < 32; ++j)
        c.expected.push_back(d * float(q[j]));
      break;
    }
    case GgmlType::f32:
      for (int j = 0; j < 32; ++j) {
        const float v = std::uniform_real_distribution<float>(-3, 3)(rng);
        GgufWriter::put<float>(c.bytes, v);
        c.expected.push_back(v);
      }
      break;
    case GgmlType::f16:
      for (int j = 0; j < 32; ++j) {
        const float v = float(small(rng)) / 8.0f;
        half(v);
        c.expected.push_back(v);
      }
      break;
    case GgmlType::bf16:
      for (int j = 0; j < 32; ++j) {
        const float v = float(small(rng)) / 4.0f; // exact in bfloat16
        std::uint32_t bits;
        std::memcpy(&bits, &v, 4);
        GgufWriter::put<std::uint16_t>(c.bytes, static_cast<std::uint16_t>(bits >> 16));
        c.expected.push_back(v);
      }
      break;
    default: break;
    }
  }
  return c;
}

GgufWriter small_file() {
  GgufWriter w;
  w.string("general.architecture", "llama");
  w.scalar<std::uint32_t>("llama.block_count", 4, 2);
  w.scalar<float>("llama.rope.freq_base", 6, 10000.0f);
  std::vector<float> weights(64);
  for (int k = 0; k < 64; ++k)
    weights[k] = float(k) * 0.5f;
  std::vector<std::uint8_t> bytes(weights.size() * 4);
  std::memcpy(bytes.data(), weights.data(), bytes.size());
  w.tensor("a", {32, 2}, 0, bytes);
  w.tensor("b", {32}, 0, std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + 128));
  return w;
}

ErrorCode code_of(const std::vector<std::uint8_t>& bytes) {
  try {
    GgufFile f(bytes);
    (void)f;
  } catch (const Error& e) {
    return e.code();
  }
  FAIL("no error thrown");
  return ErrorCode::invalid_argument;
}

} // namespace

TEST_CASE("gguf: metadata of every value type, arrays included", "[eval][gguf]") {
  GgufWriter w;
  w.scalar<std::uint8_t>("u8", 0, 200);
  w.scalar<std::int8_t>("i8", 1, -100);
  w.scalar<std::uint16_t>("u16", 2, 60000);
  w.scalar<std::int16_t>("i16", 3, -30000);
  w.scalar<std::uint32_t>("u32", 4, 4000000000u);
  w.scalar<std::int32_t>("i32", 5, -2000000000);
  w.scalar<float>("f32", 6, 1.5f);
  w.scalar<std::uint8_t>("bool", 7, 1);
  w.string("str", "héllo");
  w.scalar<std::uint64_t>("u64", 10, 1ull << 60);
  w.scalar<std::int64_t>("i64", 11, -(1ll << 60));
  w.scalar<double>("f64", 12, -2.25);
  w.string_array("strs", {"a", "", "ccc"});
  w.array<std::int32_t>("ints", 5, {1, -2, 3});
  w.array<float>("floats", 6, {0.5f, -1.0f});
  GgufFile f(w.finish());
  CHECK(f.version() == 3);
  CHECK(f.metadata().size() == 15);
  CHECK(f.get_uint("u8") == 200);
  CHECK(f.value("i8").i == -100);
  CHECK(f.get_uint("u16") == 60000);
  CHECK(f.value("i16").i == -30000);
  CHECK(f.get_uint("u32") == 4000000000u);
  CHECK(f.value("i32").i == -2000000000);
  CHECK(f.get_float("f32") == 1.5);
  CHECK(f.get_uint("bool") == 1);
  CHECK(f.get_string("str") == "héllo");
  CHECK(f.get_uint("u64") == (1ull << 60));
  CHECK(f.value("i64").i == -(1ll << 60));
  CHECK(f.get_float("f64") == -2.25);
  const auto& strs = f.value("strs");
  REQUIRE(strs.elements.size() == 3);
  CHECK(strs.element_type == GgufType::string);
  CHECK(strs.elements[2].s == "ccc");
  CHECK(f.value("ints").elements[1].i == -2);
  CHECK(f.value("floats").elements[1].f == -1.0);
  CHECK(f.tensors().empty());
  CHECK_THROWS_AS(f.value("missing"), Error);
  CHECK_THROWS_AS(f.get_string("u8"), Error);
  CHECK_THROWS_AS(f.get_uint("i32"), Error); // negative
}

TEST_CASE("gguf: every supported block type dequantizes exactly", "[eval][gguf]") {
  const unsigned seed = std::random_device{}();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  for (std::uint32_t alignment : {32u, 64u, 128u}) {
    CAPTURE(alignment);
    GgufWriter w;
    w.alignment = alignment;
    if (alignment != 32)
      w.scalar<std::uint32_t>("general.alignment", 4, alignment);
    const GgmlType types[] = {GgmlType::f32,  GgmlType::f16,  GgmlType::bf16, GgmlType::q4_0,
                              GgmlType::q4_1, GgmlType::q5_0, GgmlType::q5_1, GgmlType::q8_0};
    std::vector<BlockCase> cases;
    for (GgmlType t : types) {
      cases.push_back(make_blocks(t, 6, rng)); // 6 blocks: a {64, 3} tensor of 192 elements
      w.tensor(std::string("t_") + ggml_type_name(t), {64, 3}, static_cast<std::uint32_t>(t),
               cases.back().bytes);
    }
    GgufFile f(w.finish());
    CHECK(f.alignment() == alignment);
    CHECK(f.data_start() % alignment == 0);
    REQUIRE(f.tensors().size() == cases.size());
    for (const auto& c : cases) {
      CAPTURE(ggml_type_name(c.type));
      const GgufTensorInfo& t = f.tensor(std::string("t_") + ggml_type_name(c.type));
      CHECK(t.type == c.type);
      CHECK(t.dims == std::vector<std::uint64_t>{64, 3});
      CHECK(t.element_count() == 192);
      CHECK(t.bytes == c.bytes.size());
      CHECK(t.file_offset % alignment == 0);
      std::vector<float> out(192);
      dequantize(t.type, f.tensor_data(t), out.size(), out.data());
      CHECK(out == c.expected);
    }
  }
}

TEST_CASE("gguf: binary16 conversion of special values", "[eval][gguf]") {
  CHECK(half_to_float(0x3c00) == 1.0f);
  CHECK(half_to_float(0xc000) == -2.0f);
  CHECK(half_to_float(0x7bff) == 65504.0f);
  CHECK(half_to_float(0x0001) == std::ldexp(1.0f, -24)); // smallest subnormal
  CHECK(half_to_float(0x03ff) == std::ldexp(1023.0f, -24));
  CHECK(std::isinf(half_to_float(0x7c00)));
  CHECK(std::isnan(half_to_float(0x7e00)));
  CHECK(std::signbit(half_to_float(0x8000)));
}

TEST_CASE("gguf: every truncation of a valid file throws, never crashes", "[eval][gguf]") {
  const auto bytes = small_file().finish();
  REQUIRE_NOTHROW(GgufFile(bytes));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    CAPTURE(n);
    std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    const ErrorCode c = code_of(cut);
    CHECK((c == ErrorCode::truncated_file || c == ErrorCode::format_mismatch));
  }
}

TEST_CASE("gguf: broken files give clear errors", "[eval][gguf]") {
  const auto good = small_file().finish();
  SECTION("wrong magic") {
    auto b = good;
    b[0] = 'X';
    CHECK(code_of(b) == ErrorCode::format_mismatch);
  }
  SECTION("unsupported version") {
    auto b = good;
    b[4] = 2;
    CHECK(code_of(b) == ErrorCode::format_mismatch);
  }
  SECTION("unknown metadata value type") {
    GgufWriter w;
    w.scalar<std::uint32_t>("k", 13, 5);
    CHECK(code_of(w.finish()) == ErrorCode::format_mismatch);
  }
  SECTION("unknown tensor type") {
    GgufWriter w;
    w.tensor("t", {32}, 5, std::vector<std::uint8_t>(128)); // 4 and 5 (old Q4_2/Q4_3) are gone
    CHECK(code_of(w.finish()) == ErrorCode::format_mismatch);
  }
  SECTION("tensor past the end of the file") {
    GgufWriter w;
    w.tensor("t", {32, 4}, 0, std::vector<std::uint8_t>(128)); // declares 512 bytes, holds 128
    CHECK(code_of(w.finish()) == ErrorCode::truncated_file);
  }
  SECTION("offset out of range") {
    auto w = small_file();
    // Rewrite the last tensor's offset (last 8 bytes of the infos) to a huge aligned value.
    const std::uint64_t huge = std::uint64_t(1) << 62;
    std::memcpy(w.infos.data() + w.infos.size() - 8, &huge, 8);
    CHECK(code_of(w.finish()) == ErrorCode::truncated_file);
  }
  SECTION("misaligned offset") {
    auto w = small_file();
    const std::uint64_t odd = 4;
    std::memcpy(w.infos.data() + w.infos.size() - 8, &odd, 8);
    CHECK(code_of(w.finish()) == ErrorCode::format_mismatch);
  }
  SECTION("row not a whole number of blocks") {
    GgufWriter w;
    w.tensor("t", {16}, 3, std::vector<std::uint8_t>(20)); // Q4_1 blocks hold 32
    CHECK(code_of(w.finish()) == ErrorCode::format_mismatch);
  }
  SECTION("huge array length") {
    GgufWriter w;
    w.key("arr", 9);
    GgufWriter::put<std::uint32_t>(w.kv, 4);
    GgufWriter::put<std::uint64_t>(w.kv, std::uint64_t(1) << 50);
    CHECK(code_of(w.finish()) == ErrorCode::truncated_file);
  }
  SECTION("bad alignment value") {
    GgufWriter w;
    w.scalar<std::uint32_t>("general.alignment", 4, 48);
    CHECK(code_of(w.finish()) == ErrorCode::format_mismatch);
  }
  SECTION("K-quant parses but does not dequantize") {
    GgufWriter w;
    w.tensor("t", {256}, 14, std::vector<std::uint8_t>(210));
    GgufFile f(w.finish());
    std::vector<float> out(256);
    CHECK_THROWS_AS(dequantize(f.tensors()[0].type, f.tensor_data(f.tensors()[0]), 256, out.data()),
                    Error);
  }
  SECTION("missing file") { CHECK_THROWS_AS(GgufFile::open("/nonexistent/model.gguf"), Error); }
}

// Save / load of SqTensor and StaticSplit: identity, and every kind of bad file rejected.
#include "ref_test_util.hpp"
#include "sq_catch.hpp"

#include <sqformat/reference/selection.hpp>
#include <sqformat/reference/serialize.hpp>

#include <filesystem>

using namespace sqformat;
using namespace sqformat::ref;

namespace {

template <class C> bool same(const SqTensor<C>& a, const SqTensor<C>& b) {
  return a.rows == b.rows && a.cols == b.cols && a.low_row_bytes == b.low_row_bytes &&
         a.high_row_bytes == b.high_row_bytes && a.low == b.low && a.high == b.high &&
         a.scale_low == b.scale_low && a.scale_high == b.scale_high;
}

template <class C> bool same(const StaticSplit<C>& a, const StaticSplit<C>& b) {
  return a.rows == b.rows && a.cols == b.cols && a.granularity == b.granularity &&
         a.perm == b.perm && a.high_row_bytes == b.high_row_bytes &&
         a.low_row_bytes == b.low_row_bytes && a.x_high == b.x_high && a.x_low == b.x_low &&
         a.scale_high == b.scale_high && a.scale_low == b.scale_low;
}

// Every strict prefix is truncated; one flipped bit in every byte is rejected.
template <class Load>
void check_rejections(const std::vector<std::uint8_t>& bytes, Load load, std::mt19937& rng) {
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    CAPTURE(n);
    REQUIRE(sqtest::error_code_of([&] { load(bytes.data(), n); }) == ErrorCode::truncated_file);
  }
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto bad = bytes;
    bad[i] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
    CAPTURE(i);
    REQUIRE(sqtest::error_code_of([&] { load(bad.data(), bad.size()); }).has_value());
  }
  auto longer = bytes;
  longer.push_back(0);
  REQUIRE(sqtest::error_code_of([&] { load(longer.data(), longer.size()); }) ==
          ErrorCode::format_mismatch);
  auto magic = bytes;
  magic[0] = 'X';
  REQUIRE(sqtest::error_code_of([&] { load(magic.data(), magic.size()); }) ==
          ErrorCode::format_mismatch);
}

std::string temp_path(const char* stem, std::uint32_t seed) {
  return (std::filesystem::temp_directory_path() /
          (std::string(stem) + "_" + std::to_string(seed) + ".sqf"))
      .string();
}

} // namespace

TEMPLATE_LIST_TEST_CASE("SqTensor save -> load is the identity; bad files are rejected",
                        "[serialize]", sqtest::Configs) {
  using C = TestType;
  const auto seed = sqtest::fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const std::size_t rows = 3, cols = 2 * C::bank;
  const auto x = sqtest::random_matrix(rows, cols, rng);
  const auto t = quantize_dynamic<C>(x.data(), rows, cols);
  const auto bytes = serialize(t);
  REQUIRE(same(deserialize_sq_tensor<C>(bytes.data(), bytes.size()), t));

  const std::string path = temp_path("sq_tensor", seed);
  save(t, path);
  REQUIRE(same(load_sq_tensor<C>(path), t));
  REQUIRE(same(load_sq_tensor<C>(path, rows, cols), t));
  REQUIRE(sqtest::error_code_of([&] { load_sq_tensor<C>(path, rows + 1, cols); }) ==
          ErrorCode::shape_mismatch);
  // Another configuration, or the other kind of object.
  using Other = std::conditional_t<C::bank == 16 && C::high_per_bank == 4, SqConfig<16, 8, 8, 4>,
                                   SqConfig<16, 4, 8, 4>>;
  REQUIRE(sqtest::error_code_of([&] { load_sq_tensor<Other>(path); }) ==
          ErrorCode::format_mismatch);
  REQUIRE(sqtest::error_code_of([&] { load_static_split<C>(path); }) == ErrorCode::format_mismatch);
  std::filesystem::remove(path);
  REQUIRE(sqtest::error_code_of([&] { load_sq_tensor<C>(path); }) == ErrorCode::io_error);

  check_rejections(
      bytes, [](const std::uint8_t* p, std::size_t n) { deserialize_sq_tensor<C>(p, n); }, rng);

  // A file with a valid checksum whose first bank lost its sentinels fails validation.
  auto forged = bytes;
  const std::size_t low_offset = 56 + 8; // header, then the u64 length of the low array
  for (std::size_t i = 0; i < packed_bytes(C::bank, C::low_bits); ++i) {
    forged.at(low_offset + i) = 0;
  }
  const std::uint64_t sum = ref::detail::fnv1a64(forged.data(), forged.size() - 8);
  for (int i = 0; i < 8; ++i) {
    forged[forged.size() - 8 + i] = static_cast<std::uint8_t>(sum >> (8 * i));
  }
  REQUIRE(sqtest::error_code_of([&] { deserialize_sq_tensor<C>(forged.data(), forged.size()); }) ==
          ErrorCode::bad_mask);
}

TEMPLATE_LIST_TEST_CASE("StaticSplit save -> load is the identity; bad files are rejected",
                        "[serialize]", sqtest::Configs) {
  using C = TestType;
  const auto seed = sqtest::fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const std::size_t M = 3, K = 2 * C::bank;
  const auto x = sqtest::random_matrix(M, K, rng);
  const auto mask = sqtest::random_mask(1, K, C::bank, C::high_per_bank, rng);
  const auto perm = permutation_from_channel_mask<C>(mask.data(), K);
  for (ActScale g : {ActScale::per_token, ActScale::per_token_bank}) {
    const auto s = split_static<C>(x.data(), M, K, perm, g);
    const auto bytes = serialize(s);
    REQUIRE(same(deserialize_static_split<C>(bytes.data(), bytes.size()), s));
    const std::string path = temp_path("static_split", seed);
    save(s, path);
    REQUIRE(same(load_static_split<C>(path, M, K), s));
    REQUIRE(sqtest::error_code_of([&] { load_static_split<C>(path, M, K + C::bank); }) ==
            ErrorCode::shape_mismatch);
    REQUIRE(sqtest::error_code_of([&] { load_sq_tensor<C>(path); }) == ErrorCode::format_mismatch);
    std::filesystem::remove(path);
    check_rejections(
        bytes, [](const std::uint8_t* p, std::size_t n) { deserialize_static_split<C>(p, n); },
        rng);
  }
}

// GPU tests of the weight path against the host reference, bit for bit: pack_weights vs
// sqformat::ref::pack_sq (float and bf16 weights), dequantize_sq vs sqformat::ref::dequantize
// (float and bf16 output), permute_columns vs sqformat::ref::permute_columns; over the
// data-path configs, two policies, odd and single-row N, one-bank and large K, adversarial data;
// then misuse and bad masks.
#include <cmath>
#include <limits>

#include "sqformat/gpu/datapath/permute_columns.cuh"
#include "sqformat/gpu/datapath/sq_dequantize.cuh"
#include "sqformat/gpu/datapath/weight_pack.cuh"
#include "sqformat/reference/sq_tensor.hpp"
#include "sqformat/reference/static_split.hpp"
#include "test_datapath_support.cuh"

namespace dp = sqformat::gpu::datapath;
namespace ref = sqformat::ref;
using namespace datapath_test;
using sqformat::Status;

namespace {

using bf16 = __nv_bfloat16;
template <class C>
using OtherPolicy = dp::SqBankPolicy<64, (C::bank / 32 > 1 ? C::bank / 32 : 1), 256>;

template <class C> struct DeviceSq {
  DeviceSq(std::size_t n, std::size_t k)
      : low(n * dp::sq_low_row_bytes<C>(k)), high(n * dp::sq_high_row_bytes<C>(k)),
        scale_low(n * (k / C::bank)), scale_high(n * (k / C::bank)) {}
  dp::SqTensorRef ref() { return {low.get(), high.get(), scale_low.get(), scale_high.get()}; }
  dp::ConstSqTensorRef cref() { return {low.get(), high.get(), scale_low.get(), scale_high.get()}; }
  DeviceBuffer<std::uint8_t> low, high;
  DeviceBuffer<float> scale_low, scale_high;
};

template <class C, class Policy, class T>
Status pack(const std::vector<T>& w, const std::vector<std::uint8_t>& mask, std::size_t n,
            std::size_t k, DeviceSq<C>& out, void* workspace) {
  DeviceBuffer<T> d_w(w);
  DeviceBuffer<std::uint8_t> d_mask(mask);
  dp::WeightPackArgs<T> args;
  args.w = d_w.get();
  args.high_mask = d_mask.get();
  args.rows = static_cast<std::int64_t>(n);
  args.cols = static_cast<std::int64_t>(k);
  args.out = out.ref();
  args.workspace = workspace;
  args.workspace_bytes = dp::workspace_size();
  return dp::pack_weights<C, Policy>(args, nullptr);
}

template <class C, class Policy, class T>
void check_pack_and_dequantize(std::size_t n, std::size_t k, Data kind, std::mt19937_64& rng) {
  const auto mask = random_mask(n, k, C::bank, C::high_per_bank, rng);
  std::vector<float> wf =
      make_data(kind, n, k, C::bank, mask, C::high_qmax, C::low_qmax, false, rng);
  if constexpr (std::is_same_v<T, float>) {
    std::uniform_real_distribution<float> jitter(0.999f, 1.001f);
    if (kind == Data::random)
      for (float& v : wf)
        v *= jitter(rng); // full float32 mantissas
  }
  wf = to_float(convert<T>(wf));
  const auto expected = ref::pack_sq<C>(wf.data(), n, k, mask.data());
  DeviceSq<C> got(n, k);
  Workspace ws;
  REQUIRE((pack<C, Policy>(convert<T>(wf), mask, n, k, got, ws.get())) == Status::success);
  CHECK(first_difference(got.scale_low.to_host(), expected.scale_low) == -1);
  CHECK(first_difference(got.scale_high.to_host(), expected.scale_high) == -1);
  CHECK(first_difference(got.low.to_host(), expected.low) == -1);
  CHECK(first_difference(got.high.to_host(), expected.high) == -1);

  // The inverse, from the packed tensor on the device, to float and to bf16.
  std::vector<float> deq(n * k);
  ref::dequantize(expected, deq.data());
  DeviceBuffer<float> out_f(n * k);
  DeviceBuffer<bf16> out_b(n * k);
  dp::SqDequantizeArgs<float> args_f;
  args_f.in = got.cref();
  args_f.rows = static_cast<std::int64_t>(n);
  args_f.cols = static_cast<std::int64_t>(k);
  args_f.out = out_f.get();
  args_f.workspace = ws.get();
  args_f.workspace_bytes = dp::workspace_size();
  REQUIRE(dp::dequantize_sq<C, Policy>(args_f, nullptr) == Status::success);
  CHECK(first_difference(out_f.to_host(), deq) == -1);
  if constexpr (std::is_same_v<Policy, dp::SqBankPolicy<>>) { // bf16 output: one policy is enough
    dp::SqDequantizeArgs<bf16> args_b;
    args_b.in = got.cref();
    args_b.rows = args_f.rows;
    args_b.cols = args_f.cols;
    args_b.out = out_b.get();
    args_b.workspace = ws.get();
    args_b.workspace_bytes = dp::workspace_size();
    REQUIRE(dp::dequantize_sq<C, Policy>(args_b, nullptr) == Status::success);
    CHECK(first_difference(out_b.to_host(), convert<bf16>(deq)) == -1);
  }
}

} // namespace

TEMPLATE_LIST_TEST_CASE("weight packing and dequantization match the reference bit for bit",
                        "[gpu][datapath][weights]", Configs) {
  using C = TestType;
  const std::uint64_t seed = fresh_seed();
  CAPTURE(seed, C::bank, C::high_per_bank, C::high_bits, C::low_bits);
  std::mt19937_64 rng(seed);
  const std::size_t shapes[][2] = {{1, C::bank},      {7, C::bank}, {1, 4096},
                                   {5, C::bank * 37}, {33, 4096},   {2, 28672}};
  for (const auto& shape : shapes) {
    for (Data kind : all_data) {
      CAPTURE(shape[0], shape[1], name(kind));
      check_pack_and_dequantize<C, dp::SqBankPolicy<>, float>(shape[0], shape[1], kind, rng);
      check_pack_and_dequantize<C, OtherPolicy<C>, float>(shape[0], shape[1], kind, rng);
    }
  }
}

TEST_CASE("weight packing of bf16 weights matches the reference", "[gpu][datapath][weights]") {
  using C = sqformat::SqConfig<64, 8, 8, 4>;
  const std::uint64_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  for (Data kind : all_data) {
    CAPTURE(name(kind));
    check_pack_and_dequantize<C, dp::SqBankPolicy<>, bf16>(13, 8192, kind, rng);
  }
}

TEST_CASE("permute_columns matches the reference gather", "[gpu][datapath][weights]") {
  using C = sqformat::SqConfig<64, 8, 8, 4>;
  const std::uint64_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  for (std::size_t n : {1, 7, 64}) {
    const std::size_t k = 4096;
    const auto cmask = random_mask(1, k, C::bank, C::high_per_bank, rng);
    const auto perm = ref::permutation_from_channel_mask<C>(cmask.data(), k);
    const auto w = convert<bf16>(make_data(Data::random, n, k, C::bank,
                                           std::vector<std::uint8_t>(n * k), 127, 7, false, rng));
    const auto expected = ref::permute_columns(w.data(), n, k, perm);
    DeviceBuffer<bf16> d_w(w), d_out(n * k);
    DeviceBuffer<std::uint32_t> d_perm(perm);
    Workspace ws;
    dp::PermuteColumnsArgs<bf16> args;
    args.in = d_w.get();
    args.rows = static_cast<std::int64_t>(n);
    args.cols = static_cast<std::int64_t>(k);
    args.perm = d_perm.get();
    args.out = d_out.get();
    args.workspace = ws.get();
    args.workspace_bytes = dp::workspace_size();
    REQUIRE(dp::permute_columns(args, nullptr) == Status::success);
    CHECK(first_difference(d_out.to_host(), expected) == -1);
    std::vector<std::uint32_t> bad = perm;
    bad[5] = static_cast<std::uint32_t>(k);
    DeviceBuffer<std::uint32_t> d_bad(bad);
    args.perm = d_bad.get();
    CHECK(dp::permute_columns(args, nullptr) == Status::invalid_argument);
  }
}

TEST_CASE("weight packing reports misuse, bad masks and bad data", "[gpu][datapath][weights]") {
  using C = sqformat::SqConfig<16, 4, 8, 4>;
  const std::size_t n = 3, k = 64;
  std::mt19937_64 rng(fresh_seed());
  const auto mask = random_mask(n, k, C::bank, C::high_per_bank, rng);
  const std::vector<float> w(n * k, 0.75f);
  DeviceSq<C> out(n, k);
  Workspace ws;
  REQUIRE((pack<C, dp::SqBankPolicy<>>(w, mask, n, k, out, ws.get())) == Status::success);
  CHECK((pack<C, dp::SqBankPolicy<>>(w, mask, n, 60, out, ws.get())) ==
        Status::k_not_multiple_of_bank);
  CHECK((pack<C, dp::SqBankPolicy<>>(w, mask, 0, k, out, ws.get())) == Status::invalid_shape);
  CHECK((pack<C, dp::SqBankPolicy<>>(w, mask, n, k, out, nullptr)) ==
        Status::insufficient_workspace);
  {
    DeviceBuffer<float> d_w(w);
    DeviceBuffer<std::uint8_t> d_mask(mask);
    dp::WeightPackArgs<float> args;
    args.w = d_w.get() + 1;
    args.high_mask = d_mask.get();
    args.rows = n;
    args.cols = k;
    args.out = out.ref();
    args.workspace = ws.get();
    args.workspace_bytes = dp::workspace_size();
    CHECK(dp::pack_weights<C>(args, nullptr) == Status::misaligned_pointer);
  }
  auto bad_mask = mask;
  bad_mask[rng() % bad_mask.size()] ^= 1; // one bank with H - 1 or H + 1 high elements
  CHECK((pack<C, dp::SqBankPolicy<>>(w, bad_mask, n, k, out, ws.get())) ==
        Status::invalid_argument);
  auto two_mask = mask;
  for (auto& v : two_mask)
    v = v ? 2 : 0; // right count, but not 0/1 (the reference rejects it)
  CHECK((pack<C, dp::SqBankPolicy<>>(w, two_mask, n, k, out, ws.get())) ==
        Status::invalid_argument);
  for (float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    auto wb = w;
    wb[rng() % wb.size()] = bad;
    CHECK((pack<C, dp::SqBankPolicy<>>(wb, mask, n, k, out, ws.get())) == Status::non_finite_input);
  }
}

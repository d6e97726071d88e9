// GPU tests of the dynamic activation quantizer (per-bank top-H by |x|) against
// sqformat::ref::quantize_dynamic: low and high bytes and scales bit for bit, over the data-path
// configs, both kernels (bank-group: two policies; lane: thirteen policies, and the fallback for
// the configs it does not take), odd and single-token M, one-bank and large K, adversarial data
// (ties at the threshold, -0/+0, all-zero and all-equal banks, outliers, exact .5 points,
// extreme magnitudes, adjacent magnitudes), bf16 and fp16; the kernels must agree byte for
// byte; then misuse and bad data.
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "sqformat/gpu/datapath/dynamic_quantize.cuh"
#include "sqformat/gpu/datapath/sq_lane_policy.hpp"
#include "sqformat/reference/selection.hpp"
#include "test_datapath_support.cuh"

namespace dp = sqformat::gpu::datapath;
namespace ref = sqformat::ref;
using namespace datapath_test;
using sqformat::Status;

namespace {

struct SqBytes {
  Status status;
  std::vector<std::uint8_t> low, high;
  std::vector<float> scale_low, scale_high;
};

template <class C, class Policy, class T>
SqBytes run_dynamic(const std::vector<T>& x, std::size_t m, std::size_t k) {
  DeviceBuffer<T> d_x(x);
  DeviceBuffer<std::uint8_t> d_low(m * dp::sq_low_row_bytes<C>(k));
  DeviceBuffer<std::uint8_t> d_high(m * dp::sq_high_row_bytes<C>(k));
  DeviceBuffer<float> d_sl(m * (k / C::bank)), d_sh(m * (k / C::bank));
  Workspace d_ws;
  dp::DynamicQuantizeArgs<T> args;
  args.x = d_x.get();
  args.rows = static_cast<std::int64_t>(m);
  args.cols = static_cast<std::int64_t>(k);
  args.out = {d_low.get(), d_high.get(), d_sl.get(), d_sh.get()};
  args.workspace = d_ws.get();
  args.workspace_bytes = dp::workspace_size();
  SqBytes r;
  if constexpr (std::is_void_v<Policy>)
    r.status = dp::dynamic_quantize<C>(args, nullptr); // the default policy argument
  else
    r.status = dp::dynamic_quantize<C, Policy>(args, nullptr);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  r.low = d_low.to_host();
  r.high = d_high.to_host();
  r.scale_low = d_sl.to_host();
  r.scale_high = d_sh.to_host();
  return r;
}

template <class C, class Policy, class T>
SqBytes check_against_reference(const std::vector<float>& xf, std::size_t m, std::size_t k) {
  const auto expected = ref::quantize_dynamic<C>(xf.data(), m, k);
  SqBytes got = run_dynamic<C, Policy>(convert<T>(xf), m, k);
  REQUIRE(got.status == Status::success);
  CHECK(first_difference(got.scale_low, expected.scale_low) == -1);
  CHECK(first_difference(got.scale_high, expected.scale_high) == -1);
  CHECK(first_difference(got.low, expected.low) == -1);
  CHECK(first_difference(got.high, expected.high) == -1);
  return got;
}

using bf16 = __nv_bfloat16;
/// Fewest lanes per bank (8 elements each) vs most lanes per bank, other block and tile sizes.
template <class C>
using OtherPolicy = dp::SqBankPolicy<64, (C::bank / 32 > 1 ? C::bank / 32 : 1), 256>;
using LanePolicy = dp::SqLanePolicy<>;
/// Staged (cp.async) persistent kernel, one warp a block: every thread walks several banks.
using StagedLanePolicy = dp::SqLanePolicy<32, 1, 2>;
/// Other register caps of the one-bank-a-thread kernel (80 and 64 registers: spills).
using RoomyLanePolicy = dp::SqLanePolicy<128, 6>;
using TightLanePolicy = dp::SqLanePolicy<128, 8>;
/// Warp-cooperative coalesced loads through shared memory (banks written by write_bank).
using CoalescedLanePolicy = dp::SqLanePolicy<128, 4, 1, true>;
/// Coalesced candidates at 24 warps an SM (80 registers): 256 x 3 (the default for more than 16
/// high elements a bank, and the previous default for all) and 128 x 6.
using Coalesced256x3LanePolicy = dp::SqLanePolicy<256, 3, 1, true>;
using Coalesced128x6LanePolicy = dp::SqLanePolicy<128, 6, 1, true>;
/// top_h_split + write_split_bank (HighFromStage) in three block shapes at about 80 registers;
/// 128 x 6 is dynamic_quantize's default for at most 8 high elements a bank, 256 x 3 for 9 to 16.
using Split256x3LanePolicy = dp::SqLanePolicy<256, 3, 1, true, true>;
using Split128x6LanePolicy = dp::SqLanePolicy<128, 6, 1, true, true>;
using Split128x5LanePolicy = dp::SqLanePolicy<128, 5, 1, true, true>;
static_assert(std::is_same_v<dp::SqLaneDynamicPolicy, Split128x6LanePolicy>,
              "the tests below must run dynamic_quantize's default policies");
static_assert(std::is_same_v<dp::SqLaneDynamicPolicyFor<sqformat::SqConfig<64, 16, 8, 4>>,
                             Split256x3LanePolicy>,
              "the tests below must run dynamic_quantize's default policies");
static_assert(std::is_same_v<dp::SqLaneDynamicPolicyFor<sqformat::SqConfig<64, 32, 8, 3>>,
                             Coalesced256x3LanePolicy>,
              "the tests below must run dynamic_quantize's default policies");
/// The same with 2 or 3 stages: a grid of resident warps, each walking several batches.
using Pipelined128x4LanePolicy = dp::SqLanePolicy<128, 4, 2, true, true>;
using Pipelined256x2LanePolicy = dp::SqLanePolicy<256, 2, 2, true, true>;
using Pipelined256x3LanePolicy = dp::SqLanePolicy<256, 3, 2, true, true>;
using ThreeStageLanePolicy = dp::SqLanePolicy<256, 2, 3, true, true>;

/// Adversarial inputs the shared generator does not make. `fp16` keeps magnitudes in its range.
enum class Extra { equal_banks, extremes, adjacent };
inline const char* name(Extra e) {
  return e == Extra::equal_banks ? "equal_banks" : e == Extra::extremes ? "extremes" : "adjacent";
}
inline std::vector<float> extra_data(Extra kind, std::size_t m, std::size_t k, int bank, bool fp16,
                                     std::mt19937_64& rng) {
  std::vector<float> x(m * k);
  const float sign[] = {1.0f, -1.0f};
  switch (kind) {
  case Extra::equal_banks: // every |x| of a bank equal (zeros of both signs in some): index wins
    for (std::size_t base = 0; base < m * k; base += bank) {
      const float v = rng() % 4 == 0 ? 0.0f : std::ldexp(1.0f + (rng() % 8) / 8.0f, -4);
      for (int i = 0; i < bank; ++i)
        x[base + i] = sign[rng() % 2] * v;
    }
    break;
  case Extra::extremes: { // scales near overflow, subnormal values and scales
    const float big = fp16 ? 65504.0f : 3.0e38f, tiny = fp16 ? 0x1p-24f : 0x1p-133f;
    const float normal_min = fp16 ? 0x1p-14f : 0x1p-126f;
    const float levels[] = {big, big / 2, 1.0f, normal_min, tiny, 2 * tiny, 0.0f, 3 * tiny};
    for (float& v : x)
      v = sign[rng() % 2] * levels[rng() % 8];
    break;
  }
  case Extra::adjacent: // magnitudes one unit in the last place apart: the key's |x| bits decide
    for (std::size_t base = 0; base < m * k; base += bank) {
      const float v = std::ldexp(1.0f, static_cast<int>(rng() % 8) - 4);
      for (int i = 0; i < bank; ++i)
        x[base + i] = sign[rng() % 2] * v * (1.0f + static_cast<float>(rng() % 4) * 0x1p-7f);
    }
    break;
  }
  return x;
}

/// The bank-group kernel and the lane kernel under thirteen policies and the default (no policy
/// argument) on the same input: each matches the reference and all agree byte for byte.
template <class C, class T>
void check_kernels_agree(const std::vector<float>& xf, std::size_t m, std::size_t k) {
  const SqBytes a = check_against_reference<C, dp::SqBankPolicy<>, T>(xf, m, k);
  const SqBytes b = check_against_reference<C, LanePolicy, T>(xf, m, k);
  CHECK(a.low == b.low);
  CHECK(a.high == b.high);
  CHECK(first_difference(a.scale_low, b.scale_low) == -1);
  CHECK(first_difference(a.scale_high, b.scale_high) == -1);
  for (const SqBytes& c : {check_against_reference<C, StagedLanePolicy, T>(xf, m, k),
                           check_against_reference<C, RoomyLanePolicy, T>(xf, m, k),
                           check_against_reference<C, TightLanePolicy, T>(xf, m, k),
                           check_against_reference<C, CoalescedLanePolicy, T>(xf, m, k),
                           check_against_reference<C, Pipelined128x4LanePolicy, T>(xf, m, k),
                           check_against_reference<C, Coalesced256x3LanePolicy, T>(xf, m, k),
                           check_against_reference<C, Coalesced128x6LanePolicy, T>(xf, m, k),
                           check_against_reference<C, Split256x3LanePolicy, T>(xf, m, k),
                           check_against_reference<C, Split128x6LanePolicy, T>(xf, m, k),
                           check_against_reference<C, Split128x5LanePolicy, T>(xf, m, k),
                           check_against_reference<C, Pipelined256x2LanePolicy, T>(xf, m, k),
                           check_against_reference<C, Pipelined256x3LanePolicy, T>(xf, m, k),
                           check_against_reference<C, ThreeStageLanePolicy, T>(xf, m, k),
                           check_against_reference<C, void, T>(xf, m, k)}) {
    CHECK(b.low == c.low);
    CHECK(b.high == c.high);
  }
}

} // namespace

TEMPLATE_LIST_TEST_CASE("dynamic quantization matches the reference bit for bit",
                        "[gpu][datapath][dynamic]", Configs) {
  using C = TestType;
  const std::uint64_t seed = fresh_seed();
  CAPTURE(seed, C::bank, C::high_per_bank, C::high_bits, C::low_bits, dp::sq_lane_kernel_fits<C>);
  std::mt19937_64 rng(seed);
  const std::size_t shapes[][2] = {{1, C::bank},      {7, C::bank}, {1, 4096},
                                   {5, C::bank * 37}, {33, 4096},   {2, 28672}};
  for (const auto& shape : shapes) {
    const std::size_t m = shape[0], k = shape[1];
    for (Data kind : all_data) {
      CAPTURE(m, k, name(kind));
      const auto mask = random_mask(m, k, C::bank, C::high_per_bank, rng);
      const auto xf = to_float(convert<bf16>(
          make_data(kind, m, k, C::bank, mask, C::high_qmax, C::low_qmax, false, rng)));
      check_against_reference<C, OtherPolicy<C>, bf16>(xf, m, k);
      check_kernels_agree<C, bf16>(xf, m, k);
      const auto hf = to_float(convert<__half>(
          make_data(kind, m, k, C::bank, mask, C::high_qmax, C::low_qmax, true, rng)));
      check_kernels_agree<C, __half>(hf, m, k);
    }
    for (Extra kind : {Extra::equal_banks, Extra::extremes, Extra::adjacent}) {
      CAPTURE(m, k, name(kind));
      check_kernels_agree<C, bf16>(
          to_float(convert<bf16>(extra_data(kind, m, k, C::bank, false, rng))), m, k);
      check_kernels_agree<C, __half>(
          to_float(convert<__half>(extra_data(kind, m, k, C::bank, true, rng))), m, k);
    }
  }
}

TEST_CASE("dynamic quantization with more than b/2 high elements a bank",
          "[gpu][datapath][dynamic]") {
  // The lane kernels' selection takes H <= b/2; a lane policy (and the default) then runs the
  // bank-group kernel, which selects the b - H smallest instead.
  using C = sqformat::SqConfig<16, 12, 8, 4>;
  const std::uint64_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  for (const auto& shape : {std::pair<std::size_t, std::size_t>{3, 16 * 33}, {2, 4096}}) {
    const std::size_t m = shape.first, k = shape.second;
    CAPTURE(m, k);
    const auto mask = random_mask(m, k, C::bank, C::high_per_bank, rng);
    const auto xf = to_float(convert<bf16>(
        make_data(Data::random, m, k, C::bank, mask, C::high_qmax, C::low_qmax, false, rng)));
    const SqBytes a = check_against_reference<C, dp::SqBankPolicy<>, bf16>(xf, m, k);
    const SqBytes b = check_against_reference<C, LanePolicy, bf16>(xf, m, k);
    const SqBytes c = check_against_reference<C, void, bf16>(xf, m, k);
    CHECK(a.low == b.low);
    CHECK(a.high == b.high);
    CHECK(a.low == c.low);
    CHECK(a.high == c.high);
  }
}

TEST_CASE("dynamic quantization of fp16 input matches the reference", "[gpu][datapath][dynamic]") {
  using C = sqformat::SqConfig<64, 8, 8, 4>;
  const std::uint64_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  for (Data kind : all_data) {
    CAPTURE(name(kind));
    const std::size_t m = 9, k = 8192;
    const auto mask = random_mask(m, k, C::bank, C::high_per_bank, rng);
    const auto xf =
        to_float(convert<__half>(make_data(kind, m, k, C::bank, mask, 127, 7, true, rng)));
    check_against_reference<C, dp::SqBankPolicy<>, __half>(xf, m, k);
    check_against_reference<C, LanePolicy, __half>(xf, m, k);
    // Many blocks of the lane kernel, the last one partial.
    const std::size_t big_m = 301;
    const auto big_mask = random_mask(big_m, 4096, C::bank, C::high_per_bank, rng);
    const auto big_x = to_float(
        convert<__half>(make_data(kind, big_m, 4096, C::bank, big_mask, 127, 7, true, rng)));
    check_against_reference<C, LanePolicy, __half>(big_x, big_m, 4096);
    check_against_reference<C, CoalescedLanePolicy, __half>(big_x, big_m, 4096);
    check_against_reference<C, Pipelined128x4LanePolicy, __half>(big_x, big_m, 4096);
    check_against_reference<C, Coalesced256x3LanePolicy, __half>(big_x, big_m, 4096);
    check_against_reference<C, Split256x3LanePolicy, __half>(big_x, big_m, 4096);
    check_against_reference<C, Split128x6LanePolicy, __half>(big_x, big_m, 4096);
    check_against_reference<C, Split128x5LanePolicy, __half>(big_x, big_m, 4096);
  }
}

TEST_CASE("dynamic quantization with pipelined warps matches the reference",
          "[gpu][datapath][dynamic]") {
  // More batches of 32 banks than an H100 holds warps (several batches a warp), the last
  // batch partial (37 banks a row).
  using C = sqformat::SqConfig<64, 8, 8, 4>;
  const std::uint64_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const std::size_t m = 3001, k = 64 * 37;
  for (Data kind : {Data::random, Data::ties}) {
    CAPTURE(name(kind));
    const auto mask = random_mask(m, k, C::bank, C::high_per_bank, rng);
    const auto xf = to_float(
        convert<bf16>(make_data(kind, m, k, C::bank, mask, C::high_qmax, C::low_qmax, false, rng)));
    check_against_reference<C, Pipelined128x4LanePolicy, bf16>(xf, m, k);
    check_against_reference<C, Pipelined256x2LanePolicy, bf16>(xf, m, k);
    check_against_reference<C, Pipelined256x3LanePolicy, bf16>(xf, m, k);
    check_against_reference<C, ThreeStageLanePolicy, bf16>(xf, m, k);
  }
}

TEMPLATE_TEST_CASE("dynamic quantization reports misuse and bad data", "[gpu][datapath][dynamic]",
                   dp::SqBankPolicy<>, LanePolicy, CoalescedLanePolicy, Coalesced256x3LanePolicy,
                   Pipelined128x4LanePolicy) {
  using Policy = TestType;
  using C = sqformat::SqConfig<16, 4, 8, 4>;
  const std::size_t m = 3, k = 64;
  DeviceBuffer<bf16> d_x(convert<bf16>(std::vector<float>(m * k, 0.25f)));
  DeviceBuffer<std::uint8_t> d_low(m * k), d_high(m * k);
  Workspace d_ws;
  DeviceBuffer<float> d_sl(m * k), d_sh(m * k);
  dp::DynamicQuantizeArgs<bf16> args;
  args.x = d_x.get();
  args.rows = m;
  args.cols = k;
  args.out = {d_low.get(), d_high.get(), d_sl.get(), d_sh.get()};
  args.workspace = d_ws.get();
  args.workspace_bytes = dp::workspace_size();
  REQUIRE(dp::dynamic_quantize<C, Policy>(args, nullptr) == Status::success);
  auto with = [&](auto change) {
    auto a = args;
    change(a);
    return dp::dynamic_quantize<C, Policy>(a, nullptr);
  };
  CHECK(with([](auto& a) { a.cols = 72; }) == Status::k_not_multiple_of_bank);
  CHECK(with([](auto& a) { a.rows = 0; }) == Status::invalid_shape);
  CHECK(with([](auto& a) { a.cols = -16; }) == Status::invalid_shape);
  CHECK(with([](auto& a) { a.x = a.x + 3; }) == Status::misaligned_pointer);
  CHECK(with([](auto& a) { a.out.scale_high = a.out.scale_high + 1; }) ==
        Status::misaligned_pointer);
  CHECK(with([](auto& a) { a.out.high = nullptr; }) == Status::invalid_argument);
  CHECK(with([](auto& a) { a.workspace = nullptr; }) == Status::insufficient_workspace);
  // The reason names the rule that failed; a success leaves it untouched.
  auto reason_with = [&](auto change, Status want) {
    auto a = args;
    change(a);
    const char* why = nullptr;
    CHECK(dp::dynamic_quantize<C, Policy>(a, nullptr, dp::InputCheck::synchronous, &why) == want);
    return why;
  };
  CHECK_REASON(reason_with([](auto& a) { a.cols = 72; }, Status::k_not_multiple_of_bank),
               "K (cols) must be a multiple of the bank size b");
  CHECK_REASON(reason_with([](auto& a) { a.rows = 0; }, Status::invalid_shape),
               "rows must be in [1, 2^31)");
  CHECK_REASON(reason_with([](auto& a) { a.cols = -16; }, Status::invalid_shape),
               "K (cols) must be in [1, 2^31)");
  CHECK_REASON(reason_with([](auto& a) { a.x = a.x + 3; }, Status::misaligned_pointer),
               "x must be 16-byte aligned");
  CHECK_REASON(reason_with([](auto& a) { a.out.scale_high = a.out.scale_high + 1; },
                           Status::misaligned_pointer),
               "out.scale_high must be 16-byte aligned");
  CHECK_REASON(reason_with([](auto& a) { a.out.high = nullptr; }, Status::invalid_argument),
               "out.high is null");
  CHECK_REASON(reason_with([](auto& a) { a.workspace = nullptr; }, Status::insufficient_workspace),
               "workspace is null");
  {
    const char* untouched = "untouched";
    CHECK(dp::dynamic_quantize<C, Policy>(args, nullptr, dp::InputCheck::synchronous, &untouched) ==
          Status::success);
    CHECK(std::string(untouched) == "untouched");
  }

  const std::uint64_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  for (int trial = 0; trial < 4; ++trial) {
    for (float bad :
         {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
          -std::numeric_limits<float>::infinity()}) {
      CAPTURE(trial, bad);
      std::vector<float> xf(m * k, 0.5f);
      xf[rng() % xf.size()] = bad;
      DeviceBuffer<bf16> d_bad(convert<bf16>(xf));
      auto a = args;
      a.x = d_bad.get();
      CHECK(dp::dynamic_quantize<C, Policy>(a, nullptr) == Status::non_finite_input);
      CHECK(dp::dynamic_quantize<C, Policy>(a, nullptr, dp::InputCheck::deferred) ==
            Status::success);
      const char* why = nullptr;
      CHECK(dp::read_status(a.workspace, nullptr, &why) == Status::non_finite_input);
      CHECK_REASON(why, "NaN or Inf");
      DeviceBuffer<__half> d_bad_h(convert<__half>(xf));
      dp::DynamicQuantizeArgs<__half> ah;
      ah.x = d_bad_h.get();
      ah.rows = m;
      ah.cols = k;
      ah.out = args.out;
      ah.workspace = args.workspace;
      ah.workspace_bytes = args.workspace_bytes;
      CHECK(dp::dynamic_quantize<C, Policy>(ah, nullptr) == Status::non_finite_input);
    }
  }
  CHECK(dp::read_status(args.workspace, nullptr) == Status::success);
}

// GPU tests of the weight path against the host reference, bit for bit: pack_weights vs
// sqformat::ref::pack_sq (float and bf16 weights), dequantize_sq vs sqformat::ref::dequantize
// (float and bf16 output), permute_columns vs sqformat::ref::permute_columns; over the
// data-path configs, both packer kernels (bank-group: two policies; lane: twelve policies, and the
// fallback for configs it does not take), odd and single-row N, one-bank and large K,
// adversarial data (ties, +-0, zero banks, outliers, .5 points, extreme magnitudes); the
// kernels must also agree byte for byte with each other; then misuse, bad masks and NaN/Inf.
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "sqformat/gpu/datapath/permute_columns.cuh"
#include "sqformat/gpu/datapath/sq_dequantize.cuh"
#include "sqformat/gpu/datapath/sq_lane_policy.hpp"
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
using LanePolicy = dp::SqLanePolicy<>;
/// Staged (cp.async) persistent kernel, one warp a block: every thread walks several banks.
using StagedLanePolicy = dp::SqLanePolicy<32, 1, 2>;
/// Other register caps of the one-bank-a-thread kernel (80 and 64 registers: spills).
using RoomyLanePolicy = dp::SqLanePolicy<128, 6>;
using TightLanePolicy = dp::SqLanePolicy<128, 8>;
/// Warp-cooperative coalesced loads through shared memory, banks written by write_bank.
using CoalescedLanePolicy = dp::SqLanePolicy<128, 4, 1, true>;
/// Banks written by write_split_bank (HighFromStage), pipelined: 2 stages, 128 registers.
using Pipelined128x4LanePolicy = dp::SqLanePolicy<128, 4, 2, true, true>;
/// write_split_bank, one stage (128 registers; 80 registers: 24 warps an SM; blocks of 64 x 10
/// at 102 registers, the bf16 default).
using SplitLanePolicy = dp::SqLanePolicy<128, 4, 1, true, true>;
using TightSplitLanePolicy = dp::SqLanePolicy<128, 6, 1, true, true>;
using Split64x10LanePolicy = dp::SqLanePolicy<64, 10, 1, true, true>;
using B64 = sqformat::SqConfig<64, 8, 8, 4>;
using B64H32 = sqformat::SqConfig<64, 32, 8, 3>;
static_assert(std::is_same_v<dp::SqLanePackPolicyFor<B64, float>, SplitLanePolicy> &&
                  std::is_same_v<dp::SqLanePackPolicyFor<B64, bf16>, Split64x10LanePolicy> &&
                  std::is_same_v<dp::SqLanePackPolicyFor<B64H32, bf16>, CoalescedLanePolicy> &&
                  std::is_same_v<dp::SqLanePackPolicyFor<B64H32, float>, CoalescedLanePolicy>,
              "the tests below must run pack_weights' defaults");
/// write_split_bank with 2 or 3 stages: a grid of resident warps, each walking several batches.
using Pipelined128x6LanePolicy = dp::SqLanePolicy<128, 6, 2, true, true>;
using Pipelined256x3LanePolicy = dp::SqLanePolicy<256, 3, 2, true, true>;
using ThreeStageLanePolicy = dp::SqLanePolicy<128, 6, 3, true, true>;
/// The dequantizer has no lane kernel: lane-packed tensors are dequantized by the default one.
template <class Policy>
using DequantizePolicy = std::conditional_t<dp::is_sq_lane_policy_v<Policy> ||
                                                std::is_same_v<Policy, dp::SqLanePackPolicy>,
                                            dp::SqBankPolicy<>, Policy>;

/// Per bank a mix of extreme magnitudes (largest finite, float or bf16 subnormals, the smallest
/// normal, 1) with random signs and zeros of both signs: scales near overflow and scales whose
/// reciprocal overflows (the exact fallback of the fast rounding).
inline std::vector<float> extreme_data(std::size_t rows, std::size_t cols, std::mt19937_64& rng) {
  const float levels[] = {3.0e38f, 1.0e30f, 1.0f, 0x1p-126f, 0x1p-133f, 1.0e-45f, 0.0f, 7.0f};
  std::vector<float> x(rows * cols);
  for (float& v : x)
    v = (rng() % 2 ? -1.0f : 1.0f) * levels[rng() % 8];
  return x;
}

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
            std::size_t k, DeviceSq<C>& out, void* workspace, const char** reason = nullptr) {
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
  return dp::pack_weights<C, Policy>(args, nullptr, dp::InputCheck::synchronous, reason);
}

/// Packed bytes and scales, as the host sees them.
struct PackedBytes {
  std::vector<std::uint8_t> low, high;
  std::vector<float> scale_low, scale_high;
};

template <class C, class Policy, class T>
PackedBytes check_pack_and_dequantize(std::size_t n, std::size_t k, std::vector<float> wf,
                                      const std::vector<std::uint8_t>& mask) {
  wf = to_float(convert<T>(wf));
  const auto expected = ref::pack_sq<C>(wf.data(), n, k, mask.data());
  DeviceSq<C> got(n, k);
  Workspace ws;
  REQUIRE((pack<C, Policy>(convert<T>(wf), mask, n, k, got, ws.get())) == Status::success);
  PackedBytes bytes{got.low.to_host(), got.high.to_host(), got.scale_low.to_host(),
                    got.scale_high.to_host()};
  CHECK(first_difference(bytes.scale_low, expected.scale_low) == -1);
  CHECK(first_difference(bytes.scale_high, expected.scale_high) == -1);
  CHECK(first_difference(bytes.low, expected.low) == -1);
  CHECK(first_difference(bytes.high, expected.high) == -1);

  // The inverse, from the packed tensor on the device, to float and to bf16.
  using DP = DequantizePolicy<Policy>;
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
  REQUIRE(dp::dequantize_sq<C, DP>(args_f, nullptr) == Status::success);
  CHECK(first_difference(out_f.to_host(), deq) == -1);
  if constexpr (std::is_same_v<Policy, dp::SqBankPolicy<>>) { // bf16 output: one policy is enough
    dp::SqDequantizeArgs<bf16> args_b;
    args_b.in = got.cref();
    args_b.rows = args_f.rows;
    args_b.cols = args_f.cols;
    args_b.out = out_b.get();
    args_b.workspace = ws.get();
    args_b.workspace_bytes = dp::workspace_size();
    REQUIRE(dp::dequantize_sq<C, DP>(args_b, nullptr) == Status::success);
    CHECK(first_difference(out_b.to_host(), convert<bf16>(deq)) == -1);
  }
  return bytes;
}

template <class C, class T>
std::vector<float> weights(Data kind, std::size_t n, std::size_t k,
                           const std::vector<std::uint8_t>& mask, std::mt19937_64& rng) {
  std::vector<float> wf =
      make_data(kind, n, k, C::bank, mask, C::high_qmax, C::low_qmax, false, rng);
  if constexpr (std::is_same_v<T, float>) {
    std::uniform_real_distribution<float> jitter(0.999f, 1.001f);
    if (kind == Data::random)
      for (float& v : wf)
        v *= jitter(rng); // full float32 mantissas
  }
  return wf;
}

template <class C, class Policy, class T>
void check_pack_and_dequantize(std::size_t n, std::size_t k, Data kind, std::mt19937_64& rng) {
  const auto mask = random_mask(n, k, C::bank, C::high_per_bank, rng);
  check_pack_and_dequantize<C, Policy, T>(n, k, weights<C, T>(kind, n, k, mask, rng), mask);
}

/// Both kernels (the lane kernel under ten policies) on the same data: each matches the
/// reference, and they agree byte for byte.
template <class C, class T>
void check_kernels_agree(std::size_t n, std::size_t k, const std::vector<float>& wf,
                         const std::vector<std::uint8_t>& mask) {
  const PackedBytes a = check_pack_and_dequantize<C, dp::SqBankPolicy<>, T>(n, k, wf, mask);
  const PackedBytes b = check_pack_and_dequantize<C, LanePolicy, T>(n, k, wf, mask);
  CHECK(a.low == b.low);
  CHECK(a.high == b.high);
  CHECK(first_difference(a.scale_low, b.scale_low) == -1);
  CHECK(first_difference(a.scale_high, b.scale_high) == -1);
  for (const PackedBytes& c :
       {check_pack_and_dequantize<C, StagedLanePolicy, T>(n, k, wf, mask),
        check_pack_and_dequantize<C, RoomyLanePolicy, T>(n, k, wf, mask),
        check_pack_and_dequantize<C, TightLanePolicy, T>(n, k, wf, mask),
        check_pack_and_dequantize<C, CoalescedLanePolicy, T>(n, k, wf, mask),
        check_pack_and_dequantize<C, Pipelined128x4LanePolicy, T>(n, k, wf, mask),
        check_pack_and_dequantize<C, SplitLanePolicy, T>(n, k, wf, mask),
        check_pack_and_dequantize<C, TightSplitLanePolicy, T>(n, k, wf, mask),
        check_pack_and_dequantize<C, Split64x10LanePolicy, T>(n, k, wf, mask),
        check_pack_and_dequantize<C, Pipelined128x6LanePolicy, T>(n, k, wf, mask),
        check_pack_and_dequantize<C, ThreeStageLanePolicy, T>(n, k, wf, mask)}) {
    CHECK(b.low == c.low);
    CHECK(b.high == c.high);
  }
}

} // namespace

TEMPLATE_LIST_TEST_CASE("weight packing and dequantization match the reference bit for bit",
                        "[gpu][datapath][weights]", Configs) {
  using C = TestType;
  const std::uint64_t seed = fresh_seed();
  CAPTURE(seed, C::bank, C::high_per_bank, C::high_bits, C::low_bits, dp::sq_lane_kernel_fits<C>);
  std::mt19937_64 rng(seed);
  const std::size_t shapes[][2] = {{1, C::bank},      {7, C::bank}, {1, 4096},
                                   {5, C::bank * 37}, {33, 4096},   {2, 28672}};
  for (const auto& shape : shapes) {
    const std::size_t n = shape[0], k = shape[1];
    for (Data kind : all_data) {
      CAPTURE(n, k, name(kind));
      check_pack_and_dequantize<C, OtherPolicy<C>, float>(n, k, kind, rng);
      const auto mask = random_mask(n, k, C::bank, C::high_per_bank, rng);
      check_kernels_agree<C, float>(n, k, weights<C, float>(kind, n, k, mask, rng), mask);
      check_kernels_agree<C, bf16>(n, k, weights<C, bf16>(kind, n, k, mask, rng), mask);
    }
    CAPTURE(n, k, "extremes");
    const auto mask = random_mask(n, k, C::bank, C::high_per_bank, rng);
    check_kernels_agree<C, float>(n, k, extreme_data(n, k, rng), mask);
    check_kernels_agree<C, bf16>(n, k, extreme_data(n, k, rng), mask);
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
    check_pack_and_dequantize<C, LanePolicy, bf16>(13, 8192, kind, rng);
    // Many blocks of the lane kernel, the last one partial.
    check_pack_and_dequantize<C, LanePolicy, bf16>(301, 4096, kind, rng);
    check_pack_and_dequantize<C, CoalescedLanePolicy, bf16>(301, 4096, kind, rng);
    check_pack_and_dequantize<C, Pipelined128x4LanePolicy, bf16>(301, 4096, kind, rng);
    check_pack_and_dequantize<C, TightSplitLanePolicy, bf16>(301, 4096, kind, rng);
    check_pack_and_dequantize<C, Split64x10LanePolicy, bf16>(301, 4096, kind, rng);
  }
}

TEST_CASE("weight packing with pipelined warps matches the reference", "[gpu][datapath][weights]") {
  // More batches of 32 banks than an H100 holds warps (several batches a warp), the last
  // batch partial (37 banks a row).
  using C = sqformat::SqConfig<64, 8, 8, 4>;
  const std::uint64_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const std::size_t n = 3001, k = 64 * 37;
  for (Data kind : {Data::random, Data::ties}) {
    CAPTURE(name(kind));
    check_pack_and_dequantize<C, Pipelined128x4LanePolicy, bf16>(n, k, kind, rng);
    check_pack_and_dequantize<C, Pipelined256x3LanePolicy, bf16>(n, k, kind, rng);
    check_pack_and_dequantize<C, ThreeStageLanePolicy, bf16>(n, k, kind, rng);
    check_pack_and_dequantize<C, Pipelined128x6LanePolicy, float>(n, k, kind, rng);
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
    const char* why = nullptr;
    CHECK(dp::permute_columns(args, nullptr, dp::InputCheck::synchronous, &why) ==
          Status::invalid_argument);
    CHECK_REASON(why, "perm is not a valid permutation");
    // Misuse: each rule's reason.
    auto a = args;
    a.rows = 0;
    CHECK(dp::permute_columns(a, nullptr, dp::InputCheck::synchronous, &why) ==
          Status::invalid_shape);
    CHECK_REASON(why, "rows must be in [1, 2^31)");
    a = args;
    a.cols = 0;
    CHECK(dp::permute_columns(a, nullptr, dp::InputCheck::synchronous, &why) ==
          Status::invalid_shape);
    CHECK_REASON(why, "cols must be >= 1");
    a = args;
    a.out = nullptr;
    CHECK(dp::permute_columns(a, nullptr, dp::InputCheck::synchronous, &why) ==
          Status::invalid_argument);
    CHECK_REASON(why, "out is null");
    a = args;
    a.in = a.in + 1;
    CHECK(dp::permute_columns(a, nullptr, dp::InputCheck::synchronous, &why) ==
          Status::misaligned_pointer);
    CHECK_REASON(why, "in must be 16-byte aligned");
  }
}

TEMPLATE_TEST_CASE("weight packing reports misuse, bad masks and bad data",
                   "[gpu][datapath][weights]", dp::SqBankPolicy<>, LanePolicy, CoalescedLanePolicy,
                   Pipelined128x4LanePolicy, dp::SqLanePackPolicy) {
  using Policy = TestType;
  using C = sqformat::SqConfig<16, 4, 8, 4>;
  const std::size_t n = 3, k = 64;
  const std::uint64_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const auto mask = random_mask(n, k, C::bank, C::high_per_bank, rng);
  const std::vector<float> w(n * k, 0.75f);
  DeviceSq<C> out(n, k);
  Workspace ws;
  REQUIRE((pack<C, Policy>(w, mask, n, k, out, ws.get())) == Status::success);
  CHECK((pack<C, Policy>(w, mask, n, 60, out, ws.get())) == Status::k_not_multiple_of_bank);
  CHECK((pack<C, Policy>(w, mask, 0, k, out, ws.get())) == Status::invalid_shape);
  CHECK((pack<C, Policy>(w, mask, n, k, out, nullptr)) == Status::insufficient_workspace);
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
    CHECK(dp::pack_weights<C, Policy>(args, nullptr) == Status::misaligned_pointer);
    const char* why = nullptr;
    CHECK(dp::pack_weights<C, Policy>(args, nullptr, dp::InputCheck::synchronous, &why) ==
          Status::misaligned_pointer);
    CHECK_REASON(why, "w must be 16-byte aligned");
    args.w = d_w.get();
    args.high_mask = nullptr;
    CHECK(dp::pack_weights<C, Policy>(args, nullptr) == Status::invalid_argument);
    CHECK(dp::pack_weights<C, Policy>(args, nullptr, dp::InputCheck::synchronous, &why) ==
          Status::invalid_argument);
    CHECK_REASON(why, "high_mask is null");
    args.high_mask = d_mask.get();
    args.cols = 60;
    CHECK(dp::pack_weights<C, Policy>(args, nullptr, dp::InputCheck::synchronous, &why) ==
          Status::k_not_multiple_of_bank);
    CHECK_REASON(why, "K (cols) must be a multiple of the bank size b");
    args.cols = k;
    args.rows = 0;
    CHECK(dp::pack_weights<C, Policy>(args, nullptr, dp::InputCheck::synchronous, &why) ==
          Status::invalid_shape);
    CHECK_REASON(why, "rows must be in [1, 2^31)");
    args.rows = n;
    args.workspace_bytes = 0;
    CHECK(dp::pack_weights<C, Policy>(args, nullptr, dp::InputCheck::synchronous, &why) ==
          Status::insufficient_workspace);
    CHECK_REASON(why, "workspace_bytes is smaller than workspace_size()");
    args.workspace_bytes = dp::workspace_size();
    const char* untouched = "untouched";
    CHECK(dp::pack_weights<C, Policy>(args, nullptr, dp::InputCheck::synchronous, &untouched) ==
          Status::success);
    CHECK(std::string(untouched) == "untouched");
    // A bank of the mask without exactly H high elements.
    auto bad_mask = mask;
    bad_mask[0] ^= 1;
    DeviceBuffer<std::uint8_t> d_bad_mask(bad_mask);
    args.high_mask = d_bad_mask.get();
    CHECK(dp::pack_weights<C, Policy>(args, nullptr, dp::InputCheck::synchronous, &why) ==
          Status::invalid_argument);
    CHECK_REASON(why, "exactly H high elements");
  }
  for (int trial = 0; trial < 8; ++trial) {
    CAPTURE(trial);
    auto bad_mask = mask;
    bad_mask[rng() % bad_mask.size()] ^= 1; // one bank with H - 1 or H + 1 high elements
    CHECK((pack<C, Policy>(w, bad_mask, n, k, out, ws.get())) == Status::invalid_argument);
    // Right count, but one high byte is 2, 3 or 0x80 (the reference rejects it).
    auto odd_mask = mask;
    std::size_t p = rng() % odd_mask.size();
    while (odd_mask[p] != 1)
      p = (p + 1) % odd_mask.size();
    const std::uint8_t odd[] = {2, 3, 0x80};
    odd_mask[p] = odd[trial % 3];
    const char* why = nullptr;
    CHECK((pack<C, Policy>(w, odd_mask, n, k, out, ws.get(), &why)) == Status::invalid_argument);
    CHECK_REASON(why, "a high-mask byte other than 0/1");
    for (float bad :
         {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
          -std::numeric_limits<float>::infinity()}) {
      auto wb = w;
      wb[rng() % wb.size()] = bad;
      CHECK((pack<C, Policy>(wb, mask, n, k, out, ws.get(), &why)) == Status::non_finite_input);
      CHECK_REASON(why, "NaN or Inf");
      CHECK((pack<C, Policy>(convert<bf16>(wb), mask, n, k, out, ws.get())) ==
            Status::non_finite_input);
    }
  }
  auto two_mask = mask;
  for (auto& v : two_mask)
    v = v ? 2 : 0;
  CHECK((pack<C, Policy>(w, two_mask, n, k, out, ws.get())) == Status::invalid_argument);
  // The flags are sticky until read: a deferred launch returns success, read_status the verdict.
  {
    auto wb = w;
    wb[rng() % wb.size()] = std::numeric_limits<float>::quiet_NaN();
    DeviceBuffer<float> d_w(wb);
    DeviceBuffer<std::uint8_t> d_mask(mask);
    dp::WeightPackArgs<float> args;
    args.w = d_w.get();
    args.high_mask = d_mask.get();
    args.rows = n;
    args.cols = k;
    args.out = out.ref();
    args.workspace = ws.get();
    args.workspace_bytes = dp::workspace_size();
    CHECK(dp::pack_weights<C, Policy>(args, nullptr, dp::InputCheck::deferred) == Status::success);
    CHECK(dp::read_status(ws.get(), nullptr) == Status::non_finite_input);
    CHECK(dp::read_status(ws.get(), nullptr) == Status::success);
  }
}

// dequantize_sq flags a bank that does not hold exactly H sentinels (one fewer: a sentinel turned
// into code 0; one more: a code turned into the sentinel), under both of its policies.
TEMPLATE_TEST_CASE("dequantization reports banks without exactly H sentinels",
                   "[gpu][datapath][weights]", dp::SqBankPolicy<>, (dp::SqBankPolicy<64, 2, 256>)) {
  using Policy = TestType;
  using C = sqformat::SqConfig<64, 8, 8, 4>;
  const std::size_t n = 3, k = 256;
  const std::uint64_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const auto mask = random_mask(n, k, C::bank, C::high_per_bank, rng);
  const auto expected = ref::pack_sq<C>(std::vector<float>(n * k, 0.75f).data(), n, k, mask.data());
  for (const bool fewer : {true, false}) {
    CAPTURE(fewer);
    auto low = expected.low;
    const std::size_t row = rng() % n, bank = rng() % (k / C::bank);
    for (std::size_t i = 0; i < C::bank; ++i) {
      const std::size_t e = bank * C::bank + i;
      if (expected.is_high(row, e) == fewer) {
        ref::put_code(low.data() + row * expected.low_row_bytes, e, fewer ? 0 : C::low_sentinel,
                      C::low_bits);
        break;
      }
    }
    int count = 0;
    for (std::size_t i = 0; i < C::bank; ++i)
      count += ref::get_code(low.data() + row * expected.low_row_bytes, bank * C::bank + i,
                             C::low_bits) == C::low_sentinel;
    REQUIRE(count == C::high_per_bank + (fewer ? -1 : 1)); // the edit took
    DeviceBuffer<std::uint8_t> d_low(low), d_high(expected.high);
    DeviceBuffer<float> d_sl(expected.scale_low), d_sh(expected.scale_high), out(n * k);
    Workspace ws;
    dp::SqDequantizeArgs<float> args;
    args.in = {d_low.get(), d_high.get(), d_sl.get(), d_sh.get()};
    args.rows = static_cast<std::int64_t>(n);
    args.cols = static_cast<std::int64_t>(k);
    args.out = out.get();
    args.workspace = ws.get();
    args.workspace_bytes = dp::workspace_size();
    const char* why = nullptr;
    CHECK(dp::dequantize_sq<C, Policy>(args, nullptr, dp::InputCheck::synchronous, &why) ==
          Status::invalid_argument);
    CHECK_REASON(why, "exactly H high elements");
    // Misuse: each rule's reason.
    auto a = args;
    a.cols = k + 8;
    CHECK(dp::dequantize_sq<C, Policy>(a, nullptr, dp::InputCheck::synchronous, &why) ==
          Status::k_not_multiple_of_bank);
    CHECK_REASON(why, "K (cols) must be a multiple of the bank size b");
    a = args;
    a.in.scale_high = nullptr;
    CHECK(dp::dequantize_sq<C, Policy>(a, nullptr, dp::InputCheck::synchronous, &why) ==
          Status::invalid_argument);
    CHECK_REASON(why, "in.scale_high is null");
    a = args;
    a.out = a.out + 1;
    CHECK(dp::dequantize_sq<C, Policy>(a, nullptr, dp::InputCheck::synchronous, &why) ==
          Status::misaligned_pointer);
    CHECK_REASON(why, "out must be 16-byte aligned");
    // The unmodified tensor passes on the same workspace (the flag was read and cleared).
    DeviceBuffer<std::uint8_t> good_low(expected.low);
    args.in.low = good_low.get();
    CHECK(dp::dequantize_sq<C, Policy>(args, nullptr) == Status::success);
  }
}

// GPU tests of the static quantize-and-split kernels against sqformat::ref::split_static:
// every byte of x_high / x_low and every scale bit for bit, over the data-path configs, the
// kernels (lane, column, bank, streaming, block-gather), a bank policy of two warps and one
// staged row (many tiles a warp), a streaming policy so small that most columns take its
// second-gather path, both scale granularities, odd and single-token M, more tokens than the
// grids have blocks, one-bank and large K, adversarial data (ties, zeros, outliers, exact
// half-points, subnormal scales); then the status it returns on misuse and on bad data (the
// lane, column, bank and streaming kernels reject every permutation the reference rejects,
// including one whose bank runs do not increase).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "sqformat/gpu/datapath/static_quantize_split.cuh"
#include "sqformat/reference/static_split.hpp"
#include "test_datapath_support.cuh"

namespace dp = sqformat::gpu::datapath;
namespace ref = sqformat::ref;
using namespace datapath_test;
using sqformat::Status;

namespace {

struct SplitResult {
  Status status;
  std::vector<std::uint8_t> x_high, x_low;
  std::vector<float> scale_high, scale_low;
};

template <class C, class Policy, class T>
SplitResult run_split(const std::vector<T>& x, std::size_t m, std::size_t k,
                      const std::vector<std::uint32_t>& perm, dp::ActivationScales scales) {
  const std::size_t scale_count = scales == dp::ActivationScales::per_token ? m : m * (k / C::bank);
  DeviceBuffer<T> d_x(x);
  DeviceBuffer<std::uint32_t> d_perm(perm);
  DeviceBuffer<std::uint8_t> d_high(m * dp::static_high_row_bytes<C>(k));
  DeviceBuffer<std::uint8_t> d_low(m * dp::static_low_row_bytes<C>(k));
  DeviceBuffer<float> d_sh(scale_count), d_sl(scale_count);
  Workspace d_ws;
  dp::StaticSplitArgs<T> args;
  args.x = d_x.get();
  args.rows = static_cast<std::int64_t>(m);
  args.cols = static_cast<std::int64_t>(k);
  args.perm = d_perm.get();
  args.x_high = d_high.get();
  args.x_low = d_low.get();
  args.scale_high = d_sh.get();
  args.scale_low = d_sl.get();
  args.scales = scales;
  args.workspace = d_ws.get();
  args.workspace_bytes = dp::workspace_size();
  SplitResult r;
  r.status = dp::static_quantize_split<C, Policy>(args, nullptr);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  r.x_high = d_high.to_host();
  r.x_low = d_low.to_host();
  r.scale_high = d_sh.to_host();
  r.scale_low = d_sl.to_host();
  return r;
}

template <class C> std::vector<std::uint8_t> channel_mask(std::size_t k, std::mt19937_64& rng) {
  return random_mask(1, k, C::bank, C::high_per_bank, rng);
}

template <class C, class Policy, class T>
void check_against_reference(std::size_t m, std::size_t k, Data kind, dp::ActivationScales scales,
                             std::mt19937_64& rng, int exponent_shift = 0) {
  const std::vector<std::uint8_t> cmask = channel_mask<C>(k, rng);
  const std::vector<std::uint32_t> perm = ref::permutation_from_channel_mask<C>(cmask.data(), k);
  std::vector<std::uint8_t> high(m * k);
  for (std::size_t r = 0; r < m; ++r)
    std::copy(cmask.begin(), cmask.end(), high.begin() + r * k);
  std::vector<float> data = make_data(kind, m, k, C::bank, high, C::high_qmax, C::low_qmax,
                                      std::is_same_v<T, __half>, rng);
  for (float& v : data) // a negative shift makes tiny (bf16 subnormal) inputs: subnormal scales
    v = std::ldexp(v, exponent_shift);
  const std::vector<float> xf = to_float(convert<T>(data));
  const auto expected = ref::split_static<C>(xf.data(), m, k, perm,
                                             scales == dp::ActivationScales::per_token
                                                 ? ref::ActScale::per_token
                                                 : ref::ActScale::per_token_bank);
  const SplitResult got = run_split<C, Policy>(convert<T>(xf), m, k, perm, scales);
  REQUIRE(got.status == Status::success);
  CHECK(first_difference(got.scale_high, expected.scale_high) == -1);
  CHECK(first_difference(got.scale_low, expected.scale_low) == -1);
  CHECK(first_difference(got.x_high, expected.x_high) == -1);
  CHECK(first_difference(got.x_low, expected.x_low) == -1);
}

using bf16 = __nv_bfloat16;
/// The default: the lane kernel from 16 tokens on where it serves (every config here but the
/// 3-bit one, K a multiple of a lane's span, per-token scales); else the column kernel (one-byte
/// channel table, a lane per output word; configs or K it cannot serve take the bank kernel's
/// channel-order pass), blocks of 128 threads for K <= 8192 and M >= 1024, of 512 otherwise.
using FastPolicy = dp::StaticSplitDefaultPolicy;
/// The column kernel with two warps, one staged row and one word at a time: many output words a
/// lane, the one-stage refill.
using SmallColumnKernelPolicy = dp::StaticSplitColumnPolicy<64, 1, 2, 1>;
/// The spelling of the previous default (the bank kernel's output order), which now runs the
/// column kernel with that policy's blocks.
using BankColumnPolicy = dp::StaticSplitBankPolicy<0, 2, 2, true>;
/// The bank kernel with its channel-order pass 2.
using ScatterPolicy = dp::StaticSplitBankPolicy<>;
/// The bank kernel's 128-thread blocks, which the default takes for many tokens.
using SmallBlockPolicy = dp::StaticSplitBankPolicy<128, 2, 8>;
/// The bank kernel with two warps and one staged row: several tiles a warp, the one-stage refill.
using SmallBankPolicy = dp::StaticSplitBankPolicy<64, 1>;
/// The column kernel through the bank policy's spelling, two warps and one staged row: many
/// output words a lane, the one-stage refill.
using SmallColumnPolicy = dp::StaticSplitBankPolicy<64, 1, 2, true>;
/// The streaming kernel (the default before the bank kernel).
using StreamPolicy = dp::StaticSplitStreamPolicy<>;
/// The block-gather kernel: 2 tokens a block, and only 128·4 columns held in registers, so large
/// K also runs the path that gathers from shared memory a second time.
using OtherPolicy = dp::StaticSplitPolicy<128, 2, 4>;
/// The streaming kernel with at most 64 threads of 4 columns and one staged row: any K > 256
/// runs its second-gather path.
using TailPolicy = dp::StaticSplitStreamPolicy<4, 64, 1>;
/// The streaming kernel with 32 columns a thread in registers (a benchmarked alternative).
using WidePolicy = dp::StaticSplitStreamPolicy<32, 1024, 2>;
// The lane kernel (a lane per whole-word span of banks), and one with a single staged row.
using LanePolicy = dp::StaticSplitLanePolicy<>;
using LaneOneStagePolicy = dp::StaticSplitLanePolicy<1, 1024>;

} // namespace

TEMPLATE_LIST_TEST_CASE("static quantize-and-split matches the reference bit for bit",
                        "[gpu][datapath][static]", Configs) {
  using C = TestType;
  const std::uint64_t seed = fresh_seed();
  CAPTURE(seed, C::bank, C::high_per_bank, C::high_bits, C::low_bits);
  // The lane kernel serves every config here but the 3-bit one (which then runs the column
  // kernel's fallback): its runs below are not the fallback in disguise.
  CHECK(dp::detail::lane_split_ok<C> == (C::low_bits != 3));
  std::mt19937_64 rng(seed);
  const std::size_t shapes[][2] = {{1, C::bank},      {7, C::bank}, {1, 4096},
                                   {5, C::bank * 37}, {33, 4096},   {2, 28672}};
  for (const auto& shape : shapes) {
    for (Data kind : all_data) {
      for (auto scales : {dp::ActivationScales::per_token, dp::ActivationScales::per_token_bank}) {
        CAPTURE(shape[0], shape[1], name(kind), static_cast<int>(scales));
        check_against_reference<C, FastPolicy, bf16>(shape[0], shape[1], kind, scales, rng);
        check_against_reference<C, LanePolicy, bf16>(shape[0], shape[1], kind, scales, rng);
        check_against_reference<C, LaneOneStagePolicy, bf16>(shape[0], shape[1], kind, scales, rng);
        check_against_reference<C, SmallColumnKernelPolicy, bf16>(shape[0], shape[1], kind, scales,
                                                                  rng);
        check_against_reference<C, BankColumnPolicy, bf16>(shape[0], shape[1], kind, scales, rng);
        check_against_reference<C, SmallBankPolicy, bf16>(shape[0], shape[1], kind, scales, rng);
        check_against_reference<C, SmallBlockPolicy, bf16>(shape[0], shape[1], kind, scales, rng);
        check_against_reference<C, ScatterPolicy, bf16>(shape[0], shape[1], kind, scales, rng);
        check_against_reference<C, SmallColumnPolicy, bf16>(shape[0], shape[1], kind, scales, rng);
        check_against_reference<C, StreamPolicy, bf16>(shape[0], shape[1], kind, scales, rng);
        check_against_reference<C, OtherPolicy, bf16>(shape[0], shape[1], kind, scales, rng);
        check_against_reference<C, TailPolicy, bf16>(shape[0], shape[1], kind, scales, rng);
      }
    }
  }
}

TEST_CASE("static quantize-and-split: fp16 input, many tokens, subnormal scales, and many "
          "policies give identical bytes",
          "[gpu][datapath][static]") {
  using C = sqformat::SqConfig<64, 8, 8, 4>;
  const std::uint64_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  for (Data kind : all_data) {
    CAPTURE(name(kind));
    check_against_reference<C, FastPolicy, __half>(9, 8192, kind, dp::ActivationScales::per_token,
                                                   rng);
    check_against_reference<C, LanePolicy, __half>(9, 8192, kind, dp::ActivationScales::per_token,
                                                   rng);
    check_against_reference<C, SmallColumnKernelPolicy, __half>(
        3, 4096, kind, dp::ActivationScales::per_token, rng);
    check_against_reference<C, SmallBankPolicy, __half>(3, 4096, kind,
                                                        dp::ActivationScales::per_token, rng);
    check_against_reference<C, ScatterPolicy, __half>(9, 8192, kind,
                                                      dp::ActivationScales::per_token, rng);
  }
  for (auto scales : {dp::ActivationScales::per_token, dp::ActivationScales::per_token_bank}) {
    CAPTURE(static_cast<int>(scales));
    // More tokens than the streaming grid has blocks (about 8 blocks a SM at this K): blocks
    // loop over rows and prefetch.
    check_against_reference<C, FastPolicy, bf16>(1500, 4096, Data::random, scales, rng);
    check_against_reference<C, StreamPolicy, bf16>(1500, 4096, Data::random, scales, rng);
    check_against_reference<C, LanePolicy, bf16>(1500, 4096, Data::random, scales, rng);
    // Tiny inputs: amax / qmax is a subnormal float (the exact-division path of the kernels).
    check_against_reference<C, ScatterPolicy, bf16>(1500, 4096, Data::random, scales, rng);
    for (Data kind : {Data::random, Data::half_points}) {
      check_against_reference<C, FastPolicy, bf16>(5, 4096, kind, scales, rng, -130);
      check_against_reference<C, LanePolicy, bf16>(5, 4096, kind, scales, rng, -130);
      check_against_reference<C, BankColumnPolicy, bf16>(5, 4096, kind, scales, rng, -130);
      check_against_reference<C, ScatterPolicy, bf16>(5, 4096, kind, scales, rng, -130);
      check_against_reference<C, StreamPolicy, bf16>(5, 4096, kind, scales, rng, -130);
    }
  }
  // Enough tokens that every persistent policy's blocks take several rows each (warps of a bank
  // block drift into the next row; the stages rotate).
  const std::size_t m = 3000, k = 8192;
  const auto cmask = channel_mask<C>(k, rng);
  const auto perm = ref::permutation_from_channel_mask<C>(cmask.data(), k);
  const auto x = convert<bf16>(
      make_data(Data::random, m, k, C::bank, std::vector<std::uint8_t>(m * k), 127, 7, false, rng));
  const auto a = run_split<C, FastPolicy>(x, m, k, perm, dp::ActivationScales::per_token);
  const auto xf = to_float(x);
  const auto expected = ref::split_static<C>(xf.data(), m, k, perm, ref::ActScale::per_token);
  CHECK(first_difference(a.x_high, expected.x_high) == -1);
  CHECK(first_difference(a.x_low, expected.x_low) == -1);
  CHECK(first_difference(a.scale_high, expected.scale_high) == -1);
  CHECK(first_difference(a.scale_low, expected.scale_low) == -1);
  const auto b = run_split<C, OtherPolicy>(x, m, k, perm, dp::ActivationScales::per_token);
  const auto c = run_split<C, TailPolicy>(x, m, k, perm, dp::ActivationScales::per_token);
  const auto d = run_split<C, WidePolicy>(x, m, k, perm, dp::ActivationScales::per_token);
  const auto e = run_split<C, StreamPolicy>(x, m, k, perm, dp::ActivationScales::per_token);
  const auto f = run_split<C, SmallBankPolicy>(x, m, k, perm, dp::ActivationScales::per_token);
  // The bank policies the benchmark compares (block size, stages, blocks a SM).
  const auto t = run_split<C, dp::StaticSplitBankPolicy<512, 2, 2>>(
      x, m, k, perm, dp::ActivationScales::per_token);
  const auto g = run_split<C, dp::StaticSplitBankPolicy<256, 2, 4>>(
      x, m, k, perm, dp::ActivationScales::per_token);
  const auto h = run_split<C, dp::StaticSplitBankPolicy<256, 3, 4>>(
      x, m, k, perm, dp::ActivationScales::per_token);
  const auto u = run_split<C, dp::StaticSplitBankPolicy<128, 2, 8>>(
      x, m, k, perm, dp::ActivationScales::per_token);
  const auto w = run_split<C, dp::StaticSplitBankPolicy<128, 3, 8>>(
      x, m, k, perm, dp::ActivationScales::per_token);
  const auto col = run_split<C, ScatterPolicy>(x, m, k, perm, dp::ActivationScales::per_token);
  const auto col_small =
      run_split<C, SmallColumnPolicy>(x, m, k, perm, dp::ActivationScales::per_token);
  const auto col_256 = run_split<C, dp::StaticSplitBankPolicy<256, 2, 4, true>>(
      x, m, k, perm, dp::ActivationScales::per_token);
  // The column kernel's policies the benchmark compares (two words in flight; 1024 threads), and
  // the policy spellings that map to it (some of the bank policies with ColumnGather above give
  // the same kernel and blocks as these; kept, since both spellings are public).
  const auto k128 = run_split<C, dp::StaticSplitColumnPolicy<128, 3, 8, 2>>(
      x, m, k, perm, dp::ActivationScales::per_token);
  const auto k256 = run_split<C, dp::StaticSplitColumnPolicy<256, 2, 4, 1>>(
      x, m, k, perm, dp::ActivationScales::per_token);
  const auto k1024 = run_split<C, dp::StaticSplitColumnPolicy<1024, 3, 1, 1>>(
      x, m, k, perm, dp::ActivationScales::per_token);
  const auto k64 =
      run_split<C, SmallColumnKernelPolicy>(x, m, k, perm, dp::ActivationScales::per_token);
  const auto bank_col =
      run_split<C, BankColumnPolicy>(x, m, k, perm, dp::ActivationScales::per_token);
  const auto lane2 = run_split<C, LanePolicy>(x, m, k, perm, dp::ActivationScales::per_token);
  const auto lane1 =
      run_split<C, LaneOneStagePolicy>(x, m, k, perm, dp::ActivationScales::per_token);
  const auto lane3 = run_split<C, dp::StaticSplitLanePolicy<8, 512>>(
      x, m, k, perm, dp::ActivationScales::per_token);
  const auto lane_capped = run_split<C, dp::StaticSplitLanePolicy<2, 512, 80>>(
      x, m, k, perm, dp::ActivationScales::per_token);
  // 128 spans a row, more than this policy's 64 lanes: the column kernel runs instead.
  const auto lane_declined = run_split<C, dp::StaticSplitLanePolicy<2, 64>>(
      x, m, k, perm, dp::ActivationScales::per_token);
  REQUIRE(d.status == Status::success);
  for (const SplitResult* other : {&e,     &f,     &g,     &h,           &t,
                                   &u,     &w,     &col,   &col_small,   &col_256,
                                   &k128,  &k256,  &k1024, &k64,         &bank_col,
                                   &lane1, &lane2, &lane3, &lane_capped, &lane_declined}) {
    REQUIRE(other->status == Status::success);
    CHECK(a.x_high == other->x_high);
    CHECK(a.x_low == other->x_low);
    CHECK(first_difference(a.scale_high, other->scale_high) == -1);
    CHECK(first_difference(a.scale_low, other->scale_low) == -1);
  }
  CHECK(a.x_high == d.x_high);
  CHECK(a.x_low == d.x_low);
  CHECK(first_difference(a.scale_high, d.scale_high) == -1);
  CHECK(first_difference(a.scale_low, d.scale_low) == -1);
  REQUIRE(a.status == Status::success);
  REQUIRE(b.status == Status::success);
  REQUIRE(c.status == Status::success);
  CHECK(a.x_high == b.x_high);
  CHECK(a.x_low == b.x_low);
  CHECK(first_difference(a.scale_high, b.scale_high) == -1);
  CHECK(first_difference(a.scale_low, b.scale_low) == -1);
  CHECK(a.x_high == c.x_high);
  CHECK(a.x_low == c.x_low);
  CHECK(first_difference(a.scale_high, c.scale_high) == -1);
  CHECK(first_difference(a.scale_low, c.scale_low) == -1);
}

TEST_CASE("static quantize-and-split reports misuse and bad data", "[gpu][datapath][static]") {
  using C = sqformat::SqConfig<16, 4, 8, 4>;
  const std::size_t m = 3, k = 64;
  std::mt19937_64 rng(fresh_seed());
  const auto cmask = channel_mask<C>(k, rng);
  const auto perm = ref::permutation_from_channel_mask<C>(cmask.data(), k);
  std::vector<bf16> x = convert<bf16>(std::vector<float>(m * k, 1.0f));
  DeviceBuffer<bf16> d_x(x);
  DeviceBuffer<std::uint32_t> d_perm(perm);
  DeviceBuffer<std::uint8_t> d_high(m * k), d_low(m * k);
  Workspace d_ws;
  DeviceBuffer<float> d_sh(m * k), d_sl(m * k);
  dp::StaticSplitArgs<bf16> args;
  args.x = d_x.get();
  args.rows = m;
  args.cols = k;
  args.perm = d_perm.get();
  args.x_high = d_high.get();
  args.x_low = d_low.get();
  args.scale_high = d_sh.get();
  args.scale_low = d_sl.get();
  args.workspace = d_ws.get();
  args.workspace_bytes = dp::workspace_size();
  REQUIRE(dp::static_quantize_split<C>(args, nullptr) == Status::success);

  auto with = [&](auto change) {
    auto a = args;
    change(a);
    return dp::static_quantize_split<C>(a, nullptr);
  };
  CHECK(with([](auto& a) { a.cols = 60; }) == Status::k_not_multiple_of_bank);
  CHECK(with([](auto& a) { a.rows = 0; }) == Status::invalid_shape);
  CHECK(with([](auto& a) { a.rows = -4; }) == Status::invalid_shape);
  CHECK(with([](auto& a) { a.x = a.x + 1; }) == Status::misaligned_pointer);
  CHECK(with([](auto& a) { a.x_low = a.x_low + 2; }) == Status::misaligned_pointer);
  CHECK(with([](auto& a) { a.perm = nullptr; }) == Status::invalid_argument);
  CHECK(with([](auto& a) { a.workspace = nullptr; }) == Status::insufficient_workspace);
  CHECK(with([](auto& a) { a.workspace_bytes = 4; }) == Status::insufficient_workspace);
  CHECK(with([](auto& a) { a.cols = std::int64_t{1} << 40; }) == Status::invalid_shape);
  // K so large that two rows of X cannot sit in shared memory.
  CHECK(with([](auto& a) { a.cols = 16 << 20; }) == Status::invalid_shape);

  // The reason names the rule that failed; a success leaves it untouched.
  auto reason_with = [&](auto change, Status want) {
    auto a = args;
    change(a);
    const char* why = nullptr;
    CHECK(dp::static_quantize_split<C>(a, nullptr, dp::InputCheck::synchronous, &why) == want);
    return why;
  };
  CHECK_REASON(reason_with([](auto& a) { a.cols = 60; }, Status::k_not_multiple_of_bank),
               "K (cols) must be a multiple of the bank size b");
  CHECK_REASON(reason_with([](auto& a) { a.rows = 0; }, Status::invalid_shape),
               "M (rows) must be >= 1");
  CHECK_REASON(reason_with([](auto& a) { a.rows = -4; }, Status::invalid_shape),
               "M (rows) must be >= 1");
  CHECK_REASON(reason_with([](auto& a) { a.cols = 0; }, Status::invalid_shape),
               "K (cols) must be in [1, 2^31)");
  CHECK_REASON(reason_with([](auto& a) { a.cols = std::int64_t{1} << 40; }, Status::invalid_shape),
               "K (cols) must be in [1, 2^31)");
  CHECK_REASON(reason_with([](auto& a) { a.cols = 16 << 20; }, Status::invalid_shape),
               "K (cols) too large");
  CHECK_REASON(reason_with([](auto& a) { a.x = a.x + 1; }, Status::misaligned_pointer),
               "x must be 16-byte aligned");
  CHECK_REASON(reason_with([](auto& a) { a.x_low = a.x_low + 2; }, Status::misaligned_pointer),
               "x_low must be 16-byte aligned");
  CHECK_REASON(reason_with([](auto& a) { a.perm = nullptr; }, Status::invalid_argument),
               "perm is null");
  CHECK_REASON(reason_with([](auto& a) { a.scale_low = nullptr; }, Status::invalid_argument),
               "scale_low is null");
  CHECK_REASON(reason_with([](auto& a) { a.workspace = nullptr; }, Status::insufficient_workspace),
               "workspace is null");
  CHECK_REASON(reason_with([](auto& a) { a.workspace_bytes = 4; }, Status::insufficient_workspace),
               "workspace_bytes is smaller than workspace_size()");
  CHECK_REASON(reason_with(
                   [](auto& a) {
                     a.workspace = static_cast<char*>(a.workspace) + 4;
                     a.workspace_bytes = dp::workspace_size();
                   },
                   Status::misaligned_pointer),
               "workspace must be 16-byte aligned");
  {
    const char* untouched = "untouched";
    CHECK(dp::static_quantize_split<C>(args, nullptr, dp::InputCheck::synchronous, &untouched) ==
          Status::success);
    CHECK(std::string(untouched) == "untouched");
  }

  // Non-finite input: reported synchronously, or deferred to read_status.
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    for (auto scales : {dp::ActivationScales::per_token, dp::ActivationScales::per_token_bank}) {
      std::vector<bf16> xb = x;
      xb[rng() % xb.size()] = __float2bfloat16_rn(bad);
      DeviceBuffer<bf16> d_bad(xb);
      auto a = args;
      a.x = d_bad.get();
      a.scales = scales;
      CHECK(dp::static_quantize_split<C>(a, nullptr) == Status::non_finite_input);
      CHECK(dp::static_quantize_split<C, LanePolicy>(a, nullptr) == Status::non_finite_input);
      CHECK(dp::static_quantize_split<C>(a, nullptr, dp::InputCheck::deferred) == Status::success);
      const char* why = nullptr;
      CHECK(dp::read_status(a.workspace, nullptr, &why) == Status::non_finite_input);
      CHECK_REASON(why, "NaN or Inf");
      why = nullptr;
      CHECK(dp::static_quantize_split<C>(a, nullptr, dp::InputCheck::synchronous, &why) ==
            Status::non_finite_input);
      CHECK_REASON(why, "NaN or Inf");
    }
  }
  // read_status cleared the word: a good launch reports success again.
  REQUIRE(dp::static_quantize_split<C>(args, nullptr) == Status::success);
  CHECK(dp::read_status(args.workspace, nullptr) == Status::success);

  // Permutations the reference rejects: an entry out of range, a channel of another bank, a
  // repeated channel (within its bank), a bank's run in decreasing order, a channel both high and
  // low (its bank's runs still increasing), two banks' high channels exchanged (runs increasing).
  // The lane, column, bank, streaming and block-gather kernels report them all, under both scale
  // granularities.
  const std::size_t kh = k / C::bank * C::high_per_bank;
  std::vector<std::vector<std::uint32_t>> bad_perms(7, perm);
  bad_perms[0][k / 2] = static_cast<std::uint32_t>(k + 5);
  std::swap(bad_perms[1][0], bad_perms[1][kh + C::low_per_bank]); // bank 0 high <-> bank 1 low
  bad_perms[2][1] = bad_perms[2][0];
  // The bank structure, but a run in decreasing order (docs/layouts.md fixes increasing order).
  std::swap(bad_perms[3][0], bad_perms[3][C::high_per_bank - 1]); // bank 0's high run
  std::swap(bad_perms[4][kh + C::low_per_bank],
            bad_perms[4][kh + C::low_per_bank + 1]); // bank 1 low
  { // Bank 0's low run, still increasing and in its bank, takes one of the bank's high channels
    // (which is then both high and low, and another channel is missing).
    const std::uint32_t h = perm[0];
    std::size_t j = kh;
    while (j + 1 < kh + C::low_per_bank && perm[j] < h)
      ++j;
    bad_perms[5][j] = h;
  }
  // Bank 0's last high channel <-> bank 1's first: still a permutation with increasing runs,
  // only the in-bank check catches it.
  std::swap(bad_perms[6][C::high_per_bank - 1], bad_perms[6][C::high_per_bank]);
  for (const auto& bad : bad_perms)
    REQUIRE_THROWS(ref::check_static_permutation<C>(bad, k));
  for (std::size_t i = 0; i < bad_perms.size(); ++i) {
    for (auto scales : {dp::ActivationScales::per_token, dp::ActivationScales::per_token_bank}) {
      CAPTURE(i, static_cast<int>(scales));
      DeviceBuffer<std::uint32_t> d_bad_perm(bad_perms[i]);
      auto a = args;
      a.perm = d_bad_perm.get();
      a.scales = scales;
      CHECK(dp::static_quantize_split<C>(a, nullptr) == Status::invalid_argument);
      CHECK(dp::static_quantize_split<C, LanePolicy>(a, nullptr) == Status::invalid_argument);
      CHECK(dp::static_quantize_split<C, SmallBankPolicy>(a, nullptr) == Status::invalid_argument);
      CHECK(dp::static_quantize_split<C, ScatterPolicy>(a, nullptr) == Status::invalid_argument);
      CHECK(dp::static_quantize_split<C, SmallColumnPolicy>(a, nullptr) ==
            Status::invalid_argument);
      CHECK(dp::static_quantize_split<C, SmallColumnKernelPolicy>(a, nullptr) ==
            Status::invalid_argument);
      CHECK(dp::static_quantize_split<C, BankColumnPolicy>(a, nullptr) == Status::invalid_argument);
      CHECK(dp::static_quantize_split<C, StreamPolicy>(a, nullptr) == Status::invalid_argument);
      CHECK(dp::static_quantize_split<C, TailPolicy>(a, nullptr) == Status::invalid_argument);
      CHECK(dp::static_quantize_split<C, OtherPolicy>(a, nullptr) == Status::invalid_argument);
      const char* why = nullptr;
      CHECK(dp::static_quantize_split<C, StreamPolicy>(a, nullptr, dp::InputCheck::synchronous,
                                                       &why) == Status::invalid_argument);
      CHECK_REASON(why, "perm is not a valid permutation");
    }
  }
  REQUIRE(dp::static_quantize_split<C>(args, nullptr) == Status::success);
}

TEST_CASE("static quantize-and-split: K >= 65536 (the block-gather kernel) matches the reference "
          "and checks the permutation",
          "[gpu][datapath][static]") {
  // The streaming policy hands K >= 65536 to the block-gather kernel (16-bit channel indices);
  // its permutation bitmap then has 4096 words.
  using C = sqformat::SqConfig<64, 8, 8, 4>;
  const std::size_t m = 2, k = 65536 + 4 * C::bank;
  const std::uint64_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  for (auto scales : {dp::ActivationScales::per_token, dp::ActivationScales::per_token_bank}) {
    CAPTURE(static_cast<int>(scales));
    check_against_reference<C, StreamPolicy, bf16>(m, k, Data::random, scales, rng);
  }
  const auto cmask = channel_mask<C>(k, rng);
  const auto perm = ref::permutation_from_channel_mask<C>(cmask.data(), k);
  const std::vector<bf16> x = convert<bf16>(std::vector<float>(m * k, 1.0f));
  REQUIRE(run_split<C, StreamPolicy>(x, m, k, perm, dp::ActivationScales::per_token).status ==
          Status::success);
  const std::size_t kh = k / C::bank * C::high_per_bank, last_bank = k / C::bank - 1;
  std::vector<std::vector<std::uint32_t>> bad_perms(3, perm);
  // The last high channel of the bank before the last and the last bank's first exchanged (runs
  // still increasing): only the in-bank check sees it.
  std::swap(bad_perms[0][last_bank * C::high_per_bank - 1],
            bad_perms[0][last_bank * C::high_per_bank]);
  { // The last bank's low run takes one of its high channels (runs still increasing): a repeat
    // only the bitmap sees.
    const std::size_t first_low = kh + last_bank * C::low_per_bank;
    const std::uint32_t h = perm[last_bank * C::high_per_bank];
    std::size_t j = first_low;
    while (j + 1 < first_low + C::low_per_bank && perm[j] < h)
      ++j;
    bad_perms[1][j] = h;
  }
  bad_perms[2][k - 1] = static_cast<std::uint32_t>(k); // out of range
  for (std::size_t i = 0; i < bad_perms.size(); ++i) {
    CAPTURE(i);
    REQUIRE_THROWS(ref::check_static_permutation<C>(bad_perms[i], k));
    CHECK(
        run_split<C, StreamPolicy>(x, m, k, bad_perms[i], dp::ActivationScales::per_token).status ==
        Status::invalid_argument);
  }
}

// Misuse of the data-path entry points is found on the host before any CUDA call, so these cases
// need no device (a host test: it runs in CI, where the GPU tests skip). Each case breaks one rule
// and checks the status and the reason string that names the rule. The pointers are addresses
// that are never dereferenced: every rule broken here is checked before the first CUDA call.
#include <cstdint>
#include <string>

#include "sqformat/gpu/datapath/dynamic_quantize.cuh"
#include "sqformat/gpu/datapath/permute_columns.cuh"
#include "sqformat/gpu/datapath/sq_dequantize.cuh"
#include "sqformat/gpu/datapath/static_quantize_split.cuh"
#include "sqformat/gpu/datapath/weight_pack.cuh"
#include "test_datapath_support.cuh"

namespace dp = sqformat::gpu::datapath;
using sqformat::Status;
using C = sqformat::SqConfig<64, 8, 8, 4>;
using bf16 = __nv_bfloat16;

namespace {

/// A 16-byte aligned address (slot i of a fake arena) that no case dereferences.
template <class T> T* fake(std::uintptr_t slot) {
  return reinterpret_cast<T*>((std::uintptr_t{1} << 24) + (slot << 8));
}
/// The same address moved off its 16-byte alignment.
template <class T> T* misaligned(T* p) {
  return reinterpret_cast<T*>(reinterpret_cast<std::uintptr_t>(p) + 4);
}

/// Runs `call(reason)` and checks the status and that the reason contains `text`.
template <class Call> void check_rule(Call call, Status want, const char* text) {
  const char* why = nullptr;
  CHECK(call(&why) == want);
  CHECK_REASON(why, text);
}

dp::StaticSplitArgs<bf16> static_args() {
  dp::StaticSplitArgs<bf16> a;
  a.x = fake<bf16>(1);
  a.rows = 3;
  a.cols = 256;
  a.perm = fake<std::uint32_t>(2);
  a.x_high = fake<std::uint8_t>(3);
  a.x_low = fake<std::uint8_t>(4);
  a.scale_high = fake<float>(5);
  a.scale_low = fake<float>(6);
  a.workspace = fake<void>(7);
  a.workspace_bytes = dp::workspace_size();
  return a;
}

dp::SqTensorRef fake_tensor() {
  return {fake<std::uint8_t>(10), fake<std::uint8_t>(11), fake<float>(12), fake<float>(13)};
}

} // namespace

TEST_CASE("data path: misuse is reported on the host with the rule that failed",
          "[datapath][misuse]") {
  SECTION("static_quantize_split") {
    auto with = [](auto change) {
      return [change](const char** why) {
        auto a = static_args();
        change(a);
        return dp::static_quantize_split<C>(a, nullptr, dp::InputCheck::synchronous, why);
      };
    };
    check_rule(with([](auto& a) { a.rows = 0; }), Status::invalid_shape, "M (rows) must be >= 1");
    check_rule(with([](auto& a) { a.rows = -7; }), Status::invalid_shape, "M (rows) must be >= 1");
    check_rule(with([](auto& a) { a.cols = 0; }), Status::invalid_shape,
               "K (cols) must be in [1, 2^31)");
    check_rule(with([](auto& a) { a.cols = std::int64_t{1} << 31; }), Status::invalid_shape,
               "K (cols) must be in [1, 2^31)");
    check_rule(with([](auto& a) { a.cols = 96; }), Status::k_not_multiple_of_bank,
               "K (cols) must be a multiple of the bank size b");
    check_rule(with([](auto& a) { a.x = nullptr; }), Status::invalid_argument, "x is null");
    check_rule(with([](auto& a) { a.perm = nullptr; }), Status::invalid_argument, "perm is null");
    check_rule(with([](auto& a) { a.x_high = nullptr; }), Status::invalid_argument,
               "x_high is null");
    check_rule(with([](auto& a) { a.x_low = nullptr; }), Status::invalid_argument, "x_low is null");
    check_rule(with([](auto& a) { a.scale_high = nullptr; }), Status::invalid_argument,
               "scale_high is null");
    check_rule(with([](auto& a) { a.scale_low = nullptr; }), Status::invalid_argument,
               "scale_low is null");
    // A null pointer is reported before a misaligned one, whatever their order.
    check_rule(with([](auto& a) {
                 a.x = misaligned(a.x);
                 a.scale_low = nullptr;
               }),
               Status::invalid_argument, "scale_low is null");
    check_rule(with([](auto& a) { a.x = misaligned(a.x); }), Status::misaligned_pointer,
               "x must be 16-byte aligned");
    check_rule(with([](auto& a) { a.perm = misaligned(a.perm); }), Status::misaligned_pointer,
               "perm must be 16-byte aligned");
    check_rule(with([](auto& a) { a.x_high = misaligned(a.x_high); }), Status::misaligned_pointer,
               "x_high must be 16-byte aligned");
    check_rule(with([](auto& a) { a.x_low = misaligned(a.x_low); }), Status::misaligned_pointer,
               "x_low must be 16-byte aligned");
    check_rule(with([](auto& a) { a.scale_high = misaligned(a.scale_high); }),
               Status::misaligned_pointer, "scale_high must be 16-byte aligned");
    check_rule(with([](auto& a) { a.scale_low = misaligned(a.scale_low); }),
               Status::misaligned_pointer, "scale_low must be 16-byte aligned");
    check_rule(with([](auto& a) { a.workspace = nullptr; }), Status::insufficient_workspace,
               "workspace is null");
    check_rule(with([](auto& a) { a.workspace_bytes = dp::workspace_size() - 1; }),
               Status::insufficient_workspace, "workspace_bytes is smaller than workspace_size()");
    check_rule(with([](auto& a) { a.workspace = misaligned(a.workspace); }),
               Status::misaligned_pointer, "workspace must be 16-byte aligned");
    // Without `reason` the status is the same.
    auto a = static_args();
    a.cols = 96;
    CHECK(dp::static_quantize_split<C>(a, nullptr) == Status::k_not_multiple_of_bank);
  }

  SECTION("dynamic_quantize") {
    auto with = [](auto change) {
      return [change](const char** why) {
        dp::DynamicQuantizeArgs<bf16> a;
        a.x = fake<bf16>(1);
        a.rows = 5;
        a.cols = 128;
        a.out = fake_tensor();
        a.workspace = fake<void>(7);
        a.workspace_bytes = dp::workspace_size();
        change(a);
        return dp::dynamic_quantize<C>(a, nullptr, dp::InputCheck::synchronous, why);
      };
    };
    check_rule(with([](auto& a) { a.rows = 0; }), Status::invalid_shape,
               "rows must be in [1, 2^31)");
    check_rule(with([](auto& a) { a.rows = std::int64_t{1} << 31; }), Status::invalid_shape,
               "rows must be in [1, 2^31)");
    check_rule(with([](auto& a) { a.cols = -64; }), Status::invalid_shape,
               "K (cols) must be in [1, 2^31)");
    check_rule(with([](auto& a) { a.cols = 32; }), Status::k_not_multiple_of_bank,
               "K (cols) must be a multiple of the bank size b");
    check_rule(with([](auto& a) { a.out.low = nullptr; }), Status::invalid_argument,
               "out.low is null");
    check_rule(with([](auto& a) { a.out.scale_high = misaligned(a.out.scale_high); }),
               Status::misaligned_pointer, "out.scale_high must be 16-byte aligned");
    check_rule(with([](auto& a) { a.workspace_bytes = 0; }), Status::insufficient_workspace,
               "workspace_bytes is smaller than workspace_size()");
  }

  SECTION("pack_weights") {
    auto with = [](auto change) {
      return [change](const char** why) {
        dp::WeightPackArgs<float> a;
        a.w = fake<float>(1);
        a.high_mask = fake<std::uint8_t>(2);
        a.rows = 4;
        a.cols = 192;
        a.out = fake_tensor();
        a.workspace = fake<void>(7);
        a.workspace_bytes = dp::workspace_size();
        change(a);
        return dp::pack_weights<C>(a, nullptr, dp::InputCheck::synchronous, why);
      };
    };
    check_rule(with([](auto& a) { a.rows = -1; }), Status::invalid_shape,
               "rows must be in [1, 2^31)");
    check_rule(with([](auto& a) { a.cols = 200; }), Status::k_not_multiple_of_bank,
               "K (cols) must be a multiple of the bank size b");
    check_rule(with([](auto& a) { a.w = nullptr; }), Status::invalid_argument, "w is null");
    check_rule(with([](auto& a) { a.high_mask = misaligned(a.high_mask); }),
               Status::misaligned_pointer, "high_mask must be 16-byte aligned");
    check_rule(with([](auto& a) { a.out.high = misaligned(a.out.high); }),
               Status::misaligned_pointer, "out.high must be 16-byte aligned");
    check_rule(with([](auto& a) { a.workspace = nullptr; }), Status::insufficient_workspace,
               "workspace is null");
  }

  SECTION("dequantize_sq") {
    auto with = [](auto change) {
      return [change](const char** why) {
        dp::SqDequantizeArgs<float> a;
        const dp::SqTensorRef t = fake_tensor();
        a.in = {t.low, t.high, t.scale_low, t.scale_high};
        a.rows = 2;
        a.cols = 64;
        a.out = fake<float>(1);
        a.workspace = fake<void>(7);
        a.workspace_bytes = dp::workspace_size();
        change(a);
        return dp::dequantize_sq<C>(a, nullptr, dp::InputCheck::synchronous, why);
      };
    };
    check_rule(with([](auto& a) { a.cols = 65; }), Status::k_not_multiple_of_bank,
               "K (cols) must be a multiple of the bank size b");
    check_rule(with([](auto& a) { a.rows = 0; }), Status::invalid_shape,
               "rows must be in [1, 2^31)");
    check_rule(with([](auto& a) { a.in.high = nullptr; }), Status::invalid_argument,
               "in.high is null");
    check_rule(with([](auto& a) { a.out = misaligned(a.out); }), Status::misaligned_pointer,
               "out must be 16-byte aligned");
    check_rule(with([](auto& a) { a.workspace = misaligned(a.workspace); }),
               Status::misaligned_pointer, "workspace must be 16-byte aligned");
  }

  SECTION("permute_columns") {
    auto with = [](auto change) {
      return [change](const char** why) {
        dp::PermuteColumnsArgs<bf16> a;
        a.in = fake<bf16>(1);
        a.rows = 3;
        a.cols = 100;
        a.perm = fake<std::uint32_t>(2);
        a.out = fake<bf16>(3);
        a.workspace = fake<void>(7);
        a.workspace_bytes = dp::workspace_size();
        change(a);
        return dp::permute_columns(a, nullptr, dp::InputCheck::synchronous, why);
      };
    };
    check_rule(with([](auto& a) { a.rows = 0; }), Status::invalid_shape,
               "rows must be in [1, 2^31)");
    check_rule(with([](auto& a) { a.cols = 0; }), Status::invalid_shape, "cols must be >= 1");
    check_rule(with([](auto& a) { a.perm = nullptr; }), Status::invalid_argument, "perm is null");
    check_rule(with([](auto& a) { a.out = misaligned(a.out); }), Status::misaligned_pointer,
               "out must be 16-byte aligned");
    check_rule(with([](auto& a) { a.workspace_bytes = 1; }), Status::insufficient_workspace,
               "workspace_bytes is smaller than workspace_size()");
  }

  SECTION("read_status") {
    const char* why = nullptr;
    CHECK(dp::read_status(nullptr, nullptr, &why) == Status::insufficient_workspace);
    CHECK_REASON(why, "workspace is null");
  }
}

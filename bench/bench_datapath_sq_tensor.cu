// Data-path benchmarks, SQ-tensor writers: dynamic top-H quantization and the weight packer,
// both kernels (SqLanePolicy: a lane owns a bank, the default; SqBankPolicy: bank groups).
// Method: bench/support/datapath_bench.cuh.
#include "datapath_bench.cuh"
#include "sqformat/gpu/datapath/dynamic_quantize.cuh"
#include "sqformat/gpu/datapath/sq_lane_policy.hpp"
#include "sqformat/gpu/datapath/weight_pack.cuh"

namespace {

template <class C, class Policy> void bench_dynamic(benchmark::State& state) {
  const std::int64_t m = state.range(0), k = state.range(1);
  Dev<bf16> x(m * k);
  Dev<std::uint8_t> low(m * dp::sq_low_row_bytes<C>(k)), high(m * dp::sq_high_row_bytes<C>(k));
  Dev<float> sl(m * (k / C::bank)), sh(m * (k / C::bank));
  Dev<std::uint8_t> ws(dp::workspace_size());
  dp::reset_workspace(ws.p, nullptr);
  fill_random<<<1024, 256>>>(x.p, m * k, 2u);
  dp::DynamicQuantizeArgs<bf16> a;
  a.x = x.p, a.rows = m, a.cols = k, a.out = {low.p, high.p, sl.p, sh.p};
  a.workspace = ws.p, a.workspace_bytes = dp::workspace_size();
  if (dp::dynamic_quantize<C, Policy>(a, nullptr) != sqformat::Status::success) {
    state.SkipWithError("dynamic_quantize failed");
    return;
  }
  report(state, m * k * 2 + sq_tensor_bytes<C>(m, k),
         [&] { dp::dynamic_quantize<C, Policy>(a, nullptr, dp::InputCheck::deferred); });
}

template <class C, class Policy, class T> void bench_pack(benchmark::State& state) {
  const std::int64_t n = state.range(0), k = state.range(1);
  Dev<T> w(n * k);
  Dev<std::uint8_t> mask(n * k);
  Dev<std::uint8_t> low(n * dp::sq_low_row_bytes<C>(k)), high(n * dp::sq_high_row_bytes<C>(k));
  Dev<float> sl(n * (k / C::bank)), sh(n * (k / C::bank));
  Dev<std::uint8_t> ws(dp::workspace_size());
  dp::reset_workspace(ws.p, nullptr);
  fill_random<<<1024, 256>>>(w.p, n * k, 3u);
  fill_mask<<<1024, 256>>>(mask.p, n * k, C::bank, C::high_per_bank);
  dp::WeightPackArgs<T> a;
  a.w = w.p, a.high_mask = mask.p, a.rows = n, a.cols = k, a.out = {low.p, high.p, sl.p, sh.p};
  a.workspace = ws.p, a.workspace_bytes = dp::workspace_size();
  if (dp::pack_weights<C, Policy>(a, nullptr) != sqformat::Status::success) {
    state.SkipWithError("pack_weights failed");
    return;
  }
  report(state, n * k * (sizeof(T) + 1) + sq_tensor_bytes<C>(n, k),
         [&] { dp::pack_weights<C, Policy>(a, nullptr, dp::InputCheck::deferred); });
}

} // namespace

BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<128, 6>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<128, 5>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<128, 8>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<128, 4, 2>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<128, 4, 1, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<128, 5, 1, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<256, 2, 1, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<256, 3, 1, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<128, 6, 1, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<512, 1, 1, true>)->Apply(shapes);
// top_h_split + write_split_bank (HighFromStage); 128 x 6 is the default (SqLaneDynamicPolicy),
// 256 x 3 the default before and still the one for 9 to 16 high elements a bank; 64 x 12 and
// 96 x 8 are the same 24 warps a SM in smaller blocks
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<256, 3, 1, true, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<64, 12, 1, true, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<96, 8, 1, true, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<256, 2, 1, true, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<128, 5, 1, true, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<128, 6, 1, true, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<128, 4, 1, true, true>)->Apply(shapes);
// the same, pipelined: resident warps walk batches with 2 or 3 stages
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<128, 4, 2, true, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<256, 2, 2, true, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<256, 3, 2, true, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<128, 6, 2, true, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqLanePolicy<256, 2, 3, true, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ5, dp::SqLanePolicy<>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ5, dp::SqLanePolicy<128, 4, 1, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ5, dp::SqLanePolicy<128, 8>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqBankPolicy<>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ45, dp::SqBankPolicy<256, 0, 4096, 6>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ5, dp::SqBankPolicy<>)->Apply(shapes);
// Many high elements a bank: the split kernel spills from H = 16 on, so the default
// (SqLaneDynamicPolicyFor) takes it in blocks of 256 x 3 for H = 16 (128 x 6 was slower there)
// and the coalesced 256 x 3 for H = 32 (docs/performance.md).
using SQ64H16 = sqformat::SqConfig<64, 16, 8, 4>;
using SQ64H32 = sqformat::SqConfig<64, 32, 8, 3>;
BENCHMARK_TEMPLATE(bench_dynamic, SQ64H16, dp::SqLaneDynamicPolicyFor<SQ64H16>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ64H16, dp::SqLanePolicy<128, 6, 1, true, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ64H16, dp::SqLanePolicy<256, 3, 1, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ64H32, dp::SqLanePolicy<256, 3, 1, true, true>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_dynamic, SQ64H32, dp::SqLaneDynamicPolicyFor<SQ64H32>)->Apply(shapes);
// the packer's defaults (SqLanePackPolicyFor<C, T>; B64-(8/4): split, 64 x 10 for bf16, 128 x 4
// for fp32)
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePackPolicy, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePackPolicy, float)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 6>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 5>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 8>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 4, 2>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 4, 1, true>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 6, 1, true>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<256, 3, 1, true>, bf16)->Apply(shapes);
// write_split_bank (HighFromStage)
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 4, 1, true, true>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 6, 1, true, true>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<64, 8, 1, true, true>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 8, 1, true, true>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<256, 3, 1, true, true>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<256, 4, 1, true, true>, bf16)->Apply(shapes);
// the same, pipelined: resident warps walk batches with 2 or 3 stages
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 4, 2, true, true>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 6, 2, true, true>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<256, 3, 2, true, true>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 6, 3, true, true>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 4, 3, true, true>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<>, float)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 4, 1, true>, float)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 4, 1, true, true>, float)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 6, 1, true, true>, float)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 4, 2, true, true>, float)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 6>, float)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqLanePolicy<128, 8>, float)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqBankPolicy<>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqBankPolicy<256, 0, 4096, 6>, bf16)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_pack, SQ45, dp::SqBankPolicy<>, float)->Apply(shapes);

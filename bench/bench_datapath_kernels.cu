// Data-path benchmarks, static quantize-and-split (the binary's main; the SQ-tensor kernels are
// in bench_datapath_sq_tensor.cu). Method: bench/support/datapath_bench.cuh.
#include "datapath_bench.cuh"
#include "sqformat/gpu/datapath/static_quantize_split.cuh"

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

namespace {

/// PerBank: per-(token, bank) activation scales (the streaming kernel, whatever the policy says).
template <class C, class Policy, bool PerBank = false> void bench_static(benchmark::State& state) {
  const std::int64_t m = state.range(0), k = state.range(1);
  const std::int64_t scales = PerBank ? m * (k / C::bank) : m;
  Dev<bf16> x(m * k);
  Dev<std::uint32_t> perm(k);
  Dev<std::uint8_t> high(m * dp::static_high_row_bytes<C>(k)),
      low(m * dp::static_low_row_bytes<C>(k));
  Dev<float> sh(scales), sl(scales);
  Dev<std::uint8_t> ws(dp::workspace_size());
  dp::reset_workspace(ws.p, nullptr);
  fill_random<<<1024, 256>>>(x.p, m * k, 1u);
  { // a static permutation from a random high mask (H channels a bank, fixed seed): where the
    // high channels sit sets how the output-order gathers spread over shared-memory banks
    std::vector<std::uint32_t> p(k);
    std::mt19937 rng(12345u);
    const std::int64_t kh = k / C::bank * C::high_per_bank;
    std::vector<int> order(C::bank);
    std::vector<bool> high(C::bank);
    for (std::int64_t bk = 0, hi = 0, lo = kh; bk < k / C::bank; ++bk) {
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), rng);
      for (int i = 0; i < C::bank; ++i)
        high[order[i]] = i < C::high_per_bank;
      for (int i = 0; i < C::bank; ++i)
        p[high[i] ? hi++ : lo++] = static_cast<std::uint32_t>(bk * C::bank + i);
    }
    cudaMemcpy(perm.p, p.data(), k * 4, cudaMemcpyHostToDevice);
  }
  dp::StaticSplitArgs<bf16> a;
  a.x = x.p, a.rows = m, a.cols = k, a.perm = perm.p, a.x_high = high.p, a.x_low = low.p;
  a.scale_high = sh.p, a.scale_low = sl.p, a.workspace = ws.p,
  a.workspace_bytes = dp::workspace_size();
  a.scales = PerBank ? dp::ActivationScales::per_token_bank : dp::ActivationScales::per_token;
  if (dp::static_quantize_split<C, Policy>(a, nullptr) != sqformat::Status::success) {
    state.SkipWithError("static_quantize_split failed");
    return;
  }
  const std::size_t traffic =
      static_split_input_bytes(m, k) + static_split_output_bytes<C>(m, k, scales);
  report(state, traffic,
         [&] { dp::static_quantize_split<C, Policy>(a, nullptr, dp::InputCheck::deferred); });
}

} // namespace

// Static split: the default (the lane kernel from 16 tokens on, else the column kernel with
// blocks picked by K and M; with per-(token, bank) scales the streaming kernel), the lane kernel
// (default policy, 3 stages, a 96-register cap), the column kernel with the 128-thread blocks the
// default took for K <= 8192 (1 and 2 words in flight) and fixed blocks of 256, 512 and 1024
// threads, the 5-bit config (lane and default; its K = 28672 needs more lanes than the lane policy
// allows and runs the column kernel), the bank kernel (channel-order pass 2, both configs), the
// streaming kernel and the block-gather kernel's best policy.
BENCHMARK_TEMPLATE(bench_static, SQ45, dp::StaticSplitDefaultPolicy)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_static, SQ45, dp::StaticSplitDefaultPolicy, true)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_static, SQ45, dp::StaticSplitLanePolicy<>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_static, SQ45, dp::StaticSplitLanePolicy<3, 512>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_static, SQ45, dp::StaticSplitLanePolicy<2, 512, 96>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_static, SQ45, dp::StaticSplitColumnPolicy<128, 3, 8, 1>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_static, SQ5, dp::StaticSplitLanePolicy<>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_static, SQ45, dp::StaticSplitColumnPolicy<128, 3, 8, 2>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_static, SQ45, dp::StaticSplitColumnPolicy<256, 3, 4, 1>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_static, SQ45, dp::StaticSplitColumnPolicy<512, 3, 2, 1>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_static, SQ45, dp::StaticSplitColumnPolicy<1024, 3, 1, 1>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_static, SQ5, dp::StaticSplitDefaultPolicy)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_static, SQ45, dp::StaticSplitBankPolicy<>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_static, SQ5, dp::StaticSplitBankPolicy<>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_static, SQ45, dp::StaticSplitStreamPolicy<>)->Apply(shapes);
BENCHMARK_TEMPLATE(bench_static, SQ45, dp::StaticSplitPolicy<256, 1, 16>)->Apply(shapes);

BENCHMARK_MAIN();

// sqformat/gpu/gemm/w4a_sq_static_auto.cuh: W4A(SQ) static GEMM that picks its tile policy from
// the token count M at run time. Same arguments and results as GemmW4ASqStatic (policies never
// change results).
//   M <= 4         on sm_90 with per-channel weight scales and K < 2^20: the CUDA-core decode
//                  kernel (detail/w4a_sq_static_gemv_kernel.cuh; on an H100 1.2-1.4x faster than
//                  the wgmma decode kernels at M = 1 and 1.0-1.3x at M = 4, slower from M = 8 on,
//                  docs/performance.md)
//   4 < M <= 16    on sm_90 with per-channel weight scales, K < 2^20 and N >= 4096: the
//                  streaming mma.sync kernel (detail/w4a_sq_static_mma_stream_kernel.cuh; on an
//                  H100 faster than the wgmma decode kernels at M = 8 and 16 on the three large
//                  70B shapes, slower at N = 1024, docs/performance.md)
//   M <= 16        decode: on sm_90 the wgmma decode kernel (X_low widened in the loop): for
//                  M <= 8 with 8-token tiles and 64 channels per CTA, else 16-token tiles with 64
//                  channels per CTA for N <= 16384 and 128 above (on an H100 the 64-channel
//                  variant was faster at N = 8192, slower at N = 28672); on other
//                  devices (sm_80, sm_86, sm_89) the mma.sync kernel
//                  (detail/w4a_sq_static_mma_kernel.cuh), the only one they can run
//   16 < M <= 128  medium policy   (64-token tiles, X_low widened in the loop, no workspace)
//   M > 128        prefill policy  (128 x 128 tiles, X_low widened once by a prepass; at M = 256
//                  it ran 1.7x faster than the medium policy on an H200, docs/performance.md);
//                  with prepacked weights (args.w_prepacked) the warp-specialized prefill policy,
//                  the faster of the two with that layout on an H200 (docs/performance.md);
//                  with either weight layout, the warp-specialized policy with 192-channel
//                  tiles (W4ASqPrefillWidePolicy) when its tiles are at least twice the SMs
#pragma once

#include "w4a_sq_static.cuh"

namespace sqformat::gpu {

template <class Config> class GemmW4ASqStaticAuto {
public:
  using Decode = GemmW4ASqStatic<Config, W4ASqDecodePolicy>;
  using Decode64 = GemmW4ASqStatic<Config, W4ASqDecode64Policy>;
  using Decode8 = GemmW4ASqStatic<Config, W4ASqDecode8Policy>;
  static constexpr int decode64_max_n = 16384;
  using DecodeMmaSync = GemmW4ASqStatic<Config, W4ASqMmaDecodePolicy>;
  using DecodeGemv = GemmW4ASqStatic<Config, W4ASqGemvDecodePolicy>;
  static constexpr int gemv_max_tokens = 4;
  using DecodeStream = GemmW4ASqStatic<Config, W4ASqMmaStreamDecodePolicy>;
  static constexpr int stream_min_n = 4096;
  using Medium = GemmW4ASqStatic<Config, W4ASqMediumPolicy>;
  using Prefill = GemmW4ASqStatic<Config, W4ASqPrefillPolicy>;
  using PrefillPrepacked = GemmW4ASqStatic<Config, W4ASqPrefillWarpSpecializedPolicy>;
  using PrefillWide = GemmW4ASqStatic<Config, W4ASqPrefillWidePolicy>;
  /// Prefill takes the 192-channel tiles when they make at least this many CTAs per SM. On an
  /// H100 (M 256 to 8192, all Llama shapes; docs/performance.md) they were faster from 300
  /// tiles on (up to 1.3x) and slower with 176 or fewer (too few CTAs for their speed per tile
  /// to pay).
  static constexpr int wide_min_tiles_per_sm = 2;

  using Arguments = W4ASqStaticArguments;
  static constexpr int medium_max_tokens = 128;

  /// Whether prefill takes W4ASqPrefillWidePolicy (tiles of 192 channels x 128 tokens).
  static bool wide_prefill(const Arguments& args) {
    int sms = 0;
    if (current_sm_count(sms) != Status::success)
      return false;
    return PrefillWide::output_tiles(args) >= static_cast<long long>(wide_min_tiles_per_sm) * sms;
  }

  /// Whether decode (M <= 16) takes the mma.sync kernel: on every device but sm_90, where the
  /// wgmma decode kernels measured faster (docs/performance.md).
  static bool mma_sync_decode() {
    int sm = 0;
    return current_compute_capability(sm) == Status::success && sm != 90;
  }

  static Status can_implement(const Arguments& args, const char** reason = nullptr) {
    return with_chosen(args,
                       [&](auto gemm) { return decltype(gemm)::can_implement(args, reason); });
  }
  static std::size_t workspace_size(const Arguments& args) {
    return with_chosen(args, [&](auto gemm) { return decltype(gemm)::workspace_size(args); });
  }
  static Status run(const Arguments& args, void* workspace, std::size_t workspace_bytes,
                    cudaStream_t stream) {
    return with_chosen(args, [&](auto gemm) {
      return decltype(gemm)::run(args, workspace, workspace_bytes, stream);
    });
  }

private:
  /// The one place the policy is chosen: calls `f` with a value of the chosen GemmW4ASqStatic.
  template <class F> static decltype(auto) with_chosen(const Arguments& args, F&& f) {
    if (args.m <= 16) {
      if (mma_sync_decode())
        return f(DecodeMmaSync{});
      // The GEMV and streaming kernels: per-channel scales and K < 2^20 (offset-binary sums).
      const bool direct_w_ok = args.weight_scale_group == 0 && args.k < (1 << 20);
      if (direct_w_ok && args.m <= gemv_max_tokens)
        return f(DecodeGemv{});
      if (direct_w_ok && args.n >= stream_min_n)
        return f(DecodeStream{});
      if (args.m <= 8)
        return f(Decode8{});
      return args.n <= decode64_max_n ? f(Decode64{}) : f(Decode{});
    }
    if (args.m <= medium_max_tokens)
      return f(Medium{});
    if (wide_prefill(args))
      return f(PrefillWide{});
    return args.w_prepacked != nullptr ? f(PrefillPrepacked{}) : f(Prefill{});
  }
};

} // namespace sqformat::gpu

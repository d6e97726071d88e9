// sqformat/gpu/gemm/w4a_sq_static_auto.cuh: W4A(SQ) static GEMM that picks its tile policy from
// the token count M at run time. Same arguments and results as GemmW4ASqStatic (policies never
// change results).
//   M <= 16        decode policy   (16-token tiles, X_low widened in the loop, no workspace)
//   16 < M <= 256  medium policy   (64-token tiles, X_low widened in the loop, no workspace)
//   M > 256        prefill policy  (128 x 128 tiles, X_low widened once by a prepass)
#pragma once

#include "w4a_sq_static.cuh"

namespace sqformat::gpu {

template <class Config> class GemmW4ASqStaticAuto {
public:
  using Decode = GemmW4ASqStatic<Config, W4ASqDecodePolicy>;
  using Medium = GemmW4ASqStatic<Config, W4ASqMediumPolicy>;
  using Prefill = GemmW4ASqStatic<Config, W4ASqPrefillPolicy>;
  using Arguments = W4ASqStaticArguments;

  static Status can_implement(const Arguments& args, const char** reason = nullptr) {
    if (args.m <= 16)
      return Decode::can_implement(args, reason);
    if (args.m <= 256)
      return Medium::can_implement(args, reason);
    return Prefill::can_implement(args, reason);
  }
  static std::size_t workspace_size(const Arguments& args) {
    if (args.m <= 16)
      return Decode::workspace_size(args);
    if (args.m <= 256)
      return Medium::workspace_size(args);
    return Prefill::workspace_size(args);
  }
  static Status run(const Arguments& args, void* workspace, std::size_t workspace_bytes,
                    cudaStream_t stream) {
    if (args.m <= 16)
      return Decode::run(args, workspace, workspace_bytes, stream);
    if (args.m <= 256)
      return Medium::run(args, workspace, workspace_bytes, stream);
    return Prefill::run(args, workspace, workspace_bytes, stream);
  }
};

} // namespace sqformat::gpu

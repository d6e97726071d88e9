// sqformat/gpu/wsq/wsq_a16_decode.hpp: W(SQ)A16 for decode shapes, Y = X · Wᵀ with
//   X  M x K  row-major, bf16 or fp16 (T), 1 <= M <= 64
//   W  N x K  SQ tensor (WsqWeightsView)
//   Y  M x N  row-major, T
//
// Configurations with b % 64 == 0, INT8/INT4 and H % 8 == 0, H <= 32 (SQ5 B64-(8/4)-0.875, SQ6
// B64-(8/4)-0.5, ...) and N % 16 == 0 run on tensor cores (detail/a16_mma_kernel.cuh): every
// weight byte is read once, K is split into shape-dependent slices whose partial results go to the
// workspace and are added in slice order. All other configurations use the CUDA-core kernel
// (detail/a16_generic_kernel.cuh), no workspace. Both compute, per output and bank, exact
// code * x products accumulated in float32 and scaled once per bank; see docs/wsq.md for the
// error bound. The result depends on the configuration and the shape only, never on the Policy.
//
// Usage:
//   using Op = WsqA16Decode<SqConfig<64, 8>, __nv_bfloat16>;
//   Op::Arguments args{weights, x, y, m};
//   if (Op::can_implement(args) != Status::success) ...
//   std::size_t bytes = Op::workspace_size(args);      // allocate once, reuse
//   Status s = Op::run(args, workspace, bytes, stream);
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "../../status.hpp"
#include "detail/a16_generic_kernel.cuh"
#include "detail/a16_mma_kernel.cuh"
#include "detail/checks.hpp"
#include "policy.hpp"
#include "weights_view.hpp"

namespace sqformat::gpu {

template <class C, class T, class Policy = WsqDecodePolicy<>> class WsqA16Decode {
public:
  struct Arguments {
    WsqWeightsView<C> w;
    const T* x = nullptr; ///< M x K
    T* y = nullptr;       ///< M x N
    int m = 0;
  };
  static constexpr int max_m = 64;

  /// Whether the tensor-core kernel serves these arguments (else the CUDA-core one does).
  static bool uses_tensor_cores(const Arguments& a) {
    return wsq_detail::mma_decode_supports<C> && a.w.n % 16 == 0;
  }

  /// Number of K slices of the tensor-core kernel: a function of N and K only. Enough slices that
  /// about 4096 warps stream W (more than fit at once on a 132-SM GPU, so that every SM keeps
  /// loads in flight), each slice a whole number of banks.
  static int k_slices(int n, int k) {
    const int banks = k / C::bank;
    const int tiles = n / 16;
    int slices = (4096 + tiles - 1) / tiles;
    slices = slices < 1 ? 1 : (slices > banks ? banks : slices);
    const int per_slice = (banks + slices - 1) / slices;
    return (banks + per_slice - 1) / per_slice;
  }

  static Status can_implement(const Arguments& a) {
    if (a.m < 1 || a.m > max_m)
      return Status::invalid_shape;
    if (const Status s = wsq_detail::check_weights(a.w); s != Status::success)
      return s;
    if (a.x == nullptr || a.y == nullptr)
      return Status::invalid_argument;
    if (!wsq_detail::aligned16(a.x) || !wsq_detail::aligned16(a.y))
      return Status::misaligned_pointer;
    return uses_tensor_cores(a) ? wsq_detail::check_arch(mma_kernel<1>())
                                : wsq_detail::check_arch(generic_kernel());
  }

  static std::size_t workspace_size(const Arguments& a) {
    if (!uses_tensor_cores(a) || a.m < 1 || a.w.n < 1 || a.w.k < C::bank)
      return 0;
    const int slices = k_slices(a.w.n, a.w.k);
    return slices > 1 ? std::size_t(slices) * a.m * a.w.n * sizeof(float) : 0;
  }

  static Status run(const Arguments& a, void* workspace, std::size_t workspace_bytes,
                    cudaStream_t stream) {
    if (const Status s = can_implement(a); s != Status::success)
      return s;
    if (!uses_tensor_cores(a)) {
      const dim3 grid((a.w.n + Policy::warps_per_block - 1) / Policy::warps_per_block,
                      (a.m + wsq_detail::kGenericTokens - 1) / wsq_detail::kGenericTokens);
      generic_kernel()<<<grid, Policy::threads, 0, stream>>>(a.w, a.x, a.y, a.m);
      return cudaGetLastError() == cudaSuccess ? Status::success : Status::cuda_error;
    }
    if constexpr (wsq_detail::mma_decode_supports<C>) {
      return launch_mma(a, workspace, workspace_bytes, stream);
    } else {
      return Status::invalid_argument; // unreachable: uses_tensor_cores() is false
    }
  }

private:
  static auto generic_kernel() {
    return &wsq_detail::wsq_a16_generic_kernel<C, T, Policy::warps_per_block>;
  }
  template <int NTiles> static auto mma_kernel() {
    if constexpr (wsq_detail::mma_decode_supports<C>) {
      return &wsq_detail::wsq_a16_mma_kernel<C, T, Policy::warps_per_block,
                                             Policy::chunks_in_flight, NTiles>;
    } else {
      return generic_kernel(); // only asked for its architecture check
    }
  }

  static Status launch_mma(const Arguments& a, void* workspace, std::size_t workspace_bytes,
                           cudaStream_t stream) {
    const std::size_t need = workspace_size(a);
    if (need > 0 && (workspace == nullptr || workspace_bytes < need))
      return Status::insufficient_workspace;
    if (need > 0 && !wsq_detail::aligned16(workspace))
      return Status::misaligned_pointer;
    const int slices = k_slices(a.w.n, a.w.k);
    const int banks = a.w.k / C::bank;
    const int slice_banks = (banks + slices - 1) / slices;
    float* partial = slices > 1 ? static_cast<float*>(workspace) : nullptr;
    const int tiles = a.w.n / 16;
    const dim3 grid((tiles + Policy::warps_per_block - 1) / Policy::warps_per_block, slices);
    const unsigned threads = Policy::threads;
    if (a.m <= 8) {
      mma_kernel<1>()<<<grid, threads, 0, stream>>>(a.w, a.x, a.y, partial, a.m, slice_banks);
    } else if (a.m <= 16) {
      mma_kernel<2>()<<<grid, threads, 0, stream>>>(a.w, a.x, a.y, partial, a.m, slice_banks);
    } else if (a.m <= 32) {
      mma_kernel<4>()<<<grid, threads, 0, stream>>>(a.w, a.x, a.y, partial, a.m, slice_banks);
    } else {
      mma_kernel<8>()<<<grid, threads, 0, stream>>>(a.w, a.x, a.y, partial, a.m, slice_banks);
    }
    if (slices > 1) {
      const std::size_t outputs = std::size_t(a.m) * a.w.n;
      wsq_detail::wsq_splitk_reduce_kernel<T>
          <<<unsigned((outputs + 255) / 256), 256, 0, stream>>>(partial, a.y, outputs, slices);
    }
    return cudaGetLastError() == cudaSuccess ? Status::success : Status::cuda_error;
  }
};

} // namespace sqformat::gpu

// sqformat/gpu/wsq/wsq_a16_decode.hpp: W(SQ)A16 for decode shapes, Y = X · Wᵀ with
//   X  M x K  row-major, bf16 or fp16 (T), 1 <= M <= 64
//   W  N x K  SQ tensor (WsqWeightsView)
//   Y  M x N  row-major, T
//
// Five kernels, chosen by the configuration and M (never by the Policy):
//   - 2 <= M <= hybrid_dispatch_max_m (8, and M * H <= 128), b = 64, INT8/INT4, H % 8 == 0,
//     H <= 32: low path on tensor cores, high path on CUDA cores (detail/a16_hybrid_kernel.cuh);
//   - otherwise M <= gemv_max_m, b = 64, INT8/INT4, H % 8 == 0: CUDA cores, the lanes of a warp
//     along K (detail/a16_gemv_kernel.cuh);
//   - otherwise M <= row_thread_max_m, b = 32 or 64, INT8/INT4, H % 4 == 0: CUDA cores, one
//     thread per row and K slice (detail/a16_row_thread_kernel.cuh);
//   - otherwise b % 64 == 0, INT8/INT4, H % 8 == 0, H <= 32 and N % 16 == 0: tensor cores
//     (detail/a16_mma_kernel.cuh);
//   - every other case: the generic CUDA-core kernel (detail/a16_generic_kernel.cuh), no workspace;
//     from N = 4096 on a warp takes all M <= 64 tokens in tiles of 8 (the later tiles read its
//     row from L1/L2, so W should come from DRAM once; not timed).
// The first four read every weight byte once and split K into slices that depend on N and K only
// (the lanes-along-K kernel only for N < 8192); slice results go to the workspace and are added in
// slice order. All compute, per output and
// bank, exact code * x products accumulated in float32 and scaled once per bank; see docs/wsq.md
// for the error bound. The result depends on the configuration, the shape and the path only.
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
#include <utility>

#include "../../status.hpp"
#include "detail/a16_gemv_kernel.cuh"
#include "detail/a16_generic_kernel.cuh"
#include "detail/a16_hybrid_kernel.cuh"
#include "detail/a16_mma_kernel.cuh"
#include "detail/a16_row_thread_kernel.cuh"
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

  /// Largest M the lanes-along-K kernel serves (docs/wsq.md): up to 4 tokens, but only 2 when
  /// more than 16 of a bank's elements are high (its high-path walk grows with H; at H = 32 and
  /// M = 3-4 the tensor-core kernel was faster on H100).
  static constexpr int gemv_max_m = C::high_per_bank <= 16 ? wsq_detail::kGemvMaxTokens : 2;

  /// Largest M the CUDA-core row-thread kernel serves: measured faster than the tensor-core kernel
  /// for M <= 2 only (H200, 8192 x 8192 and 28672 x 8192, docs/wsq.md).
  static constexpr int row_thread_max_m = wsq_detail::kRowThreadMaxTokens;

  /// Largest M the hybrid kernel takes when forced (run_hybrid).
  static constexpr int hybrid_max_m = wsq_detail::kHybridMaxTokens;

  /// M range run() gives the hybrid kernel: from 2 tokens (at one token the lanes-along-K kernel
  /// was faster) while M * H <= 128 (its high-path walk costs H steps per token; on H100 it lost
  /// to the tensor-core kernel at H = 32, M = 8, and won at H = 8 up to M = 8 and at H = 32 up to
  /// M = 4; docs/wsq.md).
  static constexpr int hybrid_dispatch_max_m =
      128 / C::high_per_bank < hybrid_max_m ? 128 / C::high_per_bank : hybrid_max_m;

  /// Whether the hybrid kernel serves these arguments.
  static bool uses_hybrid(const Arguments& a) {
    return wsq_detail::hybrid_decode_supports<C> && a.m >= 2 && a.m <= hybrid_dispatch_max_m;
  }

  /// Whether the lanes-along-K kernel serves these arguments.
  static bool uses_gemv(const Arguments& a) {
    return !uses_hybrid(a) && wsq_detail::gemv_decode_supports<C> && a.m <= gemv_max_m;
  }

  /// Whether the CUDA-core row-thread kernel serves these arguments.
  static bool uses_row_thread(const Arguments& a) {
    return !uses_hybrid(a) && !uses_gemv(a) && wsq_detail::row_thread_decode_supports<C> &&
           a.m <= row_thread_max_m;
  }

  /// Whether the tensor-core kernel serves these arguments.
  static bool uses_tensor_cores(const Arguments& a) {
    return !uses_hybrid(a) && !uses_gemv(a) && !uses_row_thread(a) &&
           wsq_detail::mma_decode_supports<C> && a.w.n % 16 == 0;
  }

  /// Number of K slices of the kernel serving these arguments (a function of the path, N and K;
  /// 1 for the generic kernel). Every slice is a whole number of banks.
  static int k_slices(const Arguments& a) {
    if (a.w.n < 1 || a.w.k < C::bank)
      return 1;
    if (uses_hybrid(a))
      return hybrid_slices(a.w.n, a.w.k).first;
    if (uses_gemv(a))
      return gemv_slices(a.w.n, a.w.k).first;
    if (uses_row_thread(a))
      return row_thread_slices(a.w.n, a.w.k).first;
    if (uses_tensor_cores(a))
      return mma_slices(a.w.n, a.w.k).first;
    return 1;
  }

  /// Whether run() accepts `a`; on failure `*reason` (if given) says which rule failed. run()
  /// itself adds the workspace checks (insufficient_workspace, misaligned_pointer).
  static Status can_implement(const Arguments& a, const char** reason = nullptr) {
    using wsq_detail::fail;
    if (a.m < 1 || a.m > max_m)
      return fail(reason, Status::invalid_shape, "M must be in [1, 64] (WsqA16LargeM takes more)");
    if (const Status s = wsq_detail::check_weights(a.w, reason); s != Status::success)
      return s;
    if (a.x == nullptr || a.y == nullptr)
      return fail(reason, Status::invalid_argument, "x or y is null");
    if (!wsq_detail::aligned16(a.x) || !wsq_detail::aligned16(a.y))
      return fail(reason, Status::misaligned_pointer, "x and y must be 16-byte aligned");
    if (uses_hybrid(a))
      return wsq_detail::check_arch(hybrid_kernel<2>(), reason);
    if (uses_gemv(a))
      return wsq_detail::check_arch(gemv_kernel<1, 1>(), reason);
    if (uses_row_thread(a))
      return wsq_detail::check_arch(row_thread_kernel<1>(), reason);
    return uses_tensor_cores(a) ? wsq_detail::check_arch(mma_kernel<1>(), reason)
                                : wsq_detail::check_arch(generic_kernel(), reason);
  }

  static std::size_t workspace_size(const Arguments& a) {
    if (a.m < 1 || a.m > max_m || a.w.n < 1 || a.w.k < C::bank)
      return 0;
    const int slices = k_slices(a);
    return slices > 1 ? std::size_t(slices) * a.m * a.w.n * sizeof(float) : 0;
  }

  static Status run(const Arguments& a, void* workspace, std::size_t workspace_bytes,
                    cudaStream_t stream) {
    if (const Status s = can_implement(a); s != Status::success)
      return s;
    if (uses_hybrid(a)) {
      if constexpr (wsq_detail::hybrid_decode_supports<C>) {
        return launch_hybrid(a, workspace, workspace_bytes, stream);
      }
    }
    if (uses_gemv(a)) {
      if constexpr (wsq_detail::gemv_decode_supports<C>) {
        return launch_gemv(a, workspace, workspace_bytes, stream);
      }
    }
    if (uses_row_thread(a)) {
      if constexpr (wsq_detail::row_thread_decode_supports<C>) {
        return launch_row_thread(a, workspace, workspace_bytes, stream);
      }
    }
    if (!uses_tensor_cores(a)) {
      const int block_tokens = wsq_detail::generic_block_tokens(a.w.n);
      const dim3 grid((a.w.n + Policy::warps_per_block - 1) / Policy::warps_per_block,
                      (a.m + block_tokens - 1) / block_tokens);
      generic_kernel()<<<grid, Policy::threads, 0, stream>>>(a.w, a.x, a.y, a.m, block_tokens);
      return cudaGetLastError() == cudaSuccess ? Status::success : Status::cuda_error;
    }
    if constexpr (wsq_detail::mma_decode_supports<C>) {
      return launch_mma(a, workspace, workspace_bytes, stream);
    } else {
      return Status::invalid_argument; // unreachable: uses_tensor_cores() is false
    }
  }

  /// The tensor-core kernel whatever M is (run() picks it only where no hybrid or CUDA-core
  /// kernel takes the configuration and M): for measuring the crossover. Same checks as run();
  /// invalid_argument where the configuration or N % 16 rules it out.
  static std::size_t tensor_core_workspace_size(const Arguments& a) {
    if constexpr (wsq_detail::mma_decode_supports<C>) {
      return a.w.n % 16 == 0 ? partials_bytes(a, max_m, mma_slices) : 0;
    } else {
      return 0; // run_tensor_cores rejects the configuration
    }
  }
  static Status run_tensor_cores(const Arguments& a, void* workspace, std::size_t workspace_bytes,
                                 cudaStream_t stream) {
    if (const Status s = can_implement(a); s != Status::success)
      return s;
    if constexpr (wsq_detail::mma_decode_supports<C>) {
      if (a.w.n % 16 == 0) {
        if (const Status s = wsq_detail::check_arch(mma_kernel<1>()); s != Status::success)
          return s;
        return launch_mma(a, workspace, workspace_bytes, stream);
      }
    }
    return Status::invalid_argument;
  }

  /// The row-thread kernel for M <= row_thread_max_m whatever the dispatch picks (for tests and
  /// for comparing kernels). Same checks as run(); invalid_argument where the configuration or M
  /// rules it out.
  static std::size_t row_thread_workspace_size(const Arguments& a) {
    if constexpr (wsq_detail::row_thread_decode_supports<C>) {
      return partials_bytes(a, row_thread_max_m, row_thread_slices);
    } else {
      return 0; // run_row_thread rejects the configuration
    }
  }
  static Status run_row_thread(const Arguments& a, void* workspace, std::size_t workspace_bytes,
                               cudaStream_t stream) {
    if (const Status s = can_implement(a); s != Status::success)
      return s;
    if constexpr (wsq_detail::row_thread_decode_supports<C>) {
      if (a.m <= row_thread_max_m) {
        if (const Status s = wsq_detail::check_arch(row_thread_kernel<1>()); s != Status::success)
          return s;
        return launch_row_thread(a, workspace, workspace_bytes, stream);
      }
    }
    return Status::invalid_argument;
  }

  /// The lanes-along-K kernel for M <= gemv_max_m whatever run() picks (for tests and for
  /// comparing kernels). Same checks as run(); invalid_argument where the configuration or M rules
  /// it out.
  static std::size_t gemv_workspace_size(const Arguments& a) {
    if constexpr (wsq_detail::gemv_decode_supports<C>) {
      return partials_bytes(a, gemv_max_m, gemv_slices);
    } else {
      return 0; // run_gemv rejects the configuration
    }
  }
  static Status run_gemv(const Arguments& a, void* workspace, std::size_t workspace_bytes,
                         cudaStream_t stream) {
    if (const Status s = can_implement(a); s != Status::success)
      return s;
    if constexpr (wsq_detail::gemv_decode_supports<C>) {
      if (a.m <= gemv_max_m) {
        if (const Status s = wsq_detail::check_arch(gemv_kernel<1, 1>()); s != Status::success)
          return s;
        return launch_gemv(a, workspace, workspace_bytes, stream);
      }
    }
    return Status::invalid_argument;
  }

  /// The hybrid kernel (detail/a16_hybrid_kernel.cuh) whatever run() picks: b = 64, INT8/INT4,
  /// H % 8 == 0, H <= 32, M <= hybrid_max_m, any N. Same checks as run(); invalid_argument where
  /// the configuration or M rules it out. Its K slices (a function of N and K) and workspace:
  static int hybrid_k_slices(const Arguments& a) {
    return a.w.n < 1 || a.w.k < C::bank ? 1 : hybrid_slices(a.w.n, a.w.k).first;
  }
  static std::size_t hybrid_workspace_size(const Arguments& a) {
    if constexpr (wsq_detail::hybrid_decode_supports<C>) {
      return partials_bytes(a, hybrid_max_m, hybrid_slices);
    } else {
      return 0; // run_hybrid rejects the configuration
    }
  }
  static Status run_hybrid(const Arguments& a, void* workspace, std::size_t workspace_bytes,
                           cudaStream_t stream) {
    if (const Status s = can_implement(a); s != Status::success)
      return s;
    if constexpr (wsq_detail::hybrid_decode_supports<C>) {
      if (a.m <= hybrid_max_m) {
        if (const Status s = wsq_detail::check_arch(hybrid_kernel<1>()); s != Status::success)
          return s;
        return launch_hybrid(a, workspace, workspace_bytes, stream);
      }
    }
    return Status::invalid_argument;
  }

  /// Rows a warp of the lanes-along-K kernel streams for a token tile (a policy choice only).
  /// Halved for token tiles above 1 and for H > 16 (registers: no spills at the default of 4).
  template <int Tokens> static constexpr int gemv_rows() {
    int r = Policy::gemv_rows_per_warp;
    r = Tokens == 1 ? r : r / 2;
    r = C::high_per_bank > 16 ? r / 2 : r;
    return r < 1 ? 1 : r;
  }

private:
  /// Bytes of the float32 K-slice partials of a kernel whose (slices, per slice) rule is
  /// `slices_of(N, K)` and that takes M <= path_max_m: 0 for a single slice or arguments outside.
  static std::size_t partials_bytes(const Arguments& a, int path_max_m,
                                    std::pair<int, int> (*slices_of)(int, int)) {
    if (a.m < 1 || a.m > path_max_m || a.w.n < 1 || a.w.k < C::bank)
      return 0;
    const int slices = slices_of(a.w.n, a.w.k).first;
    return slices > 1 ? std::size_t(slices) * a.m * a.w.n * sizeof(float) : 0;
  }

  /// (slices, chunks per slice) of the lanes-along-K kernel: no split from N = kGemvTargetRows
  /// rows (enough warps to fill the GPU); below, slices of whole 1024-k chunks so that N * slices
  /// reaches it.
  static std::pair<int, int> gemv_slices(int n, int k) {
    const int chunks = (k + wsq_detail::kGemvChunkK - 1) / wsq_detail::kGemvChunkK;
    int slices = (wsq_detail::kGemvTargetRows + n - 1) / n;
    slices = slices < 1 ? 1 : (slices > chunks ? chunks : slices);
    const int per_slice = (chunks + slices - 1) / slices;
    return {(chunks + per_slice - 1) / per_slice, per_slice};
  }

  template <int Tokens, int Rows> static auto gemv_kernel() {
    if constexpr (wsq_detail::gemv_decode_supports<C>) {
      return &wsq_detail::wsq_a16_gemv_kernel<C, T, Policy::gemv_warps_per_block, Rows, Tokens>;
    } else {
      return generic_kernel(); // only asked for its architecture check
    }
  }

  template <int Tokens>
  static void launch_gemv_tile(const Arguments& a, float* partial, int slices, int slice_chunks,
                               cudaStream_t stream) {
    constexpr int rows = gemv_rows<Tokens>();
    const int rows_per_block = rows * Policy::gemv_warps_per_block;
    const dim3 grid((a.w.n + rows_per_block - 1) / rows_per_block, slices);
    const unsigned threads = 32 * Policy::gemv_warps_per_block;
    gemv_kernel<Tokens, rows>()<<<grid, threads, 0, stream>>>(a.w, a.x, a.y, partial, a.m,
                                                              slice_chunks);
  }

  static Status launch_gemv(const Arguments& a, void* workspace, std::size_t workspace_bytes,
                            cudaStream_t stream) {
    if (const Status s = check_workspace(gemv_workspace_size(a), workspace, workspace_bytes);
        s != Status::success)
      return s;
    const auto [slices, slice_chunks] = gemv_slices(a.w.n, a.w.k);
    float* partial = slices > 1 ? static_cast<float*>(workspace) : nullptr;
    static_assert(wsq_detail::kGemvMaxTokens == 4, "token tiles below cover M <= 4");
    if (a.m <= 1) {
      launch_gemv_tile<1>(a, partial, slices, slice_chunks, stream);
    } else if (a.m <= 2) {
      launch_gemv_tile<2>(a, partial, slices, slice_chunks, stream);
    } else {
      launch_gemv_tile<4>(a, partial, slices, slice_chunks, stream);
    }
    return finish(a, partial, slices, stream);
  }

  /// (slices, banks per slice) of the tensor-core kernel: enough slices that about 4096 warps of
  /// 16 rows stream W (more than fit at once on a 132-SM GPU, so that every SM keeps loads in
  /// flight).
  static std::pair<int, int> mma_slices(int n, int k) {
    const int banks = k / C::bank;
    const int tiles = n / 16;
    int slices = (4096 + tiles - 1) / tiles;
    slices = slices < 1 ? 1 : (slices > banks ? banks : slices);
    const int per_slice = (banks + slices - 1) / slices;
    return {(banks + per_slice - 1) / per_slice, per_slice};
  }

  /// (slices, banks per slice) of the row-thread kernel: at least kRowThreadTargetWarps warps of
  /// 32 rows (one wave at about 16 warps per SM) and slices of at most one X staging chunk, each
  /// a whole number of load groups.
  static std::pair<int, int> row_thread_slices(int n, int k) {
    constexpr int group = wsq_detail::RowThreadShape<C>::group_banks;
    const int banks = k / C::bank;
    const int groups = (banks + group - 1) / group;
    const int tiles = (n + 31) / 32;
    int slices = (wsq_detail::kRowThreadTargetWarps + tiles - 1) / tiles;
    const int one_chunk = (k + wsq_detail::kRowThreadChunkK - 1) / wsq_detail::kRowThreadChunkK;
    slices = slices < one_chunk ? one_chunk : slices; // X of a slice fits one staging chunk
    slices = slices < 1 ? 1 : (slices > groups ? groups : slices);
    const int per_slice = (groups + slices - 1) / slices * group;
    return {(banks + per_slice - 1) / per_slice, per_slice};
  }

  template <int Tokens> static auto row_thread_kernel() {
    if constexpr (wsq_detail::row_thread_decode_supports<C>) {
      return &wsq_detail::wsq_a16_row_thread_kernel<C, T, Policy::warps_per_block, Tokens>;
    } else {
      return generic_kernel(); // only asked for its architecture check
    }
  }

  static Status check_workspace(std::size_t need, void* workspace, std::size_t workspace_bytes) {
    if (need > 0 && (workspace == nullptr || workspace_bytes < need))
      return Status::insufficient_workspace;
    if (need > 0 && !wsq_detail::aligned16(workspace))
      return Status::misaligned_pointer;
    return Status::success;
  }

  /// Adds the slices (if more than one) and reports launch errors.
  static Status finish(const Arguments& a, const float* partial, int slices, cudaStream_t stream) {
    if (slices > 1) {
      const std::size_t outputs = std::size_t(a.m) * a.w.n;
      wsq_detail::wsq_splitk_reduce_kernel<T>
          <<<unsigned((outputs + 255) / 256), 256, 0, stream>>>(partial, a.y, outputs, slices);
    }
    return cudaGetLastError() == cudaSuccess ? Status::success : Status::cuda_error;
  }

  static Status launch_row_thread(const Arguments& a, void* workspace, std::size_t workspace_bytes,
                                  cudaStream_t stream) {
    if (const Status s = check_workspace(row_thread_workspace_size(a), workspace, workspace_bytes);
        s != Status::success)
      return s;
    const auto [slices, slice_banks] = row_thread_slices(a.w.n, a.w.k);
    float* partial = slices > 1 ? static_cast<float*>(workspace) : nullptr;
    const int rows_per_block = 32 * Policy::warps_per_block;
    const dim3 grid((a.w.n + rows_per_block - 1) / rows_per_block, slices);
    const unsigned threads = Policy::threads;
    static_assert(wsq_detail::kRowThreadMaxTokens == 2, "token tiles below cover M <= 2");
    if (a.m <= 1) {
      row_thread_kernel<1>()<<<grid, threads, 0, stream>>>(a.w, a.x, a.y, partial, a.m,
                                                           slice_banks);
    } else {
      row_thread_kernel<2>()<<<grid, threads, 0, stream>>>(a.w, a.x, a.y, partial, a.m,
                                                           slice_banks);
    }
    return finish(a, partial, slices, stream);
  }

  /// (slices, bank pairs per slice) of the hybrid kernel: blocks of 16 rows times slices reach
  /// kHybridTargetBlocks (about 4096 warps), each warp keeping at least 2 pairs.
  static std::pair<int, int> hybrid_slices(int n, int k) {
    const int pairs = (k / C::bank + 1) / 2;
    const int blocks = (n + 15) / 16;
    int slices = (wsq_detail::kHybridTargetBlocks + blocks - 1) / blocks;
    const int most = pairs / (2 * wsq_detail::kHybridSegments);
    slices = slices > most ? most : slices;
    slices = slices < 1 ? 1 : slices;
    const int per_slice = (pairs + slices - 1) / slices;
    return {(pairs + per_slice - 1) / per_slice, per_slice};
  }

  template <int Tokens> static auto hybrid_kernel() {
    if constexpr (wsq_detail::hybrid_decode_supports<C>) {
      return &wsq_detail::wsq_a16_hybrid_kernel<C, T, Policy::hybrid_pairs_in_flight(Tokens),
                                                Tokens, Policy::hybrid_blocks_per_sm(Tokens)>;
    } else {
      return generic_kernel(); // only asked for its architecture check
    }
  }

  static Status launch_hybrid(const Arguments& a, void* workspace, std::size_t workspace_bytes,
                              cudaStream_t stream) {
    if (const Status s = check_workspace(hybrid_workspace_size(a), workspace, workspace_bytes);
        s != Status::success)
      return s;
    const auto [slices, slice_pairs] = hybrid_slices(a.w.n, a.w.k);
    float* partial = slices > 1 ? static_cast<float*>(workspace) : nullptr;
    const dim3 grid((a.w.n + 15) / 16, slices);
    const unsigned threads = 32 * wsq_detail::kHybridSegments;
    static_assert(wsq_detail::kHybridMaxTokens == 8, "token tiles below cover M <= 8");
    if (a.m <= 1) {
      hybrid_kernel<1>()<<<grid, threads, 0, stream>>>(a.w, a.x, a.y, partial, a.m, slice_pairs);
    } else if (a.m <= 2) {
      hybrid_kernel<2>()<<<grid, threads, 0, stream>>>(a.w, a.x, a.y, partial, a.m, slice_pairs);
    } else if (a.m <= 4) {
      hybrid_kernel<4>()<<<grid, threads, 0, stream>>>(a.w, a.x, a.y, partial, a.m, slice_pairs);
    } else {
      hybrid_kernel<8>()<<<grid, threads, 0, stream>>>(a.w, a.x, a.y, partial, a.m, slice_pairs);
    }
    return finish(a, partial, slices, stream);
  }

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
    if (const Status s = check_workspace(tensor_core_workspace_size(a), workspace, workspace_bytes);
        s != Status::success)
      return s;
    const auto [slices, slice_banks] = mma_slices(a.w.n, a.w.k);
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
    return finish(a, partial, slices, stream);
  }
};

} // namespace sqformat::gpu

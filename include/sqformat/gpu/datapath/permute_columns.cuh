// sqformat/gpu/datapath/permute_columns.cuh: the gather that reorders the columns of a
// row-major matrix by a static permutation, out[r, k'] = in[r, perm[k']] (the weights of a layer
// with static SQ activations are reordered by the same perm as its activations; host reference:
// sqformat::ref::permute_columns).
//
// One block per row: writes are coalesced, reads gather within the row (the row is small
// enough to stay in L1). Any trivially copyable element type of 1, 2 or 4 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cuda_runtime.h>

#include "sqformat/gpu/datapath/detail/sq_launch.cuh"
#include "sqformat/gpu/datapath/status_word.cuh"
#include "sqformat/status.hpp"

namespace sqformat::gpu::datapath {

/// Arguments of permute_columns. All pointers are device pointers, 16-byte aligned.
template <class T> struct PermuteColumnsArgs {
  const T* in = nullptr; ///< rows × cols
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  const std::uint32_t* perm = nullptr; ///< cols entries, a permutation of 0..cols-1
  T* out = nullptr;                    ///< rows × cols, must not overlap `in`
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
};

namespace detail {

template <int Threads, class T>
__global__ void __launch_bounds__(Threads) permute_columns_kernel(PermuteColumnsArgs<T> args) {
  const std::int64_t row = blockIdx.x;
  const T* in = args.in + row * args.cols;
  T* out = args.out + row * args.cols;
  bool bad = false;
  for (std::int64_t c = threadIdx.x; c < args.cols; c += Threads) {
    const std::uint32_t source = args.perm[c];
    bad |= source >= args.cols;
    out[c] = in[source < args.cols ? source : 0];
  }
  if (bad)
    raise_flag(static_cast<unsigned*>(args.workspace), flag_bad_permutation);
}

} // namespace detail

namespace detail {

inline constexpr PointerRule kPermuteColumnsPointers[] = {
    {"in is null", "in must be 16-byte aligned"},
    {"perm is null", "perm must be 16-byte aligned"},
    {"out is null", "out must be 16-byte aligned"}};

template <int Threads, class T>
Status permute_columns_checked(const PermuteColumnsArgs<T>& args, cudaStream_t stream,
                               InputCheck check, const char** why) {
  if (args.rows <= 0 || args.rows >= (std::int64_t{1} << 31))
    return fail(why, Status::invalid_shape, "rows must be in [1, 2^31)");
  if (args.cols <= 0)
    return fail(why, Status::invalid_shape, "cols must be >= 1");
  Status s = check_pointers(why, kPermuteColumnsPointers, args.in, args.perm, args.out);
  if (s != Status::success)
    return s;
  auto* kernel = &permute_columns_kernel<Threads, T>;
  if ((s = check_workspace(args.workspace, args.workspace_bytes, why)) != Status::success)
    return s;
  static KernelLaunchCache cache;
  long long shared_limit = 0;
  if ((s = check_kernel_on_device(cache, kernel, shared_limit, why)) != Status::success)
    return s;
  kernel<<<static_cast<unsigned>(args.rows), Threads, 0, stream>>>(args);
  return finish_launch(args.workspace, stream, check, why);
}

} // namespace detail

/// Gathers the columns of `in` into `out` by perm. Returns invalid_shape (rows/cols <= 0 or
/// rows >= 2^31), invalid_argument (null pointer; with InputCheck::synchronous also a perm
/// entry >= cols), misaligned_pointer, insufficient_workspace, unsupported_architecture. On
/// failure `*reason` (if given) names the rule that failed; a success leaves it untouched.
template <int Threads = 256, class T>
Status permute_columns(const PermuteColumnsArgs<T>& args, cudaStream_t stream,
                       InputCheck check = InputCheck::synchronous, const char** reason = nullptr) {
  static_assert(Threads % 32 == 0 && Threads >= 32 && Threads <= 1024,
                "permute_columns: Threads must be a multiple of 32 in [32, 1024]");
  static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4,
                "permute_columns: elements of 1, 2 or 4 bytes");
  const char* why = nullptr;
  const Status s = detail::permute_columns_checked<Threads>(args, stream, check, &why);
  return detail::report(s, why, reason);
}

} // namespace sqformat::gpu::datapath

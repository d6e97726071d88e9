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

/// Gathers the columns of `in` into `out` by perm. Returns invalid_shape (rows/cols <= 0 or
/// rows >= 2^31), invalid_argument (null pointer; with InputCheck::synchronous also a perm
/// entry >= cols), misaligned_pointer, insufficient_workspace, unsupported_architecture.
template <int Threads = 256, class T>
Status permute_columns(const PermuteColumnsArgs<T>& args, cudaStream_t stream,
                       InputCheck check = InputCheck::synchronous) {
  static_assert(Threads % 32 == 0 && Threads >= 32 && Threads <= 1024,
                "permute_columns: Threads must be a multiple of 32 in [32, 1024]");
  static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4,
                "permute_columns: elements of 1, 2 or 4 bytes");
  if (args.rows <= 0 || args.cols <= 0 || args.rows >= (std::int64_t{1} << 31))
    return Status::invalid_shape;
  Status s = detail::check_pointers(args.in, args.perm, args.out);
  if (s != Status::success)
    return s;
  auto* kernel = &detail::permute_columns_kernel<Threads, T>;
  if ((s = detail::check_workspace(args.workspace, args.workspace_bytes)) != Status::success)
    return s;
  static detail::KernelLaunchCache cache;
  long long shared_limit = 0;
  if ((s = detail::check_kernel_on_device(cache, kernel, shared_limit)) != Status::success)
    return s;
  kernel<<<static_cast<unsigned>(args.rows), Threads, 0, stream>>>(args);
  return detail::finish_launch(args.workspace, stream, check);
}

} // namespace sqformat::gpu::datapath

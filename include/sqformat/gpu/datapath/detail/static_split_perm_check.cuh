// sqformat/gpu/datapath/detail/static_split_perm_check.cuh: the checks of a static permutation
// that need all of it (docs/layouts.md): every channel appears once, and inside each bank's run
// of high (or of low) columns the channels increase. One block of a launch runs them; the
// per-column checks (an entry in range and in its column's bank) stay in the kernels, where
// every block reads its columns' entries anyway.
#pragma once

#include <cstdint>
#include <cuda_runtime.h>

#include "sqformat/gpu/datapath/detail/quantize.cuh"

namespace sqformat::gpu::datapath::detail {

/// Runs the whole-permutation checks with all threads of the calling block and returns
/// flag_bad_permutation where one fails (0 otherwise). `seen` is shared memory of at least
/// (k + 31) / 32 words that the block may overwrite: a bitmap of the channels, channel c at bit
/// c / words of word c % words (neighbouring channels hit different words). Entries out of range
/// are skipped here. Starts and ends with a block barrier.
template <class C>
__device__ __forceinline__ unsigned check_whole_permutation(const std::uint32_t* perm, int k,
                                                            std::uint32_t* seen) {
  constexpr int H = C::high_per_bank, L = C::low_per_bank;
  const int threads = static_cast<int>(blockDim.x), tid = static_cast<int>(threadIdx.x);
  const int kh = k / C::bank * H, words = (k + 31) / 32;
  const auto kk = static_cast<std::uint32_t>(k);
  unsigned flags = 0;
  __syncthreads(); // the caller is done with the shared memory behind `seen`
  for (int w = tid; w < words; w += threads)
    seen[w] = 0;
  __syncthreads();
  for (int p = tid; p < k; p += threads) {
    const std::uint32_t c = perm[p];
    if (c < kk) {
      const std::uint32_t bit = 1u << (c / static_cast<std::uint32_t>(words));
      if (atomicOr(&seen[c % static_cast<std::uint32_t>(words)], bit) & bit)
        flags |= flag_bad_permutation; // a repeated channel
    }
    const bool run_continues =
        p + 1 < k && p + 1 != kh && (p + 1 < kh ? (p + 1) % H != 0 : (p + 1 - kh) % L != 0);
    if (run_continues && perm[p + 1] <= c)
      flags |= flag_bad_permutation; // a bank's run not increasing
  }
  __syncthreads();
  return flags;
}

} // namespace sqformat::gpu::datapath::detail

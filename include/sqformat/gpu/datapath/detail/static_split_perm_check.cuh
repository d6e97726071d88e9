// sqformat/gpu/datapath/detail/static_split_perm_check.cuh: the checks of a static permutation
// that need all of it (docs/layouts.md): every channel appears once, and inside each bank's run
// of high (or of low) columns the channels increase. One block of a launch runs them; the
// per-column checks (an entry in range and in its column's bank) stay in the kernels, where
// every block reads its columns' entries anyway.
#pragma once

#include <cstdint>
#include <cuda_runtime.h>

#include "sqformat/config.hpp"
#include "sqformat/gpu/datapath/detail/quantize.cuh"

namespace sqformat::gpu::datapath::detail {

/// Words of check_whole_permutation's bitmap for k channels: the fewest, a power of two, that
/// hold k bits.
SQFORMAT_HD constexpr int permutation_bitmap_words(int k) {
  int w = 1;
  while (32 * w < k)
    w *= 2;
  return w;
}

/// Runs the whole-permutation checks with all threads of the calling block and returns
/// flag_bad_permutation where one fails (0 otherwise). `seen` is shared memory of at least
/// permutation_bitmap_words(k) words that the block may overwrite: a bitmap of the channels,
/// channel c at bit c / W of word c % W, W that count, a power of two (neighbouring channels hit
/// different words; shifts instead of divisions). K entries in range set all K bits exactly when
/// none repeats, so the bits are set without reading them back and counted after a barrier (an
/// entry out of range, which the per-column checks flag, leaves a bit clear too). Starts and
/// ends with a block barrier.
template <class C>
__device__ __forceinline__ unsigned check_whole_permutation(const std::uint32_t* perm, int k,
                                                            std::uint32_t* seen) {
  constexpr int H = C::high_per_bank, L = C::low_per_bank;
  const int threads = static_cast<int>(blockDim.x), tid = static_cast<int>(threadIdx.x);
  const int kh = k / C::bank * H, words = permutation_bitmap_words(k);
  const int shift = __ffs(words) - 1; // log2(words)
  const auto kk = static_cast<std::uint32_t>(k), low = static_cast<std::uint32_t>(words - 1);
  unsigned flags = 0;
  __syncthreads(); // the caller is done with the shared memory behind `seen`
  for (int w = tid; w < words; w += threads)
    seen[w] = 0;
  __syncthreads();
  // Sixteen entries a thread at a time, their loads issued together: one after another, the
  // loop added tens of microseconds to a launch of one block.
  constexpr int U = 16;
  for (int p0 = tid; p0 < k; p0 += U * threads) {
    std::uint32_t c[U], next[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int p = p0 + u * threads;
      c[u] = p < k ? perm[p] : kk;
      next[u] = p + 1 < k ? perm[p + 1] : 0xffffffffu;
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int p = p0 + u * threads;
      if (c[u] < kk)
        atomicOr(&seen[c[u] & low], 1u << (c[u] >> shift));
      const bool run_continues =
          p + 1 < k && p + 1 != kh && (p + 1 < kh ? (p + 1) % H != 0 : (p + 1 - kh) % L != 0);
      if (run_continues && next[u] <= c[u])
        flags |= flag_bad_permutation; // a bank's run not increasing
    }
  }
  __syncthreads();
  for (int w = tid; w < words; w += threads) {
    const int bits = (k - w + words - 1) >> shift; // channels w, w + words, ... below k
    if (seen[w] != (bits >= 32 ? 0xffffffffu : (1u << bits) - 1u))
      flags |= flag_bad_permutation; // a channel missing, so another one repeats
  }
  __syncthreads();
  return flags;
}

} // namespace sqformat::gpu::datapath::detail

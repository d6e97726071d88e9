// sqformat/gpu/datapath/detail/sq_lane_launch.cuh: host side of the lane kernels (one thread per
// bank of the flat rows × K tensor): shape rules, grid, and the staged kernels' persistent grid.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cuda_runtime.h>

#include "sqformat/gpu/datapath/detail/sq_launch.cuh"
#include "sqformat/gpu/datapath/sq_lane_policy.hpp"
#include "sqformat/status.hpp"

namespace sqformat::gpu::datapath::detail {

/// Shape rules of an SQ tensor of rows × k (as sq_grid), the number of banks and the grid of
/// one thread per bank.
template <class C, class P>
Status sq_lane_grid(std::int64_t rows, std::int64_t k, std::int64_t& banks, dim3& grid,
                    const char** why) {
  if (const Status s = check_sq_shape<C>(rows, k, why); s != Status::success)
    return s;
  banks = rows * (k / C::bank);
  const std::int64_t blocks = (banks + P::threads - 1) / P::threads;
  if (blocks >= (std::int64_t{1} << 31))
    return fail(why, Status::invalid_shape,
                "rows x K / b banks too many: the grid would need 2^31 blocks or more");
  grid = dim3(static_cast<unsigned>(blocks));
  return Status::success;
}

/// The grid of whichever SQ-tensor kernel the policy names: one thread per bank (lane policies;
/// `banks` set) or one block per row and tile of banks (bank-group policies).
template <class C, class P>
Status sq_tensor_grid(std::int64_t rows, std::int64_t k, std::int64_t& banks, dim3& grid,
                      const char** why) {
  if constexpr (is_sq_lane_policy_v<P>)
    return sq_lane_grid<C, P>(rows, k, banks, grid, why);
  else
    return sq_grid<C, P>(rows, k, grid, why);
}

/// Blocks of a staged (persistent) lane kernel that fit the device at once, found once per
/// kernel and device: entry = device << 32 | blocks.
struct LaneGridCache {
  std::atomic<long long> entry{-1};
};

template <class Kernel>
Status sq_lane_resident_blocks(LaneGridCache& cache, Kernel* kernel, int threads,
                               std::size_t shared_bytes, std::int64_t& resident, const char** why) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess)
    return fail(why, Status::cuda_error, "cudaGetDevice failed");
  const long long entry = cache.entry.load(std::memory_order_relaxed);
  if (entry >= 0 && (entry >> 32) == device) {
    resident = entry & 0xffffffffll;
    return Status::success;
  }
  int sms = 0, blocks = 0;
  if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, threads, shared_bytes) !=
          cudaSuccess)
    return fail(why, Status::cuda_error, "a device attribute or occupancy query failed");
  if (blocks == 0)
    return fail(why, Status::invalid_shape,
                "a block of the policy does not fit an SM (shared memory, registers or threads)");
  resident = static_cast<std::int64_t>(sms) * blocks;
  cache.entry.store((static_cast<long long>(device) << 32) | resident, std::memory_order_relaxed);
  return Status::success;
}

/// Launches a lane kernel: one thread per bank (Stages = 1; with CoalescedLoads, chunks
/// 16-byte slots of staging per thread), or a persistent grid of at most the resident blocks
/// with Stages · chunks 16-byte slots of staging per thread. `Config` keys the resident-block
/// cache with the kernel's type: kernels of two configs can share a function type.
template <class Config, class P, int Chunks, class Kernel, class... Args>
Status launch_lane_kernel(Kernel* kernel, dim3 grid, long long shared_limit, cudaStream_t stream,
                          const char** why, Args... args) {
  std::size_t shared_bytes = 0;
  if constexpr (P::stages > 1 || P::coalesced_loads) {
    shared_bytes = static_cast<std::size_t>(P::stages) * Chunks * P::threads * 16;
    if (static_cast<long long>(shared_bytes) > shared_limit)
      return fail(why, Status::invalid_shape,
                  "the policy's staging needs more shared memory than a block may use");
  }
  if constexpr (P::stages > 1) {
    static LaneGridCache cache;
    std::int64_t resident = 0;
    const Status s =
        sq_lane_resident_blocks(cache, kernel, P::threads, shared_bytes, resident, why);
    if (s != Status::success)
      return s;
    if (grid.x > resident)
      grid.x = static_cast<unsigned>(resident);
  }
  kernel<<<grid, P::threads, shared_bytes, stream>>>(args...);
  return Status::success;
}

} // namespace sqformat::gpu::datapath::detail

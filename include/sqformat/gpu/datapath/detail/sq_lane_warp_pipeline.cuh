// sqformat/gpu/datapath/detail/sq_lane_warp_pipeline.cuh: the batch loop of the HighFromStage
// lane kernels (SqLanePolicy<..., CoalescedLoads = true, HighFromStage = true>).
//
// A batch is 32 consecutive banks of the flat tensor, one per lane. Warp w of the grid takes
// batches w, w + W, w + 2W, ... (W = warps of the grid). It keeps Stages buffers of shared
// memory: while it quantizes batch i from one buffer, the cp.async copies of the next
// Stages - 1 batches run into the others, so a warp's loads overlap its own arithmetic, and a
// grid of resident warps (launch_lane_kernel sizes it for Stages > 1) gives every warp an equal
// share of batches. With Stages = 1 the grid has a warp per batch and the loop runs once.
//
//   per warp: Stages buffers of SlotsPerStage 16-byte slots; batch i uses buffer i % Stages
//   loop:     copy batch i + Stages - 1 -> wait for batch i -> quantize it -> __syncwarp (its
//             buffer is refilled in the next iteration)
#pragma once

#include <cstdint>

#include "sqformat/gpu/datapath/detail/sq_lane_staging.cuh"

namespace sqformat::gpu::datapath::detail::lane {

/// `copy(first, valid, stage)`: issue the cp.async copies of banks [first, first + valid) into
/// the buffer at shared address `stage` (no commit). `process(first, buffer)`: quantize the
/// batch from `buffer`; every lane of the warp calls it (lane l owns bank first + l, if that is
/// below `banks`). `staging`: the block's dynamic shared memory.
template <int Threads, int Stages, int SlotsPerStage, class Copy, class Process>
__device__ __forceinline__ void for_each_warp_batch(std::int64_t banks, uint4* staging, Copy copy,
                                                    Process process) {
  constexpr int warps = Threads / 32;
  uint4* buffers = staging + (threadIdx.x / 32) * Stages * SlotsPerStage;
  const auto shared = static_cast<unsigned>(__cvta_generic_to_shared(buffers));
  const std::int64_t batches = (banks + 31) / 32;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * warps;
  std::int64_t batch = static_cast<std::int64_t>(blockIdx.x) * warps + threadIdx.x / 32;
  auto fill = [&](std::int64_t b, int buffer) { // warp-uniform
    if (b < batches) {
      const std::int64_t first = b * 32;
      copy(first, static_cast<int>(banks - first < 32 ? banks - first : 32),
           shared + static_cast<unsigned>(buffer * SlotsPerStage * 16));
    }
    commit_stage(); // an empty group past the end keeps the group count uniform
  };
#pragma unroll
  for (int s = 0; s < Stages - 1; ++s)
    fill(batch + s * stride, s);
  for (int i = 0; batch < batches; batch += stride, i = (i + 1) % Stages) {
    fill(batch + (Stages - 1) * stride, (i + Stages - 1) % Stages);
    wait_stages<Stages - 1>();
    __syncwarp(); // the other lanes' copies are visible
    process(batch * 32, buffers + i * SlotsPerStage);
    __syncwarp(); // every lane is done with buffer i before it is refilled
  }
}

} // namespace sqformat::gpu::datapath::detail::lane

// sqformat/gpu/datapath/detail/sq_lane_staging.cuh: the staged lane kernels' input pipeline
// (SqLanePolicy with Stages > 1). Every thread copies its next banks with cp.async into its own
// slots of shared memory and reads them back when it gets to them; no thread reads another's
// slots, so no barrier is needed (cp.async.wait_group makes a thread's own copies visible to it).
//
// Layout, chunk-major so that both the copies and the 16-byte reads of a warp hit 32
// consecutive 16-byte slots (no bank conflicts):
//
//   slot(stage, chunk, thread) = (stage · Chunks + chunk) · Threads + thread     (uint4 slots)
#pragma once

#include <cstdint>

namespace sqformat::gpu::datapath::detail::lane {

/// Copies `Count` 16-byte chunks from `src` into chunks [First, First + Count) of this thread's
/// slots of stage buffer `stage` (which points at that stage's first slot).
template <int Threads, int First, int Count>
__device__ __forceinline__ void stage_chunks(uint4* stage, const void* src) {
  const auto* s = static_cast<const uint4*>(src);
#pragma unroll
  for (int c = 0; c < Count; ++c) {
    const auto dst = static_cast<unsigned>(
        __cvta_generic_to_shared(stage + (First + c) * Threads + threadIdx.x));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(s + c));
  }
}

__device__ __forceinline__ void commit_stage() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}

/// Waits until at most `Pending` of this thread's committed groups are still in flight.
template <int Pending> __device__ __forceinline__ void wait_stages() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending) : "memory");
}

/// Reads Words 32-bit words from chunks [First, ...) of this thread's slots of `stage`.
template <int Threads, int First, int Words>
__device__ __forceinline__ void read_chunks(const uint4* stage, std::uint32_t (&w)[Words]) {
  static_assert(Words % 4 == 0, "read_chunks: whole 16-byte chunks only");
#pragma unroll
  for (int i = 0; i < Words / 4; ++i) {
    const uint4 v = stage[(First + i) * Threads + threadIdx.x];
    w[4 * i] = v.x;
    w[4 * i + 1] = v.y;
    w[4 * i + 2] = v.z;
    w[4 * i + 3] = v.w;
  }
}

/// Warp-cooperative staging (SqLanePolicy with CoalescedLoads): a warp's 32 banks are
/// consecutive in memory, so its lanes copy them as one coalesced run of 16-byte chunks (lane l
/// copies chunks l, l + 32, ...) and each lane then reads the Cw chunks of its own bank. Chunk c
/// of the warp's bank b sits in slot b·Cw + (c ^ f(b)), f(b) = (b / lanes_per_line) % Cw, with
/// lanes_per_line the banks that share a 128-byte line of slots: the 8 lanes of one 16-byte
/// shared-memory phase then hit 8 different 16-byte columns, for the copies and the reads.
template <int Cw> __device__ __forceinline__ int warp_slot(int bank, int chunk) {
  constexpr int lanes_per_line = Cw >= 8 ? 1 : 8 / Cw;
  return bank * Cw + (chunk ^ ((bank / lanes_per_line) % Cw));
}

/// Copies the first `valid` of the 32 banks of Cw chunks at `src` into `warp_stage` (32·Cw
/// slots) with cp.async; the caller commits, waits and __syncwarp()s before reading.
template <int Cw>
__device__ __forceinline__ void stage_warp_banks(uint4* warp_stage, const void* src, int valid) {
  static_assert(Cw >= 1 && (Cw & (Cw - 1)) == 0, "stage_warp_banks: Cw a power of two");
  const auto* s = static_cast<const uint4*>(src);
  const int lane = static_cast<int>(threadIdx.x % 32);
#pragma unroll
  for (int k = 0; k < Cw; ++k) {
    const int i = 32 * k + lane, bank = i / Cw, chunk = i % Cw;
    if (bank < valid) {
      const auto dst =
          static_cast<unsigned>(__cvta_generic_to_shared(warp_stage + warp_slot<Cw>(bank, chunk)));
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(s + i));
    }
  }
}

/// This lane's bank (Cw chunks = 4·Cw words) from its warp's stage.
template <int Cw>
__device__ __forceinline__ void read_warp_bank(const uint4* warp_stage,
                                               std::uint32_t (&w)[4 * Cw]) {
  const int lane = static_cast<int>(threadIdx.x % 32);
#pragma unroll
  for (int c = 0; c < Cw; ++c) {
    const uint4 v = warp_stage[warp_slot<Cw>(lane, c)];
    w[4 * c] = v.x;
    w[4 * c + 1] = v.y;
    w[4 * c + 2] = v.z;
    w[4 * c + 3] = v.w;
  }
}

/// stage_warp_banks with the address arithmetic worked out (HighFromStage kernels; same slots):
/// for Cw <= 32, copy k of lane l moves chunk c = l % Cw of bank q·k + l / Cw (q = 32 / Cw), and
/// that bank's swizzle is f = ((l / Cw / lpl) % Cw) ^ ((q / lpl · k) % Cw) (lpl = lanes_per_line;
/// the two terms occupy different bits), so the slot offset is a per-lane base plus a compile-time
/// constant and a compile-time XOR: no per-copy division, no predicate when the warp has all
/// 32 banks. `stage` is the shared-memory address of the warp's stage.
template <int Cw>
__device__ __forceinline__ void stage_warp_banks_fast(unsigned stage, const void* src, int valid) {
  static_assert(Cw >= 1 && Cw <= 32 && (Cw & (Cw - 1)) == 0,
                "stage_warp_banks_fast: Cw a power of two <= 32");
  constexpr int q = 32 / Cw, lanes_per_line = Cw >= 8 ? 1 : 8 / Cw;
  const auto* s = static_cast<const uint4*>(src);
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int bank0 = lane / Cw, chunk = lane % Cw;
  const unsigned base = stage + static_cast<unsigned>(bank0 * Cw * 16);
  const int lane_xor = chunk ^ ((bank0 / lanes_per_line) % Cw);
  auto copy = [&](int k) {
    const int x = lane_xor ^ ((q / lanes_per_line * k) % Cw);
    const unsigned dst = base + static_cast<unsigned>(q * k * Cw * 16 + x * 16);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(s + 32 * k + lane));
  };
  if (valid == 32) {
#pragma unroll
    for (int k = 0; k < Cw; ++k)
      copy(k);
  } else {
#pragma unroll
    for (int k = 0; k < Cw; ++k)
      if (q * k + bank0 < valid)
        copy(k);
  }
}

/// read_warp_bank with the swizzle as one XOR of the byte offset (HighFromStage kernels).
template <int Cw>
__device__ __forceinline__ void read_warp_bank_fast(const uint4* warp_stage,
                                                    std::uint32_t (&w)[4 * Cw]) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const auto* base = reinterpret_cast<const unsigned char*>(warp_stage + lane * Cw);
  const int swizzle = 16 * (warp_slot<Cw>(lane, 0) - lane * Cw);
#pragma unroll
  for (int c = 0; c < Cw; ++c) {
    const uint4 v = *reinterpret_cast<const uint4*>(base + ((16 * c) ^ swizzle));
    w[4 * c] = v.x;
    w[4 * c + 1] = v.y;
    w[4 * c + 2] = v.z;
    w[4 * c + 3] = v.w;
  }
}

} // namespace sqformat::gpu::datapath::detail::lane

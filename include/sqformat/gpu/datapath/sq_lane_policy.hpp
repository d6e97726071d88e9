// sqformat/gpu/datapath/sq_lane_policy.hpp: policy of the "lane owns a bank" kernels that WRITE
// an SQ tensor (weight packer, dynamic activation quantizer).
//
// Each lane holds one whole bank in registers: it loads it with 16-byte vector loads, finds the
// high set (the caller's mask, or its own top-H selection), quantizes, packs the bank's low and
// high words in registers and stores them. No block barriers, no shuffles: warps run
// independently, and an SQ tensor is one flat run of banks (a bank's output is whole 32-bit
// words), so consecutive lanes write consecutive memory.
//
// The kernels take only configs whose bank output is whole words and whose bank fits a lane's
// registers (sq_lane_kernel_fits). Launched with this policy, any other config runs the
// bank-group kernel (SqBankPolicy<>) instead, so every config gets correct bytes.
//
// Plain C++17, no CUDA headers.
#pragma once

#include <type_traits>

namespace sqformat::gpu::datapath {

/// \tparam Threads        threads per block, a multiple of 32 in [32, 1024] (one bank a thread).
/// \tparam MinBlocksPerSm blocks the compiler must fit on one SM (caps registers per thread).
///                        128 × 4 allows 128 registers: a bank of 64 fits without spills at
///                        16 warps an SM. Measured on H100 for write_bank: tighter caps (80,
///                        64 registers: more warps, but spills) and 168 registers (8 warps)
///                        are slower. For write_split_bank with 16-bit elements: 80 registers
///                        (128 × 6, 24 warps) is the fastest measured for the dynamic quantizer,
///                        102 (64 × 10, 20 warps, no spills) for the bf16 packer.
/// \tparam Stages         1: every thread packs one bank, loaded straight into registers
///                        (occupancy hides the latency). 2 or 3: persistent blocks, each thread
///                        walks banks g, g + grid, ... and keeps the next Stages - 1 banks
///                        loading (cp.async into its own slots of shared memory) while it
///                        quantizes the current one (measured slower than 1 on H100; kept as an
///                        option and as a second code path the tests compare). With
///                        HighFromStage, Stages counts the per-warp stages instead: a grid of
///                        resident warps, each walking batches of 32 banks and copying the
///                        next Stages - 1 batches while it quantizes one
///                        (detail/sq_lane_warp_pipeline.cuh).
/// \tparam CoalescedLoads The 32 lanes of a warp copy the warp's 32
///                        consecutive banks with coalesced 16-byte cp.async into a swizzled
///                        per-warp stage of shared memory, then each lane reads its own bank
///                        (conflict-free). A warp's direct loads of 32 banks 128+ bytes apart
///                        touch 32 lines per instruction (32 L1 wavefronts); coalesced, 4.
///                        Without HighFromStage only with Stages = 1.
/// \tparam HighFromStage  With CoalescedLoads: the bank is written by write_split_bank
///                        (detail/sq_lane_split_bank.cuh): every element quantized at the low
///                        scale in fixed point (no per-element choice of scale, one exactness
///                        branch a bank), the H high elements read back from the warp's stage
///                        and quantized alone; no per-lane code buffer in shared memory.
template <int Threads = 128, int MinBlocksPerSm = 4, int Stages = 1, bool CoalescedLoads = false,
          bool HighFromStage = false>
struct SqLanePolicy {
  static_assert(Threads % 32 == 0 && Threads >= 32 && Threads <= 1024,
                "SqLanePolicy: Threads must be a multiple of 32 in [32, 1024]");
  static_assert(MinBlocksPerSm >= 1, "SqLanePolicy: MinBlocksPerSm must be >= 1");
  static_assert(Stages >= 1 && Stages <= 3, "SqLanePolicy: Stages must lie in [1, 3]");
  static_assert(!CoalescedLoads || Stages == 1 || HighFromStage,
                "SqLanePolicy: CoalescedLoads with Stages > 1 needs HighFromStage");
  static_assert(!HighFromStage || CoalescedLoads,
                "SqLanePolicy: HighFromStage reads the warp's stage, so it needs CoalescedLoads");
  static constexpr int threads = Threads;
  static constexpr int min_blocks_per_sm = MinBlocksPerSm;
  static constexpr int stages = Stages;
  static constexpr bool coalesced_loads = CoalescedLoads;
  static constexpr bool high_from_stage = HighFromStage;
};

/// Defaults of pack_weights and dynamic_quantize (H100, M >= 2048, K in {4096, 8192, 28672},
/// percent of a same-traffic copy; "split" = HighFromStage; docs/performance.md):
///   packer bf16 W: split 64 × 10 73-101 with the read-sweep flush (the default; split 128 × 6,
///                  the default before, 70-100 in the same run); with the memset flush split
///                  128 × 6 77-99, coalesced 128 × 4 78-100, split 256 × 4 70-82, direct loads
///                  69-88; split pipelined slower
///   packer fp32 W: split 128 × 4 86-101 (the default), coalesced 128 × 4 80-101
///   dynamic B64:   split 128 × 6 50-75 with the read-sweep flush (the default; split 256 × 3,
///                  the default before, 48-73 in the same runs). Before the exact paths went
///                  out of line: split 128 × 5 and 128 × 6 within a point or two of 256 × 3,
///                  split pipelined 36-41.
/// Both split kernels quantize every element at the low scale in fixed point and redo only the
/// words with an element near a half-integer (bf16 data makes exact ties common, so most warps
/// redo a word or two); with 16-bit elements through one out-of-line copy of the IEEE
/// division: inline copies at every unrolled element made the dynamic kernel's code 93 KB and
/// its warps wait on instruction fetch (Nsight Compute), which cost 12-19 points.
/// pack_weights' default for config C and weights of type T: HighFromStage (write_split_bank)
/// with 128 registers for fp32 weights and blocks of 64 x 10 (102 registers, 20 warps an SM, no
/// spills) for bf16, where the bank's H high elements, which it holds in registers, are at most
/// 8 (the measured B64-(8/4) config); with more (H = 16, 32: 56-288 bytes of spills at 80
/// registers) the coalesced write_bank kernel (128 × 4, no spills), the previous default. For
/// bf16, 64 x 10 replaced 128 x 6 (80 registers, 24 bytes of spills): 2-4 % less time at every
/// M >= 2048 shape on an H100 (docs/performance.md, "Weight packer: bf16 weights in blocks of
/// 64 x 10").
template <class C, class T>
using SqLanePackPolicyFor =
    std::conditional_t<(C::high_per_bank > 8), SqLanePolicy<128, 4, 1, true>,
                       std::conditional_t<sizeof(T) == 4, SqLanePolicy<128, 4, 1, true, true>,
                                          SqLanePolicy<64, 10, 1, true, true>>>;
/// pack_weights' default Policy argument: a tag that stands for SqLanePackPolicyFor<C, T>.
struct SqLanePackPolicy {};
/// dynamic_quantize's default for configs with at most 8 high elements a bank (the measured
/// B64-(8/4) config): top_h_split with HighFromStage, 128 threads, 6 blocks (80 registers, 24
/// warps a SM). On an H100 it took 1-3.5 % less time than the same kernel in blocks of 256 x 3
/// (the default before) at every M >= 2048 shape, in three calls: 49.7-51.1 % against
/// 48.3-49.3 % of copy at 2048 x 4096, 68.1-68.9 against 66.1-67.4 at 8192 x 8192, 74.9-75.3
/// against 73.2-73.4 at 8192 x 28672 (docs/performance.md, "Dynamic quantizer: blocks of 128
/// threads").
using SqLaneDynamicPolicy = SqLanePolicy<128, 6, 1, true, true>;
/// dynamic_quantize's default for config C: SqLaneDynamicPolicy where a bank has at most 8 high
/// elements; the same kernel in blocks of 256 x 3 for 9 to 16 (at H = 16 the 128 x 6 blocks took
/// 2-8 % more time: the bank's high elements, which it holds in registers, spill 32 bytes);
/// else the coalesced write_bank kernel at 256 x 3 (SqLanePolicy<256, 3, 1, true>). At H = 32
/// (B64, 3-bit low) the split kernel spills 380 bytes at 80 registers, and on an H100 it took
/// 36.2-36.4 / 60.5 / 175 us where the coalesced kernel took 29.4-29.6 / 51.1 / 156-165 us
/// (M = 2048, K = 4096 / 8192 / 28672; 35-36 % against 39-44 % of copy at M = 2048 and 8192).
/// At H = 16 (4- and 2-bit low) the split kernel ties at 2048 x 4096 and leads at the other
/// shapes: 51-61 % against 45-52 % (docs/performance.md).
template <class C>
using SqLaneDynamicPolicyFor = std::conditional_t<
    (C::high_per_bank > 16), SqLanePolicy<256, 3, 1, true>,
    std::conditional_t<(C::high_per_bank > 8), SqLanePolicy<256, 3, 1, true, true>,
                       SqLaneDynamicPolicy>>;

template <class Policy> struct is_sq_lane_policy : std::false_type {};
template <int Threads, int MinBlocksPerSm, int Stages, bool CoalescedLoads, bool HighFromStage>
struct is_sq_lane_policy<
    SqLanePolicy<Threads, MinBlocksPerSm, Stages, CoalescedLoads, HighFromStage>> : std::true_type {
};
template <class Policy> constexpr bool is_sq_lane_policy_v = is_sq_lane_policy<Policy>::value;

/// True when the lane kernels handle `Config`: 16 <= b <= 64 (a bank in one lane's registers,
/// 16-byte loads of its inputs) and both packed parts of a bank are whole 32-bit words.
template <class Config>
constexpr bool sq_lane_kernel_fits = Config::bank >= 16 && Config::bank <= 64 &&
                                     (Config::bank * Config::low_bits) % 32 == 0 &&
                                     (Config::high_per_bank * Config::high_bits) % 32 == 0;

} // namespace sqformat::gpu::datapath

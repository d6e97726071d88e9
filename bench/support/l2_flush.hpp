// bench/support/l2_flush.hpp: evicts the L2 cache between timed iterations, so every iteration
// reads its inputs from HBM.
//
// Two ways, chosen by the environment variable SQFORMAT_BENCH_L2_FLUSH (recorded in the
// benchmark's context as "l2_flush"):
//   read  (default) a kernel reads a buffer of twice the L2 size that nothing writes after
//         setup. The L2 is left holding clean lines, so the timed call's DRAM traffic is its own:
//         its reads, and the write-back of what it writes.
//   write a memset of twice the L2 size (what many harnesses do). The L2 is left holding up to
//         an L2's worth of dirty lines, and the timed call writes back every one it evicts: a
//         call that reads R bytes pays up to min(R, L2 size) of extra DRAM writes. That charges
//         a short call (a decode GEMM reading 34 MB) far more, relative to its own traffic, than
//         a long one (a BF16 GEMM reading 134 MB), which is why the benchmarks default to read.
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace sqformat::bench {

namespace l2_flush_detail {

/// Reads n 16-byte words (L2-allocating loads); the xor of everything read is stored only if it
/// equals `never` (the buffer is zero, `never` is not), so the loads cannot be dropped.
template <int = 0>
__global__ void read_sweep(const uint4* p, std::size_t n, std::uint32_t never,
                           std::uint32_t* sink) {
  std::uint32_t acc = 0;
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n;
       i += std::size_t{gridDim.x} * blockDim.x) {
    const uint4 v = __ldcg(p + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == never)
    *sink = acc;
}

/// True for the memset flush (SQFORMAT_BENCH_L2_FLUSH=write), false for the read sweep.
inline bool write_mode() {
  const char* v = std::getenv("SQFORMAT_BENCH_L2_FLUSH");
  return v != nullptr && std::strcmp(v, "write") == 0;
}

/// Puts the flush mode into the benchmark's context (before RunSpecifiedBenchmarks prints it).
inline const bool context_added =
    (benchmark::AddCustomContext("l2_flush", write_mode() ? "write (memset 2x L2)"
                                                          : "read (sweep of 2x L2, clean lines)"),
     true);

} // namespace l2_flush_detail

class L2Flush {
public:
  L2Flush() : write_(l2_flush_detail::write_mode()) {
    int device = 0, l2 = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device);
    cudaDeviceGetAttribute(&sms_, cudaDevAttrMultiProcessorCount, device);
    bytes_ = 2 * static_cast<std::size_t>(l2 > 0 ? l2 : (64 << 20));
    if (cudaMalloc(&buffer_, bytes_ + 16) != cudaSuccess) {
      buffer_ = nullptr;
      return;
    }
    // Zero once, then two sweeps, which evict (write back) the lines the memset left dirty.
    cudaMemset(buffer_, 0, bytes_ + 16);
    if (!write_) {
      flush();
      flush();
    }
    cudaDeviceSynchronize();
  }
  L2Flush(const L2Flush&) = delete;
  L2Flush& operator=(const L2Flush&) = delete;
  ~L2Flush() { cudaFree(buffer_); }
  /// Enqueues the flush on `stream`.
  void flush(cudaStream_t stream = nullptr) {
    if (buffer_ == nullptr)
      return;
    if (write_) { // a different byte value each time, so nothing is elided
      cudaMemsetAsync(buffer_, ++value_ & 0xFF, bytes_, stream);
    } else {
      auto* const p = static_cast<const uint4*>(buffer_);
      l2_flush_detail::read_sweep<<<4 * (sms_ > 0 ? sms_ : 132), 512, 0, stream>>>(
          p, bytes_ / 16, 0xFFFFFFFFu,
          reinterpret_cast<std::uint32_t*>(static_cast<unsigned char*>(buffer_) + bytes_));
    }
  }
  std::size_t bytes() const { return bytes_; }

private:
  void* buffer_ = nullptr;
  std::size_t bytes_ = 0;
  int sms_ = 0;
  int value_ = 0;
  bool write_ = false;
};

} // namespace sqformat::bench

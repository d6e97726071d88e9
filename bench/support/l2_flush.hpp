// bench/support/l2_flush.hpp: evicts the L2 cache between timed iterations by writing a buffer
// twice the L2 size (queried from the device), so every iteration reads its inputs from HBM.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace sqformat::bench {

class L2Flush {
public:
  L2Flush() {
    int device = 0, l2 = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device);
    bytes_ = 2 * static_cast<std::size_t>(l2 > 0 ? l2 : (64 << 20));
    if (cudaMalloc(&buffer_, bytes_) != cudaSuccess)
      buffer_ = nullptr;
  }
  L2Flush(const L2Flush&) = delete;
  L2Flush& operator=(const L2Flush&) = delete;
  ~L2Flush() { cudaFree(buffer_); }
  /// Enqueues the flush on `stream` (a different byte value each time, so nothing is elided).
  void flush(cudaStream_t stream = nullptr) {
    if (buffer_ != nullptr)
      cudaMemsetAsync(buffer_, ++value_ & 0xFF, bytes_, stream);
  }
  std::size_t bytes() const { return bytes_; }

private:
  void* buffer_ = nullptr;
  std::size_t bytes_ = 0;
  int value_ = 0;
};

} // namespace sqformat::bench

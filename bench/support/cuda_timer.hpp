// bench/support/cuda_timer.hpp: GPU-side timing with CUDA events, and the median helper.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

namespace sqformat::bench {

/// Times work enqueued on one stream between start() and stop(), in seconds of GPU time.
class CudaEventTimer {
public:
  explicit CudaEventTimer(cudaStream_t stream = nullptr) : stream_(stream) {
    cudaEventCreate(&begin_);
    cudaEventCreate(&end_);
  }
  CudaEventTimer(const CudaEventTimer&) = delete;
  CudaEventTimer& operator=(const CudaEventTimer&) = delete;
  ~CudaEventTimer() {
    cudaEventDestroy(begin_);
    cudaEventDestroy(end_);
  }
  void start() { cudaEventRecord(begin_, stream_); }
  /// Records the end event, waits for it and returns the elapsed seconds.
  double stop() {
    cudaEventRecord(end_, stream_);
    cudaEventSynchronize(end_);
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, begin_, end_);
    return static_cast<double>(ms) * 1e-3;
  }

private:
  cudaStream_t stream_;
  cudaEvent_t begin_{}, end_{};
};

inline double median(std::vector<double> v) {
  if (v.empty())
    return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

} // namespace sqformat::bench

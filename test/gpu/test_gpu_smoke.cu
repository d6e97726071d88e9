// The GPU test harness itself: a kernel runs and its result comes back.
#include "sq_catch.hpp"

#include <cuda_runtime.h>

namespace {
__global__ void write_index(int* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = 3 * i + 1;
}
} // namespace

TEST_CASE("a kernel runs on the device", "[gpu][smoke]") {
  const int n = 1000;
  int* d = nullptr;
  REQUIRE(cudaMalloc(&d, n * sizeof(int)) == cudaSuccess);
  REQUIRE(cudaMemset(d, 0xff, n * sizeof(int)) == cudaSuccess);
  write_index<<<(n + 255) / 256, 256>>>(d, n);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  int h[n];
  REQUIRE(cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost) == cudaSuccess);
  cudaFree(d);
  for (int i = 0; i < n; ++i)
    REQUIRE(h[i] == 3 * i + 1);
}

// Device code of a consumer: the configuration constants are usable inside a kernel.
#include <sqformat/config.hpp>
#include <sqformat/status.hpp>

#include <cstdio>
#include <cuda_runtime.h>

using Sq5 = sqformat::SqConfig<16, 4>; // B-(8/4)-0.75

__global__ void write_constants(int* out) {
  out[0] = Sq5::bank;
  out[1] = Sq5::high_per_bank;
  out[2] = Sq5::low_sentinel;
}

int main() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::printf("consumer_cuda: built; no CUDA device here, so the kernel was not launched\n");
    return 0;
  }
  int* d = nullptr;
  int h[3] = {0, 0, 0};
  if (cudaMalloc(&d, sizeof(h)) != cudaSuccess)
    return 1;
  write_constants<<<1, 1>>>(d);
  const bool copied = cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost) == cudaSuccess;
  cudaFree(d);
  const bool ok = copied && h[0] == 16 && h[1] == 4 && h[2] == -8;
  std::printf("consumer_cuda: kernel read SqConfig<16, 4>: bank %d, high %d, sentinel %d: %s\n",
              h[0], h[1], h[2], ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}

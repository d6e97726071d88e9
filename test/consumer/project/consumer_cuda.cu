// Device side of a consumer: the configuration constants inside a kernel, and the GPU GEMM's
// header with its host-side argument check (no device needed for that part).
#include <sqformat/config.hpp>
#include <sqformat/gpu/gemm/w4a_sq_static_auto.cuh>
#include <sqformat/status.hpp>

#include "gpu_headers.cuh"

#include <cstdio>
#include <cuda_runtime.h>

using Sq5 = sqformat::SqConfig<16, 4>; // B16-(8/4)-0.75

__global__ void write_constants(int* out) {
  out[0] = Sq5::bank;
  out[1] = Sq5::high_per_bank;
  out[2] = Sq5::low_sentinel;
}

int second_translation_unit(); // consumer_cuda_second_tu.cu

int main() {
  if (second_translation_unit() != Sq5::bank)
    return 1;
  // can_implement diagnoses misuse on the host, before anything touches the device.
  using Gemm = sqformat::gpu::GemmW4ASqStaticAuto<Sq5>;
  sqformat::gpu::W4ASqStaticArguments args;
  args.m = 16;
  args.n = 64;
  args.k = 1000; // not a multiple of the bank
  const char* reason = "";
  const sqformat::Status status = Gemm::can_implement(args, &reason);
  std::printf("consumer_cuda: can_implement(K = 1000): %s (%s)\n", sqformat::to_string(status),
              reason);
  if (status != sqformat::Status::k_not_multiple_of_bank)
    return 1;

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

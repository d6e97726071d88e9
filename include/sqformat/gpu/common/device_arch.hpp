// sqformat/gpu/common/device_arch.hpp: which kernel family the current device can run.
//
// Host code (CUDA runtime only). Kernels are chosen by the device's compute capability at run
// time; a device without a kernel in this build gets Status::unsupported_architecture.
#pragma once

#include <cuda_runtime.h>

#include "../../status.hpp"

namespace sqformat::gpu {

/// Compute capability of the current device as major * 10 + minor (80, 89, 90, ...).
inline Status current_compute_capability(int& sm) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess)
    return Status::cuda_error;
  int major = 0, minor = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess)
    return Status::cuda_error;
  sm = major * 10 + minor;
  return Status::success;
}

/// Whether `kernel` has machine code for exactly `sm` in this build. A binary built for an older
/// architecture would otherwise run through binary compatibility, and kernels compiled to empty
/// bodies for that architecture (the arch-guarded ones) must never run.
template <class Kernel> inline bool kernel_built_for(Kernel kernel, int sm) {
  cudaFuncAttributes attributes{};
  if (cudaFuncGetAttributes(&attributes, reinterpret_cast<const void*>(kernel)) != cudaSuccess) {
    (void)cudaGetLastError(); // clear the sticky "no kernel image" error
    return false;
  }
  return attributes.binaryVersion == sm;
}

} // namespace sqformat::gpu

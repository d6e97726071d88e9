// sqformat/gpu/common/device_arch.hpp: which kernel family the current device can run.
//
// Host code (CUDA runtime only). Kernels are chosen by the device's compute capability at run
// time; a device without a kernel in this build gets Status::unsupported_architecture. Device
// attributes and kernel versions, which never change while the process runs, are queried once per
// device (and kernel).
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <map>
#include <mutex>
#include <utility>

#include "../../status.hpp"

namespace sqformat::gpu {

namespace detail {

/// Facts about a device that never change while the process runs, queried once per device:
/// every run() asks them, and a decode-sized kernel runs for only tens of microseconds, so
/// repeated driver queries (cudaFuncGetAttributes in particular) would show up in its time.
constexpr int kCachedDevices = 64;
struct DeviceFacts {
  std::atomic<int> compute_capability{0}; ///< 0: not queried yet
  std::atomic<int> sm_count{0};
};
inline DeviceFacts* device_facts(int device) {
  static DeviceFacts facts[kCachedDevices];
  return device >= 0 && device < kCachedDevices ? &facts[device] : nullptr;
}

/// Per (kernel, device): the architecture of the machine code the device runs (binary version)
/// and the virtual architecture it was compiled from (PTX version); 0 while unknown.
struct KernelFacts {
  int binary_version = 0;
  int ptx_version = 0;
};
inline std::mutex& kernel_facts_mutex() {
  static std::mutex m;
  return m;
}
inline std::map<std::pair<const void*, int>, KernelFacts>& kernel_facts() {
  static std::map<std::pair<const void*, int>, KernelFacts> facts;
  return facts;
}

/// Queries one device attribute through the per-device cache.
inline Status cached_device_attribute(std::atomic<int> DeviceFacts::*field,
                                      int (*query)(int device, int& value), int& value) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess)
    return Status::cuda_error;
  DeviceFacts* facts = device_facts(device);
  if (facts != nullptr) {
    const int cached = (facts->*field).load(std::memory_order_relaxed);
    if (cached != 0) {
      value = cached;
      return Status::success;
    }
  }
  if (query(device, value) != 0)
    return Status::cuda_error;
  if (facts != nullptr)
    (facts->*field).store(value, std::memory_order_relaxed);
  return Status::success;
}

} // namespace detail

/// Compute capability of the current device as major * 10 + minor (80, 89, 90, ...).
inline Status current_compute_capability(int& sm) {
  return detail::cached_device_attribute(
      &detail::DeviceFacts::compute_capability,
      [](int device, int& value) {
        int major = 0, minor = 0;
        if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) !=
                cudaSuccess ||
            cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) !=
                cudaSuccess)
          return 1;
        value = major * 10 + minor;
        return 0;
      },
      sm);
}

/// Number of SMs of the current device.
inline Status current_sm_count(int& sms) {
  return detail::cached_device_attribute(
      &detail::DeviceFacts::sm_count,
      [](int device, int& value) {
        return cudaDeviceGetAttribute(&value, cudaDevAttrMultiProcessorCount, device) == cudaSuccess
                   ? 0
                   : 1;
      },
      sms);
}

/// The versions of the code the current device would run for `kernel`: `binary` is the machine
/// code's architecture (major * 10 + minor), `ptx` the virtual architecture it was compiled from
/// (they differ when the driver compiles embedded PTX for a newer device, and a kernel whose body
/// is guarded by `__CUDA_ARCH__` is empty when that PTX is older than the guard). Returns
/// `unsupported_architecture` when the build holds no code this device can run (remembered per
/// kernel and device), `cuda_error` when the query itself failed (not remembered).
inline Status kernel_versions(const void* kernel, int& binary, int& ptx) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess)
    return Status::cuda_error;
  std::lock_guard<std::mutex> lock(detail::kernel_facts_mutex());
  detail::KernelFacts& facts = detail::kernel_facts()[{kernel, device}];
  if (facts.binary_version == 0) {
    cudaFuncAttributes attributes{};
    const cudaError_t e = cudaFuncGetAttributes(&attributes, kernel);
    if (e == cudaErrorInvalidDeviceFunction || e == cudaErrorNoKernelImageForDevice) {
      (void)cudaGetLastError(); // not sticky: clear it so that it is not reported later
      facts.binary_version = facts.ptx_version = -1;
    } else if (e != cudaSuccess) {
      (void)cudaGetLastError();
      return Status::cuda_error;
    } else {
      facts.binary_version = attributes.binaryVersion;
      facts.ptx_version = attributes.ptxVersion;
    }
  }
  binary = facts.binary_version;
  ptx = facts.ptx_version;
  return binary < 0 ? Status::unsupported_architecture : Status::success;
}

/// Whether `kernel` has code for this device that was compiled for at least `min_sm` (so a body
/// guarded by `__CUDA_ARCH__ >= min_sm` is not empty): `unsupported_architecture` if not.
template <class Kernel> inline Status check_kernel_arch(Kernel kernel, int min_sm) {
  int binary = 0, ptx = 0;
  const Status s = kernel_versions(reinterpret_cast<const void*>(kernel), binary, ptx);
  if (s != Status::success)
    return s;
  return binary >= min_sm && ptx >= min_sm ? Status::success : Status::unsupported_architecture;
}

/// Whether `kernel` has machine code for exactly `sm` in this build. A binary built for an older
/// architecture would otherwise run through binary compatibility, and kernels compiled to empty
/// bodies for that architecture (the arch-guarded ones) must never run.
template <class Kernel> inline bool kernel_built_for(Kernel kernel, int sm) {
  int binary = 0, ptx = 0;
  return kernel_versions(reinterpret_cast<const void*>(kernel), binary, ptx) == Status::success &&
         binary == sm && ptx == sm;
}

/// Raises `kernel`'s dynamic shared-memory limit to `bytes`. Called on every launch: the limit
/// belongs to the current context, which a cudaDeviceReset or another context replaces, and the
/// call is cheap.
template <class Kernel> inline Status ensure_dynamic_shared_memory(Kernel kernel, int bytes) {
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes) ==
                 cudaSuccess
             ? Status::success
             : Status::cuda_error;
}

} // namespace sqformat::gpu

// sqformat/gpu/common/device_arch.hpp: which kernel family the current device can run.
//
// Host code (CUDA runtime only). Kernels are chosen by the device's compute capability at run
// time; a device without a kernel in this build gets Status::unsupported_architecture. The
// answers are cached per device (and per kernel), so that run() costs no repeated driver queries.
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

/// Per (kernel, device): the kernel's binary version (-1: no machine code for the device) and
/// the dynamic shared-memory limit already set with cudaFuncSetAttribute.
struct KernelFacts {
  int binary_version = 0;
  int dynamic_shared = 0;
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

/// The binary version of `kernel`'s machine code for the current device (major * 10 + minor),
/// or -1 when the build has none that the device can run; cached per kernel and device.
inline int kernel_binary_version(const void* kernel) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess)
    return -1;
  std::lock_guard<std::mutex> lock(detail::kernel_facts_mutex());
  detail::KernelFacts& facts = detail::kernel_facts()[{kernel, device}];
  if (facts.binary_version == 0) {
    cudaFuncAttributes attributes{};
    if (cudaFuncGetAttributes(&attributes, kernel) != cudaSuccess) {
      (void)cudaGetLastError(); // clear the "no kernel image" error
      facts.binary_version = -1;
    } else {
      facts.binary_version = attributes.binaryVersion;
    }
  }
  return facts.binary_version;
}

/// Whether `kernel` has machine code for exactly `sm` in this build. A binary built for an older
/// architecture would otherwise run through binary compatibility, and kernels compiled to empty
/// bodies for that architecture (the arch-guarded ones) must never run.
template <class Kernel> inline bool kernel_built_for(Kernel kernel, int sm) {
  return kernel_binary_version(reinterpret_cast<const void*>(kernel)) == sm;
}

/// Raises `kernel`'s dynamic shared-memory limit on the current device to at least `bytes`
/// (cudaFuncSetAttribute once per kernel, device and size).
template <class Kernel> inline Status ensure_dynamic_shared_memory(Kernel kernel, int bytes) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess)
    return Status::cuda_error;
  const void* key = reinterpret_cast<const void*>(kernel);
  std::lock_guard<std::mutex> lock(detail::kernel_facts_mutex());
  detail::KernelFacts& facts = detail::kernel_facts()[{key, device}];
  if (facts.dynamic_shared >= bytes)
    return Status::success;
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes) !=
      cudaSuccess)
    return Status::cuda_error;
  facts.dynamic_shared = bytes;
  return Status::success;
}

} // namespace sqformat::gpu

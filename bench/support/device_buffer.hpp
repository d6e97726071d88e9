// bench/support/device_buffer.hpp: an owning device allocation filled with random bytes.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace sqformat::bench {

namespace detail {
// Templates so that the header can be included by several translation units.
/// Byte i = a hash of (seed, i), masked: random-looking, never all zero.
template <class Byte>
__global__ void fill_random_bytes(Byte* p, std::size_t n, std::uint32_t seed,
                                  std::uint8_t and_mask) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    std::uint32_t h = static_cast<std::uint32_t>(i) * 0x9E3779B1u ^ seed;
    h ^= h >> 15;
    h *= 0x2C1B3C6Du;
    h ^= h >> 12;
    p[i] = static_cast<Byte>(static_cast<std::uint8_t>(h) & and_mask);
  }
}
template <class Float> __global__ void fill_float(Float* p, std::size_t n, float value) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x)
    p[i] = static_cast<Float>(value);
}
} // namespace detail

class DeviceBuffer {
public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
    if (cudaMalloc(&ptr_, bytes > 0 ? bytes : 1) != cudaSuccess)
      ptr_ = nullptr;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      cudaFree(ptr_);
      ptr_ = o.ptr_;
      bytes_ = o.bytes_;
      o.ptr_ = nullptr;
    }
    return *this;
  }
  ~DeviceBuffer() { cudaFree(ptr_); }

  /// Random bytes; `and_mask` keeps a number format away from NaN/Inf patterns (e.g. 0x3F for
  /// bf16 high bytes or e4m3 bytes).
  DeviceBuffer& randomize(std::uint32_t seed, std::uint8_t and_mask = 0xFF) {
    if (ptr_ != nullptr && bytes_ > 0)
      detail::fill_random_bytes<<<1024, 256>>>(static_cast<std::uint8_t*>(ptr_), bytes_, seed,
                                               and_mask);
    return *this;
  }
  DeviceBuffer& fill_floats(float value) {
    if (ptr_ != nullptr && bytes_ >= 4)
      detail::fill_float<<<256, 256>>>(static_cast<float*>(ptr_), bytes_ / 4, value);
    return *this;
  }
  template <class T = void> T* get() const { return static_cast<T*>(ptr_); }
  std::size_t bytes() const { return bytes_; }
  explicit operator bool() const { return ptr_ != nullptr; }

private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

} // namespace sqformat::bench

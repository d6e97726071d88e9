// Helpers of the data-path GPU tests: device buffers, random and adversarial inputs, seeds.
#pragma once

#include <cstdint>
#include <cstring>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "sq_catch.hpp"
#include "sqformat/config.hpp"
#include "sqformat/gpu/datapath/layout.hpp"
#include "sqformat/gpu/datapath/status_word.cuh"

namespace datapath_test {

/// The configurations (b, H, high bits, low bits) every data-path kernel is tested over.
using Configs = std::tuple<sqformat::SqConfig<4, 2, 8, 4>, sqformat::SqConfig<16, 4, 8, 4>,
                           sqformat::SqConfig<32, 8, 8, 4>, sqformat::SqConfig<64, 8, 8, 4>,
                           sqformat::SqConfig<128, 8, 8, 4>, sqformat::SqConfig<64, 16, 8, 2>,
                           sqformat::SqConfig<64, 32, 8, 3>, sqformat::SqConfig<16, 8, 4, 2>>;

template <class T> class DeviceBuffer {
public:
  explicit DeviceBuffer(std::size_t count) : count_(count) {
    REQUIRE(cudaMalloc(&data_, (count > 0 ? count : 1) * sizeof(T)) == cudaSuccess);
    // Fill with a pattern so that a byte the kernel forgets to write shows up as a mismatch.
    REQUIRE(cudaMemset(data_, 0xa5, (count > 0 ? count : 1) * sizeof(T)) == cudaSuccess);
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) {
    REQUIRE(cudaMemcpy(data_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice) ==
            cudaSuccess);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(data_); }
  T* get() const { return data_; }
  std::vector<T> to_host() const {
    std::vector<T> host(count_);
    REQUIRE(cudaMemcpy(host.data(), data_, count_ * sizeof(T), cudaMemcpyDeviceToHost) ==
            cudaSuccess);
    return host;
  }

private:
  T* data_ = nullptr;
  std::size_t count_ = 0;
};

/// A data-path workspace, zeroed once as the API asks.
class Workspace {
public:
  Workspace() {
    REQUIRE(sqformat::gpu::datapath::reset_workspace(buffer_.get(), nullptr) ==
            sqformat::Status::success);
  }
  void* get() const { return buffer_.get(); }

private:
  DeviceBuffer<std::uint8_t> buffer_{sqformat::gpu::datapath::workspace_size()};
};

/// Checks that a reason string (a `const char*`, possibly null) contains `text`; a failure prints
/// the reason. A matcher, not INFO: with Catch2 3.x headers, INFO in this macro kept nvcc's front
/// end (cudafe++) busy for more than five minutes on test_datapath_static.cu, against 1.5 without
/// (docs/building.md, "Two Catch2 versions").
#define CHECK_REASON(reason, text)                                                                 \
  do {                                                                                             \
    const char* const reason_seen_ = (reason);                                                     \
    CHECK_THAT(std::string(reason_seen_ != nullptr ? reason_seen_ : "(null)"),                     \
               Catch::Matchers::ContainsSubstring(text));                                          \
  } while (0)

inline std::uint64_t fresh_seed() {
  return (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
}

/// Kinds of input data. Each is a row-major rows × cols float matrix whose values are exactly
/// representable in bf16 (and fp16 where the range allows).
enum class Data {
  random,      ///< uniform magnitudes over several binades, random signs
  ties,        ///< few distinct magnitudes: ties at the top-H threshold, -0 and +0
  zero_banks,  ///< random, with all-zero banks and an all-zero row
  outliers,    ///< random, with huge outliers in some banks
  half_points, ///< x / scale lands exactly on n + 0.5 (ties-to-even in rint)
};
inline const char* name(Data d) {
  switch (d) {
  case Data::random: return "random";
  case Data::ties: return "ties";
  case Data::zero_banks: return "zero_banks";
  case Data::outliers: return "outliers";
  case Data::half_points: return "half_points";
  }
  return "?";
}
constexpr Data all_data[] = {Data::random, Data::ties, Data::zero_banks, Data::outliers,
                             Data::half_points};

/// Rounds to bf16 precision (to nearest), so the float value is what a bf16 input holds.
inline float to_bf16_value(float v) { return __bfloat162float(__float2bfloat16_rn(v)); }

/// Values `(n + 1/2) · 2^e` with |n + 1/2| < qmax, and one of magnitude qmax · 2^e, at the
/// given positions: with scale = amax / qmax = 2^e every x / scale is exactly n + 1/2.
inline void fill_half_points(std::vector<float>& x, const std::vector<std::size_t>& positions,
                             int qmax, int exponent, std::mt19937_64& rng) {
  if (positions.empty())
    return;
  std::uniform_int_distribution<int> n(-qmax, qmax - 1);
  for (std::size_t p : positions)
    x[p] = std::ldexp(static_cast<float>(n(rng)) + 0.5f, exponent);
  const std::size_t peak = positions[rng() % positions.size()];
  x[peak] = std::ldexp(static_cast<float>(rng() % 2 ? qmax : -qmax), exponent);
}

/// rows × cols input of the given kind. `high` (same shape, 1 = high) tells half_points which
/// elements share a scale group; the other kinds ignore it. Values lie in the fp16 range unless
/// `outliers` (which uses magnitudes only bf16 and float hold, or 6e4 for fp16).
inline std::vector<float> make_data(Data kind, std::size_t rows, std::size_t cols, int bank,
                                    const std::vector<std::uint8_t>& high, int high_qmax,
                                    int low_qmax, bool fp16_range, std::mt19937_64& rng) {
  std::vector<float> x(rows * cols);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_int_distribution<int> binade(-6, 3);
  for (float& v : x)
    v = to_bf16_value(std::ldexp(unit(rng), binade(rng)));
  const std::size_t banks = cols / bank;
  switch (kind) {
  case Data::random: break;
  case Data::ties: {
    const float levels[] = {0.0f, -0.0f, 1.0f, -1.0f, 2.0f, -2.0f, 0.5f};
    for (float& v : x)
      v = levels[rng() % 7];
    break;
  }
  case Data::zero_banks:
    for (std::size_t i = 0; i < rows * banks; ++i)
      if (rng() % 3 == 0)
        std::fill_n(x.begin() + i * bank, bank, 0.0f);
    std::fill_n(x.begin() + (rng() % rows) * cols, cols, 0.0f);
    break;
  case Data::outliers:
    for (std::size_t i = 0; i < rows * banks; ++i)
      if (rng() % 4 == 0)
        x[i * bank + rng() % bank] = (rng() % 2 ? 1.0f : -1.0f) * (fp16_range ? 6.0e4f : 1.0e30f);
    break;
  case Data::half_points:
    // Per (row, bank): one group of high elements and one of low ones, the low ones 2^5 smaller
    // so they also lose any |x| ranking against the high ones. Per-token groups still see exact
    // .5 points for the bank that holds the row's peak.
    for (std::size_t r = 0; r < rows; ++r) {
      const int e = static_cast<int>(rng() % 4) - 2;
      for (std::size_t bk = 0; bk < banks; ++bk) {
        std::vector<std::size_t> hi, lo;
        for (int i = 0; i < bank; ++i) {
          const std::size_t p = r * cols + bk * bank + i;
          (high[p] ? hi : lo).push_back(p);
        }
        fill_half_points(x, hi, high_qmax, e, rng);
        fill_half_points(x, lo, low_qmax, e - 5 - (high_qmax == 7 ? 0 : 3), rng);
      }
    }
    break;
  }
  return x;
}

/// Random mask with exactly H ones per (row, bank).
inline std::vector<std::uint8_t> random_mask(std::size_t rows, std::size_t cols, int bank, int h,
                                             std::mt19937_64& rng) {
  std::vector<std::uint8_t> mask(rows * cols, 0);
  std::vector<int> index(bank);
  for (std::size_t base = 0; base < rows * cols; base += bank) {
    for (int i = 0; i < bank; ++i)
      index[i] = i;
    std::shuffle(index.begin(), index.end(), rng);
    for (int i = 0; i < h; ++i)
      mask[base + index[i]] = 1;
  }
  return mask;
}

template <class T> std::vector<T> convert(const std::vector<float>& x) {
  std::vector<T> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    if constexpr (std::is_same_v<T, __nv_bfloat16>)
      out[i] = __float2bfloat16_rn(x[i]);
    else if constexpr (std::is_same_v<T, __half>)
      out[i] = __float2half_rn(x[i]);
    else
      out[i] = x[i];
  }
  return out;
}

template <class T> std::vector<float> to_float(const std::vector<T>& x) {
  std::vector<float> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    if constexpr (std::is_same_v<T, __nv_bfloat16>)
      out[i] = __bfloat162float(x[i]);
    else if constexpr (std::is_same_v<T, __half>)
      out[i] = __half2float(x[i]);
    else
      out[i] = x[i];
  }
  return out;
}

/// Index of the first differing element, or -1: integer data must match bit for bit.
template <class T> long first_difference(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size())
    return 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0)
      return static_cast<long>(i);
  return -1;
}

} // namespace datapath_test

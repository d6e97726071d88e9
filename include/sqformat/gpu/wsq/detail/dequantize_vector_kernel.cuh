// sqformat/gpu/wsq/detail/dequantize_vector_kernel.cuh: W(SQ) -> dense 16-bit W, the staged
// vector form, for configurations whose banks hold whole 16-byte vectors of low codes (b * low
// bits a multiple of 128, b a multiple of 8 up to 128: SQ5 and SQ6 at b = 64 among them).
//
// A warp takes 32 consecutive (row, bank) items; since the packed rows and the dense rows are
// both contiguous, item i's low codes start at byte i * b * bits / 8 and its outputs at element
// i * b. Each lane loads its bank's low codes with 16-byte loads, decodes them from registers
// (same values as the scalar form: BankValues) and puts 8 outputs at a time into the warp's
// shared-memory slot; then the warp stores the slot's 32 * b outputs as consecutive 16-byte
// chunks, 512 contiguous bytes an instruction. Slots are padded by 16 bytes a lane, so that the
// 8 lanes of a quarter-warp write to distinct shared-memory banks; the reads are conflict-free at
// b = 64 and 128 and 2-way at b = 32 (a lane row of 4 chunks plus the pad).
#pragma once

#include <cstdint>

#include "../weights_view.hpp"
#include "codes.cuh"
#include "dequantize_kernel.cuh"

namespace sqformat::gpu::wsq_detail {

template <class C>
inline constexpr bool
    dequantize_vector_supports = C::bank % 8 == 0 &&
                                 (C::bank * C::low_bits) % 128 == 0 && C::bank <= 128;
inline constexpr int kDequantizeVectorThreads = 128;

/// Code i of a run of Bits-bit codes held in 32-bit words (the packed bytes in little-endian
/// order, as read_code reads them), sign-extended. With i known at compile time the words stay in
/// registers.
template <int Bits, int Words>
__device__ __forceinline__ int code_from_words(const std::uint32_t (&words)[Words], int i) {
  const unsigned bit = static_cast<unsigned>(i) * Bits;
  const unsigned wi = bit / 32, shift = bit % 32;
  std::uint64_t window = words[wi];
  if (shift + Bits > 32)
    window |= static_cast<std::uint64_t>(words[wi + 1]) << 32;
  const int raw = static_cast<int>((window >> shift) & ((1u << Bits) - 1u));
  constexpr int sign = 1 << (Bits - 1);
  return (raw ^ sign) - sign;
}

template <class T> __device__ __forceinline__ std::uint32_t half16_bits(T v) {
  return *reinterpret_cast<const std::uint16_t*>(&v);
}

template <class C, class T>
__global__ void __launch_bounds__(kDequantizeVectorThreads)
    wsq_dequantize_vector_kernel(WsqWeightsView<C> w, T* __restrict__ out) {
  static_assert(dequantize_vector_supports<C>, "wsq_dequantize_vector_kernel: see its header");
  constexpr int kChunks = C::bank / 8;                  // 16-byte output chunks a bank
  constexpr int kSlotRow = kChunks + 1;                 // a lane's padded row of the slot
  constexpr int kLowWords = C::bank * C::low_bits / 32; // a bank's low codes, 32-bit words
  constexpr int kWarps = kDequantizeVectorThreads / 32;
  __shared__ uint4 slots[kWarps][32 * kSlotRow];
  const int lane = static_cast<int>(threadIdx.x) % 32, warp = static_cast<int>(threadIdx.x) / 32;
  uint4* const slot = slots[warp];
  const int banks = w.banks();
  const std::size_t total = std::size_t(w.n) * banks;
  const std::size_t step = std::size_t(gridDim.x) * kWarps * 32;
  for (std::size_t base = (std::size_t(blockIdx.x) * kWarps + warp) * 32; base < total;
       base += step) { // warp-uniform
    const std::size_t item = base + lane;
    if (item < total) {
      const int n = static_cast<int>(item / banks);
      const int bank = static_cast<int>(item % banks);
      BankValues<C, T> value{w.high + std::size_t(n) * w.high_row_bytes(), bank,
                             bank * C::high_per_bank, w.scale_low[item], w.scale_high[item]};
      std::uint32_t words[kLowWords];
      const auto* src = reinterpret_cast<const uint4*>(w.low) + item * (kLowWords / 4);
#pragma unroll
      for (int q = 0; q < kLowWords / 4; ++q) {
        const uint4 v = __ldg(src + q);
        words[4 * q] = v.x, words[4 * q + 1] = v.y, words[4 * q + 2] = v.z, words[4 * q + 3] = v.w;
      }
#pragma unroll
      for (int g = 0; g < kChunks; ++g) {
        std::uint32_t pairs[4];
#pragma unroll
        for (int e = 0; e < 8; e += 2) {
          const std::uint32_t lo =
              half16_bits(value(code_from_words<C::low_bits>(words, 8 * g + e)));
          const std::uint32_t hi =
              half16_bits(value(code_from_words<C::low_bits>(words, 8 * g + e + 1)));
          pairs[e / 2] = lo | hi << 16;
        }
        slot[lane * kSlotRow + g] = make_uint4(pairs[0], pairs[1], pairs[2], pairs[3]);
      }
    }
    __syncwarp();
    const std::size_t left = total - base;
    const int count = static_cast<int>(left < 32 ? left : 32) * kChunks;
    uint4* const dst = reinterpret_cast<uint4*>(out) + base * kChunks;
    for (int c = lane; c < count; c += 32)
      dst[c] = slot[(c / kChunks) * kSlotRow + c % kChunks];
    __syncwarp(); // the slot is free for the next items
  }
}

} // namespace sqformat::gpu::wsq_detail

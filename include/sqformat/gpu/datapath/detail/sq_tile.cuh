// sqformat/gpu/datapath/detail/sq_tile.cuh: the body shared by the kernels that WRITE an SQ
// tensor (dynamic activation quantizer, weight packer): one block quantizes one tile of one row.
//
//   row r, tile t:  banks [t·TB, t·TB + TB)   (TB = SqBankShape::tile_banks)
//   1. bank groups loop over the tile's banks: load, choose the high elements (the caller's
//      `load_bank`), quantize_bank -> int8 codes in shared memory, scales to global memory;
//   2. the whole block packs the tile's codes into 32-bit words and stores them, coalesced.
//      TB is chosen so that every tile starts on a word of both packed rows.
#pragma once

#include <cstdint>

#include "sqformat/gpu/datapath/detail/bank_group.cuh"
#include "sqformat/gpu/datapath/detail/bit_pack.cuh"
#include "sqformat/gpu/datapath/layout.hpp"
#include "sqformat/gpu/datapath/policy.hpp"
#include "sqformat/gpu/datapath/sq_tensor_ref.hpp"

namespace sqformat::gpu::datapath::detail {

/// Packs `count` int8 codes of `Bits` bits from shared memory into a row segment starting at
/// `dst` (a word boundary of the row); bytes at or after `valid_bytes` are not written.
template <int Bits, int Threads>
__device__ __forceinline__ void store_packed_codes(const std::int8_t* codes, int count,
                                                   std::uint8_t* dst, std::int64_t valid_bytes) {
  const int words = (count * Bits + 31) / 32;
  for (int w = threadIdx.x; w < words; w += Threads) {
    const std::uint32_t word[1] = {pack_word_from_codes<Bits>(codes, count, w)};
    const std::int64_t left = valid_bytes - 4 * static_cast<std::int64_t>(w);
    store_words<1>(dst + 4 * w, word, static_cast<int>(left < 4 ? left : 4));
  }
}

/// Banks of this block's tile: [first, first + count).
struct TileExtent {
  std::int64_t first;
  int count;
};
template <class C, class P> __device__ __forceinline__ TileExtent tile_extent(std::int64_t k) {
  constexpr int TB = SqBankShape<C, P>::tile_banks;
  const std::int64_t banks = k / C::bank, first = static_cast<std::int64_t>(blockIdx.y) * TB;
  return {first, static_cast<int>(min(static_cast<std::int64_t>(TB), banks - first))};
}

/// `load_bank(local_bank, lane, active, v, high)`: fills the lane's E values and high flags of
/// bank `local_bank` of the tile (all lanes of the warp call it) and returns the status flags
/// it found (bad input).
template <class C, class P, bool CheckHighCount, class LoadBank>
__device__ __forceinline__ unsigned quantize_sq_tile(std::int64_t row, std::int64_t k,
                                                     const SqTensorRef& out, LoadBank load_bank) {
  using S = SqBankShape<C, P>;
  constexpr int G = S::lanes_per_bank, E = S::elements_per_lane;
  constexpr int B = C::bank, H = C::high_per_bank;
  __shared__ __align__(16) std::int8_t low_codes[S::tile_low_bytes];
  __shared__ __align__(16) std::int8_t high_codes[S::tile_high_bytes];

  const std::int64_t banks = k / B;
  const TileExtent tile = tile_extent<C, P>(k);
  const std::int64_t first_bank = tile.first;
  const int tile_banks = tile.count;
  const int group = threadIdx.x / G, lane = threadIdx.x % G;
  unsigned flags = 0;

  for (int base = 0; base < tile_banks; base += S::groups_per_block) {
    const int local_bank = base + group;
    const bool active = local_bank < tile_banks;
    const std::int64_t bank = first_bank + (active ? local_bank : 0);
    float v[E];
    bool high[E];
    flags |= load_bank(active ? local_bank : 0, lane, active, v, high);
    const bool count_ok = quantize_bank<C, G, E>(
        v, high, lane, active, low_codes + local_bank * B, high_codes + local_bank * H,
        out.scale_low + row * banks + bank, out.scale_high + row * banks + bank);
    if (CheckHighCount && active && lane == 0 && !count_ok)
      flags |= flag_bad_mask;
  }
  __syncthreads();

  const std::size_t low_row_bytes = sq_low_row_bytes<C>(k);
  const std::size_t low_offset = static_cast<std::size_t>(first_bank) * B * C::low_bits / 8;
  store_packed_codes<C::low_bits, P::threads>(
      low_codes, tile_banks * B, out.low + row * low_row_bytes + low_offset,
      static_cast<std::int64_t>(low_row_bytes - low_offset));
  const std::size_t high_row_bytes = sq_high_row_bytes<C>(k);
  const std::size_t high_offset = static_cast<std::size_t>(first_bank) * H * C::high_bits / 8;
  store_packed_codes<C::high_bits, P::threads>(
      high_codes, tile_banks * H, out.high + row * high_row_bytes + high_offset,
      static_cast<std::int64_t>(high_row_bytes - high_offset));
  return flags;
}

} // namespace sqformat::gpu::datapath::detail

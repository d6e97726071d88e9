// sqformat/gpu/datapath/detail/static_split_bank_kernel.cuh: the bank kernel of the static
// quantize-and-split (StaticSplitBankPolicy; per-token scales, K a multiple of 8). Its prologue
// checks and pass 1 are the column kernel's (static_split_rows.cuh); it also serves the configs
// and K that the column kernel's output order cannot (3-bit fields, blocks not ending on a word).
//
// The permutation of docs/layouts.md lists each bank's high channels in increasing order, then
// (in the low block) its low channels in increasing order. So it is a high mask per bank, and
// channel e goes to high-block column "highs before e" or low-block column "e - highs before e".
// The kernel works in channel order (contiguous, vectorized reads of X) and scatters codes:
//
//   prologue   rows 0 .. S-2 of this block: cp.async (16 B) into shared row buffers
//              every block checks the high part of perm (in range, in its bank, increasing in
//              its bank's run) and sets the high mask; block j checks slice j of the low part
//              (in range, in its bank, increasing, not high); descriptors per 8 channels
//              (static_split_bank_ops.cuh) into shared memory
//   per row i  wait for this thread's copies of row i (no barrier: pass 1 reads only them)
//              1. max |x| of the high and of the low channels: 16-byte reads, 16-bit pair max
//                 (max.NaN: NaN/Inf come out as the largest magnitudes), warp redux, barrier (R);
//                 row i + S - 1 starts loading into the buffer of row i - 1
//              2. each warp takes whole tiles of banks (StaticBankTile): lane l quantizes chunk
//                 l (8 channels): t = fma(x, 1/s, 1.5·2^23) (low byte = code), residual
//                 r = fma(x, 1/s, -(t - 1.5·2^23)) exact; |r| > 1/2 - 2^-13 (or a non-finite x,
//                 or a subnormal scale) -> the chunk is redone with the IEEE division. The code
//                 byte goes to the warp's buffer at its high or low column (select by mask,
//                 no branch); __syncwarp; lanes pack 32-bit words and store them (coalesced)
//
// One barrier per row (two with a single staged row); a warp done with row i goes on to pass 1
// of row i + 1 while others still quantize row i. A permutation in any other order, or one the
// reference rejects, sets flag_bad_permutation; with a bad high part no block writes anything
// (the descriptors would not keep writes inside the tile buffers).
#pragma once

#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "sqformat/gpu/datapath/detail/bit_pack.cuh"
#include "sqformat/gpu/datapath/detail/element.cuh"
#include "sqformat/gpu/datapath/detail/quantize.cuh"
#include "sqformat/gpu/datapath/detail/static_split_bank_ops.cuh"
#include "sqformat/gpu/datapath/detail/static_split_rows.cuh"
#include "sqformat/gpu/datapath/detail/static_split_staging.cuh"
#include "sqformat/gpu/datapath/layout.hpp"
#include "sqformat/gpu/datapath/static_split_args.hpp"

namespace sqformat::gpu::datapath::detail {

/// Dynamic shared memory of the bank kernel: `stages` rows of X (the last one holds the high
/// mask, one bit per channel, until the descriptors are built), a descriptor per 8 channels, and
/// one code buffer per warp.
template <class C, class T>
SQFORMAT_HD constexpr std::int64_t bank_shared_bytes(std::int64_t k, int stages, int warps) {
  return stages * stream_row_bytes<T>(k) + (k / 8 + 3) / 4 * 16 +
         std::int64_t{warps} * StaticBankTile<C>::buffer_bytes;
}

/// Stores the low byte of `value` at shared-memory address `address`.
__device__ __forceinline__ void store_shared_byte(std::uint32_t address, std::uint32_t value) {
  asm volatile("st.shared.u8 [%0], %1;" ::"r"(address), "r"(value) : "memory");
}

/// Quantizes the 8 channels of one chunk into a warp's code buffer (shared-memory addresses).
/// `high_at`: address of the chunk's first high code (it advances by one per high channel);
/// channel i's low code goes to low_base + i - (high_at before channel i). Returns true when
/// some code needs the exact division (Exact = false only).
template <class C, class T, bool Exact>
__device__ __forceinline__ bool
quantize_chunk(const uint4& v, std::uint32_t m8, std::uint32_t high_at, std::uint32_t low_base,
               float scale_high, float scale_low, float inverse_high, float inverse_low) {
  const std::uint32_t spread[2] = {spread_nibble(m8), spread_nibble(m8 >> 4)};
  const std::uint32_t pair[4] = {v.x, v.y, v.z, v.w};
  const std::uint32_t ih = __float_as_uint(inverse_high), il = __float_as_uint(inverse_low);
  bool redo = false;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    std::uint32_t high; // all ones for a high channel
    switch (i % 4) {
    case 0: high = replicate<0x8888>(spread[i / 4]); break;
    case 1: high = replicate<0x9999>(spread[i / 4]); break;
    case 2: high = replicate<0xaaaa>(spread[i / 4]); break;
    default: high = replicate<0xbbbb>(spread[i / 4]); break;
    }
    const float x = value_of<T>(pair[i / 2], i % 2);
    const std::uint32_t at = (high_at & high) | ((low_base + i - high_at) & ~high);
    if constexpr (Exact) {
      store_shared_byte(
          at, static_cast<std::uint32_t>(high != 0 ? quantize_code(x, scale_high, C::high_qmax)
                                                   : quantize_code(x, scale_low, C::low_qmax)));
    } else {
      const float inverse = __uint_as_float((ih & high) | (il & ~high));
      const float t = fmaf(x, inverse, rounding_magic);
      const float r = fmaf(x, inverse, rounding_magic - t); // x/s - code, exactly rounded
      redo |= !(fabsf(r) <= 0.5f - 0x1p-13f);
      store_shared_byte(at, __float_as_uint(t)); // its low byte is the code
    }
    high_at -= high; // one more high code before the next channel
  }
  return redo;
}

/// Packs `count` codes of `Bits` bits from `codes` and stores them at `dst` (word w by lane
/// w % 32); `room` bytes of the row are left from dst. `aligned`: dst is 4-byte aligned.
template <int Bits>
__device__ __forceinline__ void store_packed(const std::int8_t* codes, int count, std::uint8_t* dst,
                                             std::int64_t room, int lane, bool aligned) {
  const int words = (count * Bits + 31) / 32;
  for (int w = lane; w < words; w += 32) {
    const std::uint32_t word[1] = {pack_word_from_codes<Bits>(codes, count, w)};
    const std::int64_t left = room - 4 * w;
    if (aligned && left >= 4)
      *reinterpret_cast<std::uint32_t*>(dst + 4 * w) = word[0];
    else
      store_words<1>(dst + 4 * w, word, left < 4 ? static_cast<int>(left) : 4);
  }
}

template <class C, class P, class T>
__global__ void __launch_bounds__(P::threads, P::min_blocks_per_sm)
    static_split_bank_kernel(StaticSplitArgs<T> args, int stages) {
  using Tile = StaticBankTile<C>;
  constexpr int H = C::high_per_bank;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  __shared__ std::uint32_t warp_amax[2][2][32]; // [row parity][high, low][warp]

  const int threads = static_cast<int>(blockDim.x), tid = static_cast<int>(threadIdx.x);
  const int lane = tid % 32, warp = tid / 32, warps = threads / 32;
  const int k = static_cast<int>(args.cols);
  const int banks = k / C::bank, kh = banks * H, kl = k - kh;
  const int chunks = k / 8, tiles = (banks + Tile::banks - 1) / Tile::banks;
  const StagedRows<T> rows(args, shared_bytes, stages);
  auto* const desc =
      reinterpret_cast<std::uint32_t*>(shared_bytes + stages * stream_row_bytes<T>(k));
  std::int8_t* const codes =
      reinterpret_cast<std::int8_t*>(desc + (chunks + 3) / 4 * 4) + warp * Tile::buffer_bytes;
  const auto codes_at = static_cast<std::uint32_t>(__cvta_generic_to_shared(codes));
  rows.prime();

  // The high mask lives in the last row buffer, which no copy fills before the first barrier of
  // the row loop (with one stage: before the barrier of StagedRows::wait).
  auto* const high_mask = reinterpret_cast<std::uint32_t*>(rows.buffer(stages - 1));
  const bool high_ok = build_high_mask<C>(args.perm, k, high_mask);
  unsigned flags =
      (high_ok ? 0u : flag_bad_permutation) | check_low_slice<C>(args.perm, k, high_mask);
  for (int c = tid; c < chunks; c += threads) {
    const int e0 = 8 * c, bank_start = e0 / C::bank * C::bank;
    std::uint32_t highs = static_cast<std::uint32_t>(e0 / C::bank * H);
    for (int e = bank_start; e < e0;) { // high channels of this bank before the chunk
      const int bit = e % 32, n = e0 - e < 32 - bit ? e0 - e : 32 - bit;
      const std::uint32_t bits = high_mask[e / 32] >> bit;
      highs += __popc(n == 32 ? bits : bits & ((1u << n) - 1u));
      e += n;
    }
    desc[c] = highs | (((high_mask[e0 / 32] >> (e0 % 32)) & 0xffu) << 24);
  }

  const auto high_row = static_cast<std::int64_t>(static_high_row_bytes<C>(args.cols));
  const auto low_row = static_cast<std::int64_t>(static_low_row_bytes<C>(args.cols));
  // Output rows on 4-byte boundaries (x_high, x_low are 16-byte aligned; tiles end on words).
  const bool aligned = high_row % 4 == 0 && low_row % 4 == 0;
  // Pass 1 reads only chunks this thread copied and descriptors it wrote (both chunk c ->
  // thread c % threads), so it needs no barrier before it: one barrier (R) per row.
  for (std::int64_t i = 0; i < (high_ok ? rows.count : 0); ++i) {
    const uint4* xs = rows.wait(i);
    const RowScales s = row_scales<C>(
        args, rows, i, xs, [&](int c) { return desc[c] >> 24; }, warp_amax, flags);
    const std::int64_t row = rows.row(i);
    const float scale_high = s.high, scale_low = s.low;
    const float inverse_high = s.inverse_high, inverse_low = s.inverse_low;
    const bool exact = s.exact;

    // 2. Quantize: whole tiles of banks per warp.
    for (int tile = warp; tile < tiles; tile += warps) {
      const int c0 = tile * Tile::chunks, high0 = tile * Tile::high_codes;
#pragma unroll
      for (int j = 0; j < Tile::chunks_per_lane; ++j) {
        const int c = c0 + lane + 32 * j;
        if (c < chunks) {
          const uint4 v = xs[c];
          const std::uint32_t d = desc[c];
          // Buffer addresses: high code j of the tile at codes_at + j, low code j at
          // codes_at + low_offset + j.
          const std::uint32_t high_at = codes_at + (d & 0xffffffu) - high0;
          // Channel i of the chunk (r high ones before it): low code j = 8 (c - c0) + i - (P -
          // high0 + r), at codes_at + low_offset + j = low_base + i - (high_at + r).
          const std::uint32_t low_base = 2 * codes_at + Tile::low_offset + 8 * (c - c0);
          if (exact || quantize_chunk<C, T, false>(v, d >> 24, high_at, low_base, scale_high,
                                                   scale_low, inverse_high, inverse_low))
            quantize_chunk<C, T, true>(v, d >> 24, high_at, low_base, scale_high, scale_low,
                                       inverse_high, inverse_low);
        }
      }
      __syncwarp();
      const int nh = min(Tile::high_codes, kh - high0);
      const int low0 = tile * Tile::low_codes, nl = min(Tile::low_codes, kl - low0);
      const std::int64_t high_byte = std::int64_t{high0} * C::high_bits / 8;
      const std::int64_t low_byte = std::int64_t{low0} * C::low_bits / 8;
      store_packed<C::high_bits>(codes, nh, args.x_high + row * high_row + high_byte,
                                 high_row - high_byte, lane, aligned);
      store_packed<C::low_bits>(codes + Tile::low_offset, nl, args.x_low + row * low_row + low_byte,
                                low_row - low_byte, lane, aligned);
      __syncwarp(); // the buffer is read before the next tile overwrites it
    }
  }
  cp_async_wait(0);
  if (flags != 0)
    raise_flag(static_cast<unsigned*>(args.workspace), flags);
}

} // namespace sqformat::gpu::datapath::detail

// sqformat/gpu/gemm/w4_prepack.hpp: the "prepacked" INT4 weight layout of the Hopper W4A(SQ)
// GEMM, and its host reference transforms (plain C++, no CUDA headers).
//
// Canonical W (docs/layouts.md): N x K INT4 two's-complement codes q in [-7, 7], row-major, row
// stride K/2 bytes, code k of a row in bits [4(k%2), 4(k%2)+4) of byte k/2. The GEMM's RS wgmma
// wants each thread's A fragment (rows 16w+g and 16w+g+8, K 4c..4c+3 and 16+4c..16+4c+3 of a
// k32 step, see detail/wgmma_s8_rs.cuh) in registers as unsigned bytes. The prepacked layout
// stores exactly that, offset-binary:
//
//   nibble u = q + 8 = q ^ 8  (u in [1, 15]; 0 only in padding)
//
//   W is cut into blocks of 64 rows (rb) and K tiles of 128 columns (t). Tiles follow the
//   kernel's walk: the high range [0, Kh) in 128-wide tiles from column 0, then the low range
//   [Kh, K) in 128-wide tiles from column Kh; columns of a tile past its range's end, and rows
//   past N, are padding (nibble 0).
//   One (rb, t) block is 4096 bytes at ((rb * tiles + t) * 4096):
//     byte  ((p * 4 + w) * 32 + lane) * 16 + 8 * q + 4 * half + b,   lane = 4g + c
//     low nibble : row 64 rb + 16 w + g,     column base(t) + 32 (2p + q) + 16 half + 4c + b
//     high nibble: row 64 rb + 16 w + g + 8, same column
//   so thread (w, lane) reads the 16 bytes of k32 steps 2p and 2p+1 with one 16-byte shared
//   load (a warp reads 512 contiguous bytes: no bank conflict), and for a 32-bit word v of it
//   `v & 0x0F0F0F0F` and `(v >> 4) & 0x0F0F0F0F` are its A registers for rows g and g + 8.
//
// The GEMM then computes Σ u·x = Σ q·x + 8·Σ x and subtracts 8·Σ x (an exact per-token, per-
// segment int32 correction computed by the X prepass), so its results are identical to the
// canonical path's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../../error.hpp"

namespace sqformat::gpu {

/// Geometry of the prepacked layout for an N x K weight whose high range is [0, k_high).
struct W4PrepackedLayout {
  static constexpr int rows_per_block = 64;
  static constexpr int cols_per_tile = 128;
  static constexpr int block_bytes = 4096; ///< one (row block, K tile): 64 x 128 nibbles
  int n = 0, k = 0, k_high = 0;

  int row_blocks() const { return (n + rows_per_block - 1) / rows_per_block; }
  int tiles_high() const { return (k_high + cols_per_tile - 1) / cols_per_tile; }
  int tiles() const { return tiles_high() + (k - k_high + cols_per_tile - 1) / cols_per_tile; }
  std::size_t bytes() const {
    return static_cast<std::size_t>(row_blocks()) * static_cast<std::size_t>(tiles()) * block_bytes;
  }

  /// Byte offset and nibble shift (0 or 4) of canonical element (row, col).
  void locate(int row, int col, std::size_t& offset, int& shift) const {
    const int rb = row / 64, rr = row % 64;
    const int w = rr / 16, h = (rr % 16) / 8, g = rr % 8;
    const bool high = col < k_high;
    const int local = high ? col : col - k_high;
    const int t = (high ? 0 : tiles_high()) + local / cols_per_tile;
    const int kk = local % cols_per_tile;
    const int s = kk / 32, within = kk % 32;
    const int half = within / 16, c = (within % 16) / 4, b = within % 4;
    const int lane = 4 * g + c, p = s / 2, q = s % 2;
    offset = (static_cast<std::size_t>(rb) * tiles() + t) * block_bytes +
             static_cast<std::size_t>(((p * 4 + w) * 32 + lane) * 16 + 8 * q + 4 * half + b);
    shift = 4 * h;
  }

  void validate(const char* who) const {
    if (n < 1 || k < 2 || k % 2 != 0 || k_high < 0 || k_high > k)
      throw Error(ErrorCode::invalid_argument,
                  std::string(who) + ": need N >= 1, K even and >= 2, 0 <= Kh <= K");
  }
};

/// Canonical packed INT4 W (N x K, row stride K/2) -> prepacked layout (see above).
inline std::vector<std::uint8_t> prepack_w4_sm90(const std::uint8_t* w, int n, int k, int k_high) {
  const W4PrepackedLayout layout{n, k, k_high};
  layout.validate("prepack_w4_sm90");
  if (w == nullptr)
    throw Error(ErrorCode::invalid_argument, "prepack_w4_sm90: null weight pointer");
  std::vector<std::uint8_t> out(layout.bytes(), 0);
  const std::size_t stride = static_cast<std::size_t>(k) / 2;
  for (int r = 0; r < n; ++r)
    for (int col = 0; col < k; ++col) {
      const std::uint8_t code =
          static_cast<std::uint8_t>((w[r * stride + col / 2] >> (4 * (col % 2))) & 0xF);
      std::size_t offset = 0;
      int shift = 0;
      layout.locate(r, col, offset, shift);
      out[offset] = static_cast<std::uint8_t>(out[offset] | ((code ^ 0x8u) << shift));
    }
  return out;
}

/// Prepacked layout -> canonical packed INT4 W (the exact inverse on every stored element).
inline std::vector<std::uint8_t> unprepack_w4_sm90(const std::uint8_t* prepacked, int n, int k,
                                                   int k_high) {
  const W4PrepackedLayout layout{n, k, k_high};
  layout.validate("unprepack_w4_sm90");
  if (prepacked == nullptr)
    throw Error(ErrorCode::invalid_argument, "unprepack_w4_sm90: null pointer");
  const std::size_t stride = static_cast<std::size_t>(k) / 2;
  std::vector<std::uint8_t> out(static_cast<std::size_t>(n) * stride, 0);
  for (int r = 0; r < n; ++r)
    for (int col = 0; col < k; ++col) {
      std::size_t offset = 0;
      int shift = 0;
      layout.locate(r, col, offset, shift);
      const unsigned code = ((prepacked[offset] >> shift) & 0xFu) ^ 0x8u;
      out[r * stride + col / 2] =
          static_cast<std::uint8_t>(out[r * stride + col / 2] | (code << (4 * (col % 2))));
    }
  return out;
}

} // namespace sqformat::gpu

// sqformat/reference/bitpack.hpp: packing of 2-, 3-, 4- and 8-bit two's-complement codes
// (docs/layouts.md, "Bit packing").
//
// A row of n codes of width w is a little-endian bit stream: code i occupies stream bits
// [i*w, (i+1)*w) and stream bit j is bit (j % 8) of byte j / 8. 3-bit codes straddle bytes (a real
// 3-bit stream, nothing rounded up to 4 bits). Unused trailing bits are 0. 8-bit codes are plain
// int8_t bytes.
//
//   w = 4:  byte 0 = [code1:hi nibble | code0:lo nibble]
//   w = 3:  byte 0 = [c2 bits 1..0 | c1 (3) | c0 (3)], byte 1 = [c5 bit 0 | c4 | c3 | c2 bit 2]
#pragma once

#include <sqformat/error.hpp>
#include <sqformat/reference/detail/checks.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace sqformat::ref {

/// Bytes of `count` codes of width `bits` packed as one stream: ceil(count * bits / 8).
inline std::size_t packed_bytes(std::size_t count, int bits) {
  detail::check_bits(bits, "packed_bytes");
  return (count * static_cast<std::size_t>(bits) + 7) / 8;
}

/// Code i of a packed stream of width `bits`, sign-extended. No bounds check.
inline int get_code(const std::uint8_t* packed, std::size_t i, int bits) {
  if (bits == 8) {
    return static_cast<std::int8_t>(packed[i]);
  }
  const std::size_t bit = i * static_cast<std::size_t>(bits);
  const std::size_t byte = bit / 8;
  const unsigned shift = static_cast<unsigned>(bit % 8);
  unsigned window = packed[byte];
  if (shift + static_cast<unsigned>(bits) > 8) { // the code straddles into the next byte
    window |= static_cast<unsigned>(packed[byte + 1]) << 8;
  }
  const unsigned mask = (1u << bits) - 1u;
  const int raw = static_cast<int>((window >> shift) & mask);
  const int sign = 1 << (bits - 1);
  return (raw ^ sign) - sign; // sign extension of a bits-wide two's-complement value
}

/// Writes code i of a packed stream, replacing what its bits held; the other codes are kept.
/// No bounds check.
inline void put_code(std::uint8_t* packed, std::size_t i, int code, int bits) {
  if (bits == 8) {
    packed[i] = static_cast<std::uint8_t>(static_cast<std::int8_t>(code));
    return;
  }
  const unsigned mask = (1u << bits) - 1u;
  const unsigned c = static_cast<unsigned>(code) & mask;
  const std::size_t bit = i * static_cast<std::size_t>(bits);
  const std::size_t byte = bit / 8;
  const unsigned shift = static_cast<unsigned>(bit % 8);
  packed[byte] =
      static_cast<std::uint8_t>((packed[byte] & ~(mask << shift)) | ((c << shift) & 0xffu));
  if (shift + static_cast<unsigned>(bits) > 8) { // the code straddles into the next byte
    packed[byte + 1] =
        static_cast<std::uint8_t>((packed[byte + 1] & ~(mask >> (8 - shift))) | (c >> (8 - shift)));
  }
}

/// Packs `count` codes into packed_bytes(count, bits) bytes at `out`. Each code must lie in the
/// two's-complement range of `bits` bits, [-2^(bits-1), 2^(bits-1)-1] (the sentinel included);
/// anything else throws Error(invalid_argument).
inline void pack_codes(const std::int8_t* codes, std::size_t count, int bits, std::uint8_t* out) {
  const std::size_t nbytes = packed_bytes(count, bits);
  const int lo = -(1 << (bits - 1));
  const int hi = (1 << (bits - 1)) - 1;
  if (bits == 8) {
    std::memcpy(out, codes, count);
    return;
  }
  std::memset(out, 0, nbytes);
  for (std::size_t i = 0; i < count; ++i) {
    const int c = codes[i];
    if (c < lo || c > hi) {
      throw Error(ErrorCode::invalid_argument,
                  "pack_codes: code " + std::to_string(c) + " at index " + std::to_string(i) +
                      " does not fit in " + std::to_string(bits) + " bits");
    }
    put_code(out, i, c, bits);
  }
}

/// Unpacks `count` codes of width `bits` from `in` into sign-extended int8 codes at `out`.
inline void unpack_codes(const std::uint8_t* in, std::size_t count, int bits, std::int8_t* out) {
  detail::check_bits(bits, "unpack_codes");
  if (bits == 8) {
    std::memcpy(out, in, count);
    return;
  }
  for (std::size_t i = 0; i < count; ++i) {
    out[i] = static_cast<std::int8_t>(get_code(in, i, bits));
  }
}

} // namespace sqformat::ref

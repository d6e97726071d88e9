// sqformat/eval/ggml_types.hpp: the tensor element types of GGUF files (ggml types), their
// block sizes, and dequantization to float32 of the types this evaluation reads.
//
// Block layouts (little endian; "half" is IEEE binary16):
//   F32   1 element,  4 bytes
//   F16   1 element,  2 bytes
//   BF16  1 element,  2 bytes (upper half of a float32)
//   Q4_0  32 elements, 18 bytes: half d | u8 qs[16];  x = d * (nibble - 8)
//   Q4_1  32 elements, 20 bytes: half d | half m | u8 qs[16];  x = d * nibble + m
//   Q5_0  32 elements, 22 bytes: half d | u8 qh[4] | u8 qs[16];  x = d * (q5 - 16)
//   Q5_1  32 elements, 24 bytes: half d | half m | u8 qh[4] | u8 qs[16];  x = d * q5 + m
//   Q8_0  32 elements, 34 bytes: half d | i8 qs[32];  x = d * q
// In the 4- and 5-bit blocks element j < 16 is the LOW nibble of qs[j] and element j + 16 the
// HIGH nibble of qs[j]; the fifth bit of element j is bit j of the 32-bit little-endian qh.
// The K-quant types are recognised (so a file holding them parses) but not dequantized.
#pragma once

#include <sqformat/error.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

namespace sqformat::eval {

enum class GgmlType : std::uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q4_1 = 3,
  q5_0 = 6,
  q5_1 = 7,
  q8_0 = 8,
  q8_1 = 9,
  q2_k = 10,
  q3_k = 11,
  q4_k = 12,
  q5_k = 13,
  q6_k = 14,
  q8_k = 15,
  bf16 = 30,
};

struct GgmlTypeTraits {
  std::uint32_t block_elements;
  std::uint32_t block_bytes;
  bool dequantizable;
};

inline const char* ggml_type_name(GgmlType t) {
  switch (t) {
  case GgmlType::f32: return "F32";
  case GgmlType::f16: return "F16";
  case GgmlType::q4_0: return "Q4_0";
  case GgmlType::q4_1: return "Q4_1";
  case GgmlType::q5_0: return "Q5_0";
  case GgmlType::q5_1: return "Q5_1";
  case GgmlType::q8_0: return "Q8_0";
  case GgmlType::q8_1: return "Q8_1";
  case GgmlType::q2_k: return "Q2_K";
  case GgmlType::q3_k: return "Q3_K";
  case GgmlType::q4_k: return "Q4_K";
  case GgmlType::q5_k: return "Q5_K";
  case GgmlType::q6_k: return "Q6_K";
  case GgmlType::q8_k: return "Q8_K";
  case GgmlType::bf16: return "BF16";
  }
  return "unknown";
}

inline GgmlTypeTraits ggml_type_traits(GgmlType t) {
  switch (t) {
  case GgmlType::f32: return {1, 4, true};
  case GgmlType::f16: return {1, 2, true};
  case GgmlType::bf16: return {1, 2, true};
  case GgmlType::q4_0: return {32, 18, true};
  case GgmlType::q4_1: return {32, 20, true};
  case GgmlType::q5_0: return {32, 22, true};
  case GgmlType::q5_1: return {32, 24, true};
  case GgmlType::q8_0: return {32, 34, true};
  case GgmlType::q8_1: return {32, 36, false};
  case GgmlType::q2_k: return {256, 84, false};
  case GgmlType::q3_k: return {256, 110, false};
  case GgmlType::q4_k: return {256, 144, false};
  case GgmlType::q5_k: return {256, 176, false};
  case GgmlType::q6_k: return {256, 210, false};
  case GgmlType::q8_k: return {256, 292, false};
  }
  return {1, 1, false};
}

/// Validates a type code read from a file.
inline GgmlType ggml_type_from_code(std::uint32_t code, const std::string& tensor_name) {
  switch (code) {
  case 0:
  case 1:
  case 2:
  case 3:
  case 6:
  case 7:
  case 8:
  case 9:
  case 10:
  case 11:
  case 12:
  case 13:
  case 14:
  case 15:
  case 30: return static_cast<GgmlType>(code);
  default:
    throw Error(ErrorCode::format_mismatch,
                "GGUF: tensor '" + tensor_name + "' has unknown ggml type " + std::to_string(code) +
                    "; this reader knows F32, F16, BF16, Q4_0, Q4_1, " +
                    "Q5_0, Q5_1, Q8_0 (and recognises Q8_1 and the K-quants)");
  }
}

/// IEEE binary16 -> float32, exact for every input (normals, subnormals, Inf, NaN).
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h >> 15) << 31;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  const std::uint32_t mantissa = h & 0x3ffu;
  std::uint32_t bits;
  if (exponent == 0x1fu) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent == 0) {
    // Zero or subnormal: value = mantissa * 2^-24, exact in float32.
    const float v = std::ldexp(static_cast<float>(mantissa), -24);
    std::memcpy(&bits, &v, 4);
    bits |= sign;
  } else {
    bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  }
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

namespace detail {
inline std::uint16_t load_u16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
inline std::uint32_t load_u32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | (std::uint32_t(p[1]) << 8) | (std::uint32_t(p[2]) << 16) |
         (std::uint32_t(p[3]) << 24);
}
} // namespace detail

/// Dequantizes `count` elements (a multiple of the type's block) from `src` into `dst`.
inline void dequantize(GgmlType type, const std::uint8_t* src, std::size_t count, float* dst) {
  const GgmlTypeTraits tr = ggml_type_traits(type);
  if (!tr.dequantizable) {
    throw Error(ErrorCode::format_mismatch, std::string("GGUF: dequantization of ") +
                                                ggml_type_name(type) +
                                                " is not implemented by this reader");
  }
  if (count % tr.block_elements != 0) {
    throw Error(ErrorCode::invalid_argument, std::string("dequantize: ") + std::to_string(count) +
                                                 " elements is not a whole number of " +
                                                 ggml_type_name(type) + " blocks");
  }
  const std::size_t blocks = count / tr.block_elements;
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::uint8_t* p = src + b * tr.block_bytes;
    float* y = dst + b * tr.block_elements;
    switch (type) {
    case GgmlType::f32: std::memcpy(y, p, 4); break;
    case GgmlType::f16: y[0] = half_to_float(detail::load_u16(p)); break;
    case GgmlType::bf16: {
      const std::uint32_t bits = std::uint32_t(detail::load_u16(p)) << 16;
      std::memcpy(y, &bits, 4);
      break;
    }
    case GgmlType::q4_0: {
      const float d = half_to_float(detail::load_u16(p));
      for (int j = 0; j < 16; ++j) {
        y[j] = d * static_cast<float>((p[2 + j] & 0x0f) - 8);
        y[j + 16] = d * static_cast<float>((p[2 + j] >> 4) - 8);
      }
      break;
    }
    case GgmlType::q4_1: {
      const float d = half_to_float(detail::load_u16(p));
      const float m = half_to_float(detail::load_u16(p + 2));
      for (int j = 0; j < 16; ++j) {
        y[j] = d * static_cast<float>(p[4 + j] & 0x0f) + m;
        y[j + 16] = d * static_cast<float>(p[4 + j] >> 4) + m;
      }
      break;
    }
    case GgmlType::q5_0: {
      const float d = half_to_float(detail::load_u16(p));
      const std::uint32_t qh = detail::load_u32(p + 2);
      for (int j = 0; j < 16; ++j) {
        const int lo = (p[6 + j] & 0x0f) | int(((qh >> j) & 1u) << 4);
        const int hi = (p[6 + j] >> 4) | int(((qh >> (j + 16)) & 1u) << 4);
        y[j] = d * static_cast<float>(lo - 16);
        y[j + 16] = d * static_cast<float>(hi - 16);
      }
      break;
    }
    case GgmlType::q5_1: {
      const float d = half_to_float(detail::load_u16(p));
      const float m = half_to_float(detail::load_u16(p + 2));
      const std::uint32_t qh = detail::load_u32(p + 4);
      for (int j = 0; j < 16; ++j) {
        const int lo = (p[8 + j] & 0x0f) | int(((qh >> j) & 1u) << 4);
        const int hi = (p[8 + j] >> 4) | int(((qh >> (j + 16)) & 1u) << 4);
        y[j] = d * static_cast<float>(lo) + m;
        y[j + 16] = d * static_cast<float>(hi) + m;
      }
      break;
    }
    case GgmlType::q8_0: {
      const float d = half_to_float(detail::load_u16(p));
      for (int j = 0; j < 32; ++j) {
        y[j] = d * static_cast<float>(static_cast<std::int8_t>(p[2 + j]));
      }
      break;
    }
    default: break; // unreachable: filtered by `dequantizable`
    }
  }
}

} // namespace sqformat::eval

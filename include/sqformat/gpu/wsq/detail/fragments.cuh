// sqformat/gpu/wsq/detail/fragments.cuh: register-level building blocks of the W(SQ) decode
// kernels that use tensor cores (a16_mma_kernel.cuh, a16_hybrid_kernel.cuh): 4-bit codes to
// 16-bit float pairs, sentinel detection, the high-code expansion table and the m16n8k16 MMA.
// Internal.
//
// Notation: a 32-bit word of packed 4-bit codes holds 8 codes, code q in bits [4q, 4q+4).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace sqformat::gpu::wsq_detail {

/// Bit 4q+3 set where code q of `w` is the INT4 sentinel 0b1000 (-8), every other bit clear.
__device__ __forceinline__ std::uint32_t int4_sentinel_bits(std::uint32_t w) {
  const std::uint32_t nw = ~w;
  return w & (nw << 1) & (nw << 2) & (nw << 3) & 0x88888888u;
}

/// Codes 2p and 2p+1 of `w` (byte p) as a pair of exact 16-bit floats, low code in the low half.
/// `w_shr4` is w >> 4. Trick: a code c = n ^ 8 - 8 with nibble n; put n ^ 8 into the mantissa of
/// 128.0 (bf16 0x4300, unit 1) or 1024.0 (fp16 0x6400, unit 1), then subtract 136 / 1032, exact.
template <class T, int P>
__device__ __forceinline__ std::uint32_t int4_pair(std::uint32_t w, std::uint32_t w_shr4) {
  constexpr std::uint32_t sel = P | (P << 4) | ((P + 4) << 8) | ((P + 4) << 12);
  const std::uint32_t v = __byte_perm(w, w_shr4, sel); // byte p in bytes 0 and 2 (p>>4 there)
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    const std::uint32_t r = (v & 0x000F000Fu) ^ 0x43084308u;
    __nv_bfloat162 h = *reinterpret_cast<const __nv_bfloat162*>(&r);
    const __nv_bfloat162 one = __floats2bfloat162_rn(1.0f, 1.0f);
    const __nv_bfloat162 bias = __floats2bfloat162_rn(-136.0f, -136.0f);
    h = __hfma2(h, one, bias);
    return *reinterpret_cast<const std::uint32_t*>(&h);
  } else {
    const std::uint32_t r = (v & 0x000F000Fu) ^ 0x64086408u;
    __half2 h = *reinterpret_cast<const __half2*>(&r);
    h = __hsub2(h, __floats2half2_rn(1032.0f, 1032.0f));
    return *reinterpret_cast<const std::uint32_t*>(&h);
  }
}

/// (v & mask) ^ magic in one LOP3 (from C++ the compiler splits it in two).
__device__ __forceinline__ std::uint32_t lop3_and_xor(std::uint32_t v, std::uint32_t mask,
                                                      std::uint32_t magic) {
  std::uint32_t r;
  asm("lop3.b32 %0, %1, %2, %3, 0x6A;" : "=r"(r) : "r"(v), "r"(mask), "r"(magic));
  return r;
}

/// int4_pair with its constants as operands, for kernels that keep them in registers the
/// compiler cannot fold (0x000F000F; the magic 0x43084308 / 0x64086408; the pairs (1, 1) and
/// (-136, -136) / (-1032, -1032)): byte permutation, one LOP3, one FMA per pair, where the
/// immediate form above takes two LOP3s.
template <class T, int P>
__device__ __forceinline__ std::uint32_t int4_pair(std::uint32_t w, std::uint32_t w_shr4,
                                                   std::uint32_t mask, std::uint32_t magic,
                                                   std::uint32_t one, std::uint32_t bias) {
  constexpr std::uint32_t sel = P | (P << 4) | ((P + 4) << 8) | ((P + 4) << 12);
  const std::uint32_t r = lop3_and_xor(__byte_perm(w, w_shr4, sel), mask, magic);
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    const __nv_bfloat162 h = __hfma2(*reinterpret_cast<const __nv_bfloat162*>(&r),
                                     *reinterpret_cast<const __nv_bfloat162*>(&one),
                                     *reinterpret_cast<const __nv_bfloat162*>(&bias));
    return *reinterpret_cast<const std::uint32_t*>(&h);
  } else {
    const __half2 h =
        __hfma2(*reinterpret_cast<const __half2*>(&r), *reinterpret_cast<const __half2*>(&one),
                *reinterpret_cast<const __half2*>(&bias));
    return *reinterpret_cast<const std::uint32_t*>(&h);
  }
}

/// Two int8 codes as a pair of exact 16-bit floats.
template <class T> __device__ __forceinline__ std::uint32_t int8_pair(int lo, int hi) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    __nv_bfloat162 h = __floats2bfloat162_rn(float(lo), float(hi));
    return *reinterpret_cast<const std::uint32_t*>(&h);
  } else {
    __half2 h = __floats2half2_rn(float(lo), float(hi));
    return *reinterpret_cast<const std::uint32_t*>(&h);
  }
}

/// One entry of the high-expansion table, for a 4-bit pattern f of "slot i is high" flags. The
/// source is four consecutive high values v[r..r+3] (16 bits each, bytes 0..7 of two words);
/// slot i takes v[r + popc(f & ((1 << i) - 1))] when bit i is set, else 0:
///   out_lo = byte_perm(src, sel_lo) & mask_lo   (slots 0, 1)
///   out_hi = byte_perm(src, sel_hi) & mask_hi   (slots 2, 3)
struct HighExpansion {
  std::uint32_t sel_lo, sel_hi, mask_lo, mask_hi;
};

__host__ __device__ inline HighExpansion make_high_expansion(unsigned f) {
  std::uint32_t sel[2] = {0, 0}, mask[2] = {0, 0};
  unsigned rank = 0;
  for (unsigned i = 0; i < 4; ++i) {
    if (f & (1u << i)) {
      const unsigned half = i & 1u, word = i >> 1;
      const std::uint32_t s = (2 * rank) | ((2 * rank + 1) << 4); // both bytes of v[rank]
      sel[word] |= s << (8 * half);
      mask[word] |= 0xFFFFu << (16 * half);
      ++rank;
    }
  }
  return {sel[0], sel[1], mask[0], mask[1]};
}

/// The 4 flags of codes 4h .. 4h+3 of a word, from its sentinel bits (bit 4q+3), as bits 0..3.
template <int H> __device__ __forceinline__ unsigned group_flags(std::uint32_t sentinel_bits) {
  const std::uint32_t x = (sentinel_bits >> (16 * H + 3)) & 0x1111u; // bits 0, 4, 8, 12
  return ((x * 0x249u) >> 9) & 0xFu;                                 // -> bits 0, 1, 2, 3
}

/// D += A * B for one m16n8k16 tile with float32 accumulation (mma.sync, sm_80 and newer).
template <class T>
__device__ __forceinline__ void mma_16816(float (&d)[4], std::uint32_t a0, std::uint32_t a1,
                                          std::uint32_t a2, std::uint32_t a3, std::uint32_t b0,
                                          std::uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
#endif
}

} // namespace sqformat::gpu::wsq_detail

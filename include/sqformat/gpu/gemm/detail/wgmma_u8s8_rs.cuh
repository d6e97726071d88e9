// sqformat/gpu/gemm/detail/wgmma_u8s8_rs.cuh: the warpgroup MMA with unsigned 8-bit A in
// registers and signed 8-bit B from shared memory (RS form, `.atype = .u8`, `.btype = .s8`).
//
// Same fragments, accumulator layout and `accumulate` flag as WgmmaS8RS (wgmma_s8_rs.cuh); A bytes
// are read as 0..255. Used with the prepacked offset-binary INT4 weights (u = q + 8), whose
// widening is one mask (and one shift) per 4 weights instead of a sign extension.
#pragma once

#include <cstdint>
#include <type_traits>

#include "wgmma_s8_rs.cuh"

namespace sqformat::gpu::detail {

template <int N> struct WgmmaU8S8RS; // N: the n extent of the instruction (tokens of the tile)

template <> struct WgmmaU8S8RS<8> {
  static constexpr int accumulators = 4;
  __device__ __forceinline__ static void mma(std::int32_t* d, const std::uint32_t* a,
                                             std::uint64_t b_desc, bool accumulate) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %9, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n8k32.s32.u8.s8 {"
                 "%0,%1,%2,%3"
                 "}, {%4,%5,%6,%7}, %8, p;\n}\n"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc), "r"(accumulate ? 1 : 0)
                 : "memory");
#else
    (void)d;
    (void)a;
    (void)b_desc;
    (void)accumulate;
#endif
  }
};

template <> struct WgmmaU8S8RS<16> {
  static constexpr int accumulators = 8;
  __device__ __forceinline__ static void mma(std::int32_t* d, const std::uint32_t* a,
                                             std::uint64_t b_desc, bool accumulate) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %13, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n16k32.s32.u8.s8 {"
                 "%0,%1,%2,%3,%4,%5,%6,%7"
                 "}, {%8,%9,%10,%11}, %12, p;\n}\n"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]),
                   "+r"(d[6]), "+r"(d[7])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc), "r"(accumulate ? 1 : 0)
                 : "memory");
#else
    (void)d;
    (void)a;
    (void)b_desc;
    (void)accumulate;
#endif
  }
};

template <> struct WgmmaU8S8RS<32> {
  static constexpr int accumulators = 16;
  __device__ __forceinline__ static void mma(std::int32_t* d, const std::uint32_t* a,
                                             std::uint64_t b_desc, bool accumulate) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %21, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n32k32.s32.u8.s8 {"
                 "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15"
                 "}, {%16,%17,%18,%19}, %20, p;\n}\n"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]),
                   "+r"(d[6]), "+r"(d[7]), "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]),
                   "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc), "r"(accumulate ? 1 : 0)
                 : "memory");
#else
    (void)d;
    (void)a;
    (void)b_desc;
    (void)accumulate;
#endif
  }
};

template <> struct WgmmaU8S8RS<64> {
  static constexpr int accumulators = 32;
  __device__ __forceinline__ static void mma(std::int32_t* d, const std::uint32_t* a,
                                             std::uint64_t b_desc, bool accumulate) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k32.s32.u8.s8 {"
                 "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,"
                 "%22,%23,%24,%25,%26,%27,%28,%29,%30,%31"
                 "}, {%32,%33,%34,%35}, %36, p;\n}\n"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]),
                   "+r"(d[6]), "+r"(d[7]), "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]),
                   "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]), "+r"(d[16]), "+r"(d[17]),
                   "+r"(d[18]), "+r"(d[19]), "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]),
                   "+r"(d[24]), "+r"(d[25]), "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]),
                   "+r"(d[30]), "+r"(d[31])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc), "r"(accumulate ? 1 : 0)
                 : "memory");
#else
    (void)d;
    (void)a;
    (void)b_desc;
    (void)accumulate;
#endif
  }
};

template <> struct WgmmaU8S8RS<128> {
  static constexpr int accumulators = 64;
  __device__ __forceinline__ static void mma(std::int32_t* d, const std::uint32_t* a,
                                             std::uint64_t b_desc, bool accumulate) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k32.s32.u8.s8 {"
                 "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,"
                 "%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,"
                 "%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,"
                 "%62,%63"
                 "}, {%64,%65,%66,%67}, %68, p;\n}\n"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]),
                   "+r"(d[6]), "+r"(d[7]), "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]),
                   "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]), "+r"(d[16]), "+r"(d[17]),
                   "+r"(d[18]), "+r"(d[19]), "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]),
                   "+r"(d[24]), "+r"(d[25]), "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]),
                   "+r"(d[30]), "+r"(d[31]), "+r"(d[32]), "+r"(d[33]), "+r"(d[34]), "+r"(d[35]),
                   "+r"(d[36]), "+r"(d[37]), "+r"(d[38]), "+r"(d[39]), "+r"(d[40]), "+r"(d[41]),
                   "+r"(d[42]), "+r"(d[43]), "+r"(d[44]), "+r"(d[45]), "+r"(d[46]), "+r"(d[47]),
                   "+r"(d[48]), "+r"(d[49]), "+r"(d[50]), "+r"(d[51]), "+r"(d[52]), "+r"(d[53]),
                   "+r"(d[54]), "+r"(d[55]), "+r"(d[56]), "+r"(d[57]), "+r"(d[58]), "+r"(d[59]),
                   "+r"(d[60]), "+r"(d[61]), "+r"(d[62]), "+r"(d[63])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc), "r"(accumulate ? 1 : 0)
                 : "memory");
#else
    (void)d;
    (void)a;
    (void)b_desc;
    (void)accumulate;
#endif
  }
};

} // namespace sqformat::gpu::detail

namespace sqformat::gpu::detail {

/// The RS wgmma for signed (canonical) or unsigned (prepacked) A.
template <int N, bool UnsignedA>
using WgmmaRS = std::conditional_t<UnsignedA, WgmmaU8S8RS<N>, WgmmaS8RS<N>>;

} // namespace sqformat::gpu::detail

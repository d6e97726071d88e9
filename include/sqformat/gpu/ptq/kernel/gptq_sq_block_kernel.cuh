// sqformat/gpu/ptq/kernel/gptq_sq_block_kernel.cuh: GPTQ-SQ on one block of <= 128 columns.
//
// The lazy-batch GPTQ splits K into blocks. Inside a block, every row of W is independent: it
// needs only its own weights and the block's square of U (upper Cholesky factor of H^{-1}). So
// one warp owns one row at a time, keeps the row's block in shared memory and walks its columns
// in order, exactly as the host loop (sqformat/ptq/gptq_loop.hpp + sq_weights.hpp) does:
//
//   at a bank start: score_i = w_i^2 / denom_i (float64, clamped to FLT_MAX), the H largest are
//                    high (ties -> lower index, by counting who beats whom), and
//                    scale_high/low = amax(current high/low weights) / qmax
//   per column c:    q = clamp(rint(w_c / scale)), e = (w_c - q*scale) / U_cc,
//                    w_j -= e * U_cj  for the block's columns j > c
//
// The arithmetic is the host's operation for operation (explicit _rn intrinsics, no FMA
// contraction) so that, given the same inputs, a block decides the same codes. The columns after
// the block are updated afterwards by one GEMM with the errors this kernel writes.
//
//   shared memory:  [ U block: kBlock x kBlock floats ][ per warp: w, score, err (floats),
//                     codes, mask (bytes), kBlock each ]
//   launch:         kWarps*32 threads, grid-stride over rows, gptq_sq_block_smem_bytes() bytes
#pragma once

#include <cfloat>
#include <cstddef>
#include <cstdint>

namespace sqformat::gpu::ptq::detail {

template <int kBlock, int kWarps> constexpr std::size_t gptq_sq_block_smem_bytes() {
  return sizeof(float) * kBlock * kBlock + kWarps * kBlock * (3 * sizeof(float) + 2);
}

template <class C, int kBlock, int kWarps>
__global__ void __launch_bounds__(kWarps * 32)
    gptq_sq_block_kernel(float* __restrict__ w, const float* __restrict__ u,
                         const double* __restrict__ denom, std::size_t n, std::size_t k,
                         std::size_t i1, int width, float* __restrict__ err,
                         std::int8_t* __restrict__ codes, std::uint8_t* __restrict__ mask,
                         float* __restrict__ scale_low, float* __restrict__ scale_high) {
  static_assert(kBlock % 32 == 0 && kBlock % C::bank == 0,
                "gptq_sq_block_kernel: kBlock must be a multiple of 32 and of the bank size");
  constexpr int b = C::bank;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  float* ublk = reinterpret_cast<float*>(smem_raw);
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  float* wrow = ublk + kBlock * kBlock + warp * 3 * kBlock;
  float* score = wrow + kBlock;
  float* erow = score + kBlock;
  std::int8_t* qrow = reinterpret_cast<std::int8_t*>(ublk + kBlock * kBlock + kWarps * 3 * kBlock) +
                      warp * 2 * kBlock;
  std::uint8_t* mrow = reinterpret_cast<std::uint8_t*>(qrow + kBlock);

  for (int idx = threadIdx.x; idx < width * width; idx += blockDim.x) {
    const int r = idx / width;
    const int c = idx % width;
    ublk[r * kBlock + c] = u[(i1 + r) * k + i1 + c];
  }
  __syncthreads();

  const std::size_t banks = k / b;
  for (std::size_t row = std::size_t(blockIdx.x) * kWarps + warp; row < n;
       row += std::size_t(gridDim.x) * kWarps) {
    float* wg = w + row * k + i1;
    for (int j = lane; j < width; j += 32) {
      wrow[j] = wg[j];
    }
    __syncwarp();
    float s_high = 0.0f, s_low = 0.0f;
    for (int c = 0; c < width; ++c) {
      if (c % b == 0) {
        for (int e = lane; e < b; e += 32) {
          const float v = wrow[c + e];
          const double sc = double(v) * double(v) / denom[i1 + c + e];
          score[c + e] = sc < double(FLT_MAX) ? float(sc) : FLT_MAX;
        }
        __syncwarp();
        float amax_h = 0.0f, amax_l = 0.0f;
        for (int e = lane; e < b; e += 32) {
          const float si = score[c + e];
          int rank = 0;
          for (int j = 0; j < b; ++j) {
            const float sj = score[c + j];
            rank += (sj > si || (sj == si && j < e)) ? 1 : 0;
          }
          const bool high = rank < C::high_per_bank;
          mrow[c + e] = high ? 1 : 0;
          const float a = fabsf(wrow[c + e]);
          if (high) {
            amax_h = fmaxf(amax_h, a);
          } else {
            amax_l = fmaxf(amax_l, a);
          }
        }
        for (int off = 16; off > 0; off /= 2) {
          amax_h = fmaxf(amax_h, __shfl_xor_sync(0xffffffffu, amax_h, off));
          amax_l = fmaxf(amax_l, __shfl_xor_sync(0xffffffffu, amax_l, off));
        }
        s_high = amax_h > 0.0f ? __fdiv_rn(amax_h, float(C::high_qmax)) : 0.0f;
        s_low = amax_l > 0.0f ? __fdiv_rn(amax_l, float(C::low_qmax)) : 0.0f;
        if (lane == 0) {
          const std::size_t s = row * banks + (i1 + c) / b;
          scale_high[s] = s_high;
          scale_low[s] = s_low;
        }
        __syncwarp();
      }
      const float x = wrow[c];
      const bool high = mrow[c] != 0;
      const float scale = high ? s_high : s_low;
      const float qmax = high ? float(C::high_qmax) : float(C::low_qmax);
      int q = 0;
      if (scale != 0.0f) {
        q = static_cast<int>(fminf(fmaxf(rintf(__fdiv_rn(x, scale)), -qmax), qmax));
      }
      // From the integer code, as the host does: rintf(-0.3) is -0.0f, and -0.0f * scale would
      // store a -0 where the packed tensor dequantizes to +0.
      const float deq = __fmul_rn(static_cast<float>(q), scale);
      const float e = __fdiv_rn(__fsub_rn(x, deq), ublk[c * kBlock + c]);
      for (int j = lane; j < width; j += 32) {
        if (j > c) {
          wrow[j] = __fsub_rn(wrow[j], __fmul_rn(e, ublk[c * kBlock + j]));
        }
      }
      __syncwarp();
      if (lane == 0) {
        wrow[c] = deq;
        erow[c] = e;
        qrow[c] = static_cast<std::int8_t>(q);
      }
      __syncwarp();
    }
    for (int j = lane; j < width; j += 32) {
      wg[j] = wrow[j];
      err[row * kBlock + j] = erow[j];
      codes[row * k + i1 + j] = qrow[j];
      mask[row * k + i1 + j] = mrow[j];
    }
    __syncwarp();
  }
}

} // namespace sqformat::gpu::ptq::detail

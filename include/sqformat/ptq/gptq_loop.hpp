// sqformat/ptq/gptq_loop.hpp: the GPTQ error-compensation loop with a pluggable quantizer.
//
// W (N x K, row-major float32) is quantized column by column in K order. After column k is
// rounded, its error e = (w_k - q_k) / U_kk is spread over the columns not yet quantized:
// W[:, j] -= e * U[k, j] for j > k, with U the upper Cholesky factor of H^{-1} (see
// inverse_hessian.hpp). "Lazy batch" form: inside a block of B columns the update is applied
// immediately, and the columns after the block receive all B errors at once,
// W[:, i2:] -= E (N x B) * U[i1:i2, i2:], one GEMM per block.
//
// Rows are independent (U is shared), so each row of a block is processed on its own; the
// quantizer sees one row at a time:
//   q.group()                                  columns per group (a bank or a scale group)
//   q.begin_group(row, k0, w_current, len)     at every group start: the row's CURRENT weights
//                                              of columns [k0, k0+len), all errors of earlier
//                                              columns already applied (choose masks/scales here)
//   float q.quantize(row, k, w)                the value column k of `row` is rounded to
// Groups and blocks must nest (block % group == 0 or group % block == 0) so that a group's
// columns are all current when it starts; the effective block is adjusted to guarantee it.
//
// With SQFORMAT_PTQ_USE_CBLAS defined (and a CBLAS linked), the per-block update uses
// cblas_sgemm; otherwise plain loops. Results may differ in the last bits between the two.
#pragma once

#include <sqformat/error.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#if defined(SQFORMAT_PTQ_USE_CBLAS)
#include <cblas.h>
#endif

namespace sqformat::ptq {

/// Block size actually used for a requested `block` and a quantizer group of `group` columns.
inline std::size_t gptq_effective_block(std::size_t block, std::size_t group, std::size_t k) {
  if (block == 0 || group == 0) {
    throw Error(ErrorCode::invalid_argument, "gptq: block and group sizes must be positive");
  }
  if (group >= k) {
    return std::min(block, k); // one group per row: it starts at k = 0, when all is current
  }
  if (group % block == 0) {
    return block;
  }
  return (block + group - 1) / group * group; // a multiple of the group
}

/// Runs GPTQ on w (n x k, row-major) in place: on return w holds the quantized (dequantized
/// float) values the quantizer chose. `u`: k x k row-major upper factor, H^{-1} = U^T U.
template <class Quantizer>
void gptq_quantize(float* w, std::size_t n, std::size_t k, const float* u, std::size_t block,
                   Quantizer& q) {
  if (w == nullptr || u == nullptr || n == 0 || k == 0) {
    throw Error(ErrorCode::invalid_argument, "gptq_quantize: null or empty operand");
  }
  const std::size_t group = q.group();
  if (k % std::min(group, k) != 0) {
    throw Error(ErrorCode::k_not_multiple_of_bank,
                "gptq_quantize: K = " + std::to_string(k) +
                    " is not a multiple of the quantizer group " + std::to_string(group));
  }
  const std::size_t bsz = gptq_effective_block(block, group, k);
  std::vector<float> err(n * bsz);
  for (std::size_t i1 = 0; i1 < k; i1 += bsz) {
    const std::size_t i2 = std::min(i1 + bsz, k);
    const std::size_t width = i2 - i1;
    for (std::size_t r = 0; r < n; ++r) {
      float* wr = w + r * k;
      float* er = err.data() + r * bsz;
      for (std::size_t c = i1; c < i2; ++c) {
        if (c % group == 0) {
          q.begin_group(r, c, wr + c, std::min(group, k - c));
        }
        const float x = wr[c];
        const float qv = q.quantize(r, c, x);
        const float* uc = u + c * k;
        const float e = (x - qv) / uc[c];
        wr[c] = qv;
        er[c - i1] = e;
        for (std::size_t j = c + 1; j < i2; ++j) {
          wr[j] -= e * uc[j];
        }
      }
    }
    if (i2 == k) {
      break;
    }
#if defined(SQFORMAT_PTQ_USE_CBLAS)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n),
                static_cast<int>(k - i2), static_cast<int>(width), -1.0f, err.data(),
                static_cast<int>(bsz), u + i1 * k + i2, static_cast<int>(k), 1.0f, w + i2,
                static_cast<int>(k));
#else
    for (std::size_t r = 0; r < n; ++r) {
      float* wr = w + r * k;
      const float* er = err.data() + r * bsz;
      for (std::size_t c = 0; c < width; ++c) {
        const float e = er[c];
        const float* uc = u + (i1 + c) * k;
        for (std::size_t j = i2; j < k; ++j) {
          wr[j] -= e * uc[j];
        }
      }
    }
#endif
  }
}

/// U (float64, from factor_inverse_hessian) converted to the float32 the loop consumes.
inline std::vector<float> to_float(const std::vector<double>& v) {
  return std::vector<float>(v.begin(), v.end());
}

} // namespace sqformat::ptq

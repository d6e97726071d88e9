// sqformat/ptq/spd_matrix.hpp: the small dense linear algebra GPTQ needs on the host, for
// symmetric positive definite matrices in float64 (row-major, n x n).
//
// Plain loops with contiguous inner loops (row-major dot products and axpys); O(n^3) with small
// constants, a few seconds at n = 2048 and milliseconds at n = 512. No BLAS/LAPACK needed.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

namespace sqformat::ptq {

/// In-place Cholesky factorization A = L L^T. Reads the lower triangle of `a`, writes L into it
/// and zeroes the strict upper triangle. Returns false (with `a` partly overwritten) when a pivot
/// is not positive and finite, or below `relative_pivot` times its diagonal entry: such a matrix
/// is singular to working precision and its inverse would be rounding noise.
inline bool cholesky_lower_in_place(double* a, std::size_t n, double relative_pivot = 1e-12) {
  for (std::size_t i = 0; i < n; ++i) {
    double* ri = a + i * n;
    for (std::size_t j = 0; j <= i; ++j) {
      const double* rj = a + j * n;
      const double aij = ri[j];
      double s = aij;
      for (std::size_t p = 0; p < j; ++p) {
        s -= ri[p] * rj[p];
      }
      if (i == j) {
        if (!(s > relative_pivot * aij) || !(s > 0.0) || !std::isfinite(s)) {
          return false;
        }
        ri[i] = std::sqrt(s);
      } else {
        ri[j] = s / rj[j];
      }
    }
    for (std::size_t j = i + 1; j < n; ++j) {
      ri[j] = 0.0;
    }
  }
  return true;
}

/// A^{-1} from the Cholesky factor L of A (A = L L^T): A^{-1} = L^{-T} L^{-1}. Returns the full
/// symmetric n x n inverse.
inline std::vector<double> spd_inverse_from_cholesky(const double* l, std::size_t n) {
  // Z = L^{-1}, row by row: Z_i = (e_i - sum_{p<i} L_ip Z_p) / L_ii. Row p of Z is zero beyond p,
  // so each axpy touches Z_p[0..p] only.
  std::vector<double> z(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    double* zi = z.data() + i * n;
    zi[i] = 1.0;
    for (std::size_t p = 0; p < i; ++p) {
      const double c = l[i * n + p];
      if (c == 0.0) {
        continue;
      }
      const double* zp = z.data() + p * n;
      for (std::size_t q = 0; q <= p; ++q) {
        zi[q] -= c * zp[q];
      }
    }
    const double inv = 1.0 / l[i * n + i];
    for (std::size_t q = 0; q <= i; ++q) {
      zi[q] *= inv;
    }
  }
  // A^{-1} = Z^T Z = sum_p (row p of Z)^T (row p of Z); accumulate the lower triangle.
  std::vector<double> inv(n * n, 0.0);
  for (std::size_t p = 0; p < n; ++p) {
    const double* zp = z.data() + p * n;
    for (std::size_t i = 0; i <= p; ++i) {
      const double zi = zp[i];
      if (zi == 0.0) {
        continue;
      }
      double* ri = inv.data() + i * n;
      for (std::size_t j = 0; j <= i; ++j) {
        ri[j] += zi * zp[j];
      }
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      inv[j * n + i] = inv[i * n + j];
    }
  }
  return inv;
}

} // namespace sqformat::ptq

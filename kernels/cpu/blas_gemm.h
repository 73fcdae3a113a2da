// Typed row-major GEMM on OpenBLAS for the CPU matmul and gram kernels.
#pragma once
#include <cblas.h>

#include <climits>
#include <cstdint>
#include <cstring>

#include "engine/error.h"
#include "kernels/common/matmul_index.h"

namespace pleas::cpu {

inline int blas_int(int64_t v, const char* what) {
  PLEAS_CHECK(v >= 0 && v <= INT_MAX, "gemm: ", what, " = ", v, " exceeds the BLAS integer range");
  return int(v);
}

// C [M, N] (row-major, row stride ldc) = op(A) [M, K] · op(B) [K, N] + beta · C, where each
// operand's layout says whether BLAS reads it transposed and with which leading dimension.
template <typename T>
void blas_gemm(int64_t M, int64_t N, int64_t K, const T* A, BlasLayout la, const T* B,
               BlasLayout lb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // empty sum: C = beta · C
    if (beta == T(0))
      for (int64_t r = 0; r < M; ++r) std::memset(C + r * ldc, 0, size_t(N) * sizeof(T));
    return;
  }
  const CBLAS_TRANSPOSE ta = la.trans ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = lb.trans ? CblasTrans : CblasNoTrans;
  const int m = blas_int(M, "M"), n = blas_int(N, "N"), k = blas_int(K, "K");
  const int lda = blas_int(la.ld, "lda"), ldb = blas_int(lb.ld, "ldb"), ldc_ = blas_int(ldc, "ldc");
  if constexpr (sizeof(T) == 4)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, A, lda, B, ldb, beta, C, ldc_);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, A, lda, B, ldb, beta, C, ldc_);
}

}  // namespace pleas::cpu

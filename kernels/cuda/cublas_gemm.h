// Typed row-major GEMM on cuBLAS (64-bit-size API) for the CUDA matmul and gram kernels.
// cuBLAS is column-major: a row-major matrix with row stride ld is, to cuBLAS, its transpose with
// the same ld. So row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: swap the operands, keep each
// operand's op (an operand stored transposed is read with op = T either way).
#pragma once
#include <cublas_v2.h>

#include <cstdint>

#include "kernels/common/matmul_index.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"

namespace pleas::cuda {

inline cublasOperation_t blas_op(const BlasLayout& l) { return l.trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

// C [M, N] (row-major, row stride ldc) = op(A) [M, K] · op(B) [K, N] + beta · C, on ctx.stream.
template <typename T>
void cublas_gemm(Context& c, int64_t M, int64_t N, int64_t K, const T* A, BlasLayout la,
                 const T* B, BlasLayout lb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // empty sum: C = beta · C
    if (beta == T(0))
      PLEAS_CUDA_CHECK(cudaMemset2DAsync(C, size_t(ldc) * sizeof(T), 0, size_t(N) * sizeof(T),
                                         size_t(M), c.stream));
    return;
  }
  const T one = T(1);
  if constexpr (sizeof(T) == 4)
    PLEAS_CUDA_CHECK(cublasSgemm_64(c.cublas, blas_op(lb), blas_op(la), N, M, K, &one, B, lb.ld, A,
                                    la.ld, &beta, C, ldc));
  else
    PLEAS_CUDA_CHECK(cublasDgemm_64(c.cublas, blas_op(lb), blas_op(la), N, M, K, &one, B, lb.ld, A,
                                    la.ld, &beta, C, ldc));
}

}  // namespace pleas::cuda

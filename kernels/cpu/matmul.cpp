// CPU linear / matmul / bmm on OpenBLAS (cblas_sgemm / cblas_dgemm, row-major). Transposed views
// are passed to BLAS with op = T and their own leading dimension (kernels/common/matmul_index.h);
// other strided operands are copied to contiguous first.
#include <omp.h>

#include "kernels/backend_ops.h"
#include "kernels/common/matmul_index.h"
#include "kernels/cpu/blas_gemm.h"

namespace pleas::cpu {

namespace {

// out [M, N] (contiguous) = A [M, K] · B [K, N] (+ out when beta = 1), A and B logical views.
template <typename T>
void gemm_views(Tensor& out, const Tensor& a, const Tensor& b, T beta) {
  BlasOperand A = blas_operand(a), B = blas_operand(b);
  blas_gemm<T>(a.size(0), b.size(1), a.size(1), A.t.data<T>(), A.layout, B.t.data<T>(), B.layout,
               beta, out.data<T>(), out.size(1));
}

// out[r, c] = bias[c] for every row: the GEMM then accumulates onto it (beta = 1).
template <typename T>
void fill_rows_with_bias(Tensor& out, const Tensor& bias) {
  const int64_t M = out.size(0), N = out.size(1), bs = bias.stride(0);
  const T* b = bias.data<T>();
  T* o = out.data<T>();
#pragma omp parallel for schedule(static) if (M * N > (1 << 16))
  for (int64_t r = 0; r < M; ++r)
    for (int64_t c = 0; c < N; ++c) o[r * N + c] = b[c * bs];
}

template <typename T>
void linear_t(Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias) {
  if (bias.defined()) fill_rows_with_bias<T>(out, bias);
  gemm_views<T>(out, x, w.transpose(0, 1), bias.defined() ? T(1) : T(0));  // x wᵀ (+ bias)
}

// Each matrix of the batch is small for ViT attention (197x64x197): one single-threaded GEMM per
// thread over the batch beats a multi-threaded GEMM per matrix. Large matrices keep OpenBLAS's
// own threading (OpenBLAS runs single-threaded when called inside a parallel region).
template <typename T>
void bmm_t(Tensor& out, const Tensor& a, const Tensor& b) {
  const int64_t batch = a.size(0), M = a.size(1), K = a.size(2), N = b.size(2);
  BlasOperand A = blas_operand(a), B = blas_operand(b);
  const T* pa = A.t.data<T>();
  const T* pb = B.t.data<T>();
  T* po = out.data<T>();
  const double flops = 2.0 * double(M) * double(N) * double(K);
  const bool over_batch = batch > 1 && flops < 64.0e6 && omp_get_max_threads() > 1;
#pragma omp parallel for schedule(dynamic) if (over_batch)
  for (int64_t i = 0; i < batch; ++i)
    blas_gemm<T>(M, N, K, pa + i * A.batch_stride, A.layout, pb + i * B.batch_stride, B.layout,
                 T(0), po + i * M * N, N);
}

}  // namespace

void linear(Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias) {
  if (out.dtype() == DType::f64) linear_t<double>(out, x, w, bias);
  else linear_t<float>(out, x, w, bias);
}

void matmul(Tensor& out, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const Tensor la = trans_a ? a.transpose(0, 1) : a, lb = trans_b ? b.transpose(0, 1) : b;
  if (out.dtype() == DType::f64) gemm_views<double>(out, la, lb, 0.0);
  else gemm_views<float>(out, la, lb, 0.0f);
}

void bmm(Tensor& out, const Tensor& a, const Tensor& b) {
  if (out.dtype() == DType::f64) bmm_t<double>(out, a, b);
  else bmm_t<float>(out, a, b);
}

}  // namespace pleas::cpu

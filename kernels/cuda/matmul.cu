// CUDA linear / matmul / bmm on cuBLAS (row-major through the operand swap, see cublas_gemm.h).
// TF32 stays off (the context sets CUBLAS_PEDANTIC_MATH), so results match the CPU to f32 rounding.
#include "kernels/backend_ops.h"
#include "kernels/common/matmul_index.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cublas_gemm.h"
#include "kernels/cuda/cuda_check.h"

namespace pleas::cuda {

namespace {

// out[i] = bias[i mod N] over the contiguous [M, N] output; the GEMM then adds x wᵀ (beta = 1).
template <typename T>
__global__ void fill_bias_kernel(T* out, const T* bias, int64_t bstride, int64_t n, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = bias[linear_bias_offset(i, n, bstride)];
}

template <typename T>
void gemm_views(Context& c, Tensor& out, const Tensor& a, const Tensor& b, T beta) {
  BlasOperand A = blas_operand(a), B = blas_operand(b);
  cublas_gemm<T>(c, a.size(0), b.size(1), a.size(1), A.t.data<T>(), A.layout, B.t.data<T>(),
                 B.layout, beta, out.data<T>(), out.size(1));
}

template <typename T>
void linear_t(Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias) {
  auto& c = context(out);
  const int64_t total = out.numel();
  if (bias.defined() && total > 0) {
    fill_bias_kernel<T><<<grid_for(total), kBlock, 0, c.stream>>>(
        out.data<T>(), bias.data<T>(), bias.stride(0), out.size(1), total);
    PLEAS_KERNEL_CHECK();
  }
  gemm_views<T>(c, out, x, w.transpose(0, 1), bias.defined() ? T(1) : T(0));  // x wᵀ (+ bias)
}

template <typename T>
void bmm_t(Tensor& out, const Tensor& a, const Tensor& b) {
  auto& c = context(out);
  const int64_t batch = a.size(0), M = a.size(1), K = a.size(2), N = b.size(2);
  if (batch == 0 || M == 0 || N == 0) return;
  if (K == 0) { out.zero_(); return; }
  BlasOperand A = blas_operand(a), B = blas_operand(b);
  const T one = T(1), zero = T(0);
  // Row-major out_i = A_i B_i  <=>  column-major out_iᵀ = B_iᵀ A_iᵀ, for every i of the batch.
  if constexpr (sizeof(T) == 4)
    PLEAS_CUDA_CHECK(cublasSgemmStridedBatched_64(
        c.cublas, blas_op(B.layout), blas_op(A.layout), N, M, K, &one, B.t.data<T>(), B.layout.ld,
        B.batch_stride, A.t.data<T>(), A.layout.ld, A.batch_stride, &zero, out.data<T>(), N, M * N,
        batch));
  else
    PLEAS_CUDA_CHECK(cublasDgemmStridedBatched_64(
        c.cublas, blas_op(B.layout), blas_op(A.layout), N, M, K, &one, B.t.data<T>(), B.layout.ld,
        B.batch_stride, A.t.data<T>(), A.layout.ld, A.batch_stride, &zero, out.data<T>(), N, M * N,
        batch));
}

}  // namespace

void linear(Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias) {
  if (out.dtype() == DType::f64) linear_t<double>(out, x, w, bias);
  else linear_t<float>(out, x, w, bias);
}

void matmul(Tensor& out, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  auto& c = context(out);
  const Tensor la = trans_a ? a.transpose(0, 1) : a, lb = trans_b ? b.transpose(0, 1) : b;
  if (out.dtype() == DType::f64) gemm_views<double>(c, out, la, lb, 0.0);
  else gemm_views<float>(c, out, la, lb, 0.0f);
}

void bmm(Tensor& out, const Tensor& a, const Tensor& b) {
  if (out.dtype() == DType::f64) bmm_t<double>(out, a, b);
  else bmm_t<float>(out, a, b);
}

}  // namespace pleas::cuda

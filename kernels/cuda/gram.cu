// CUDA normal-equation accumulators: G += XᵀX by cuBLAS syrk (one triangle) and a mirror kernel
// (index math in kernels/common/gram_index.h), C += XᵀY by cuBLAS gemm. Inputs of another dtype
// than the accumulator are converted by copy_strided in row chunks.
#include <algorithm>

#include "kernels/backend_ops.h"
#include "kernels/common/gram_index.h"
#include "kernels/common/meta.h"
#include "kernels/common/matmul_index.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cublas_gemm.h"
#include "kernels/cuda/cuda_check.h"

namespace pleas::cuda {

namespace {

constexpr int64_t kChunkElems = int64_t(1) << 24;  // rows per converted chunk: ~16M elements

// Rows [r0, r0 + rows) of `t` in dtype `dt`: a view when already that dtype, else converted.
Tensor rows_as(const Tensor& t, int64_t r0, int64_t rows, DType dt) {
  Tensor v = t.narrow(0, r0, rows);
  if (v.dtype() == dt) return v;
  Tensor out = Tensor::empty(v.shape(), dt, v.device());
  copy_strided(out, v);
  return out;
}
int64_t chunk_rows(const Tensor& X, const Tensor& acc, int64_t width) {
  if (X.dtype() == acc.dtype()) return std::max<int64_t>(X.size(0), 1);
  return std::max<int64_t>(1, kChunkElems / std::max<int64_t>(width, 1));
}

// G[j, i] = G[i, j] for the strictly-lower entries (i, j) of the row-major G.
template <typename T>
__global__ void mirror_kernel(T* G, int64_t ld, int64_t count) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < count;
       t += int64_t(gridDim.x) * blockDim.x) {
    int64_t src, dst;
    mirror_offsets(t, ld, src, dst);
    G[dst] = G[src];
  }
}

// Row-major lower triangle of G [k, k] += XᵀX. To column-major cuBLAS the row-major G is Gᵀ = G
// and its row-major lower triangle is the column-major upper one. A row-major X [n, k] is the
// column-major k x n matrix Xᵀ: G += (Xᵀ)(Xᵀ)ᵀ is syrk(op = N); a transposed view (memory holds
// Xᵀ row-major, i.e. column-major X) is syrk(op = T).
template <typename T>
void syrk_lower(Context& c, T* G, int64_t k, const Tensor& X) {
  const int64_t n = X.size(0);
  if (n == 0 || k == 0) return;
  BlasOperand x = blas_operand(X);
  const cublasOperation_t op = x.layout.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
  const T one = T(1);
  if constexpr (sizeof(T) == 4)
    PLEAS_CUDA_CHECK(cublasSsyrk_64(c.cublas, CUBLAS_FILL_MODE_UPPER, op, k, n, &one,
                                    x.t.data<T>(), x.layout.ld, &one, G, k));
  else
    PLEAS_CUDA_CHECK(cublasDsyrk_64(c.cublas, CUBLAS_FILL_MODE_UPPER, op, k, n, &one,
                                    x.t.data<T>(), x.layout.ld, &one, G, k));
}

template <typename T>
void gram_t(Tensor& G, const Tensor& X) {
  auto& c = context(G);
  const int64_t n = X.size(0), k = X.size(1), step = chunk_rows(X, G, k);
  for (int64_t r0 = 0; r0 < n; r0 += step)
    syrk_lower<T>(c, G.data<T>(), k, rows_as(X, r0, std::min(step, n - r0), G.dtype()));
  const int64_t count = tri_lower_count(k);
  if (count > 0) {
    mirror_kernel<T><<<grid_for(count), kBlock, 0, c.stream>>>(G.data<T>(), k, count);
    PLEAS_KERNEL_CHECK();
  }
}

template <typename T>
void cross_t(Tensor& C, const Tensor& X, const Tensor& Y) {
  auto& c = context(C);
  const int64_t n = X.size(0), k = X.size(1), m = Y.size(1);
  const int64_t step = std::min(chunk_rows(X, C, k + m), chunk_rows(Y, C, k + m));
  for (int64_t r0 = 0; r0 < n; r0 += step) {
    const int64_t rows = std::min(step, n - r0);
    // C [k, m] += Xᵀ [k, rows] · Y [rows, m]
    BlasOperand xt = blas_operand(rows_as(X, r0, rows, C.dtype()).transpose(0, 1));
    BlasOperand y = blas_operand(rows_as(Y, r0, rows, C.dtype()));
    cublas_gemm<T>(c, k, m, rows, xt.t.data<T>(), xt.layout, y.t.data<T>(), y.layout, T(1),
                   C.data<T>(), m);
  }
}

}  // namespace

void gram_accumulate(Tensor& G, const Tensor& X) {
  if (G.dtype() == DType::f64) gram_t<double>(G, X);
  else gram_t<float>(G, X);
}

void cross_accumulate(Tensor& C, const Tensor& X, const Tensor& Y) {
  if (C.dtype() == DType::f64) cross_t<double>(C, X, Y);
  else cross_t<float>(C, X, Y);
}

namespace {
// acc(r, c) += x(r, c) over an R x C grid of strided elements, one thread per element.
template <typename A, typename X>
__global__ void add_into_kernel(A* acc, const X* x, int64_t R, int64_t C, int64_t ar, int64_t ac, int64_t xr,
                                int64_t xc) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < R * C; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = t / C, c = t % C;
    acc[r * ar + c * ac] += A(x[r * xr + c * xc]);
  }
}
template <typename A, typename X>
void add_into_t(Tensor& acc, const Tensor& x) {
  const bool two = acc.dim() == 2;
  const int64_t R = two ? acc.size(0) : 1, C = acc.size(two ? 1 : 0);
  auto& ctx = context(acc);
  add_into_kernel<A, X><<<grid_for(R * C), kBlock, 0, ctx.stream>>>(
      acc.data<A>(), x.data<X>(), R, C, two ? acc.stride(0) : 0, acc.stride(two ? 1 : 0), two ? x.stride(0) : 0,
      x.stride(two ? 1 : 0));
  PLEAS_KERNEL_CHECK();
}
}  // namespace

void add_into(Tensor& acc, const Tensor& x) {
  with_accumulate_types(acc, x, [&](auto a, auto b) { add_into_t<decltype(a), decltype(b)>(acc, x); });
}

}  // namespace pleas::cuda

// CUDA spd_solve: Cholesky by cuSOLVER (cusolverDnXpotrf) and the two triangular solves by cuBLAS
// (trsm), in place on row-major buffers, all on ctx.stream. The factorisation's devInfo is copied
// back to report a failing pivot.
#include <vector>

#include "kernels/backend_ops.h"
#include "kernels/common/gram_index.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"

namespace pleas::cuda {

namespace {

// A[i, i] += ridge for i < n (index math: kernels/common/gram_index.h).
template <typename T>
__global__ void add_diag_kernel(T* A, int64_t n, T ridge) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    A[diag_offset(i, n)] += ridge;
}

struct Params {  // cuSOLVER's 64-bit API options, destroyed on every exit path
  cusolverDnParams_t p = nullptr;
  Params() { PLEAS_CUDA_CHECK(cusolverDnCreateParams(&p)); }
  ~Params() { cusolverDnDestroyParams(p); }
  Params(const Params&) = delete;
  Params& operator=(const Params&) = delete;
};

template <typename T>
int64_t solve_t(Tensor& X, const Tensor& A, const Tensor& B, double ridge) {
  auto& c = context(X);
  const int64_t n = A.size(0), m = B.size(1);
  copy_strided(X, B);  // X = B, then solved in place
  if (n == 0) return 0;
  Tensor L = Tensor::empty(A.shape(), A.dtype(), A.device());  // A + ridge·I, then its factor
  copy_strided(L, A);
  T* l = L.data<T>();
  if (ridge != 0) {
    add_diag_kernel<T><<<grid_for(n), kBlock, 0, c.stream>>>(l, n, T(ridge));
    PLEAS_KERNEL_CHECK();
  }
  // The symmetric row-major buffer is, to column-major cuSOLVER, the same matrix; factorising
  // its column-major upper triangle (A = UᵀU) writes L = Uᵀ into the row-major lower triangle.
  const cudaDataType dt = sizeof(T) == 4 ? CUDA_R_32F : CUDA_R_64F;
  Params params;
  size_t dev_bytes = 0, host_bytes = 0;
  PLEAS_CUDA_CHECK(cusolverDnXpotrf_bufferSize(c.cusolver, params.p, CUBLAS_FILL_MODE_UPPER, n, dt, l,
                                               n, dt, &dev_bytes, &host_bytes));
  // Workspace: [devInfo (256 bytes reserved) | potrf device buffer].
  char* ws = static_cast<char*>(c.workspace(256 + dev_bytes));
  int* d_info = reinterpret_cast<int*>(ws);
  std::vector<char> host_ws(host_bytes);
  PLEAS_CUDA_CHECK(cusolverDnXpotrf(c.cusolver, params.p, CUBLAS_FILL_MODE_UPPER, n, dt, l, n, dt,
                                    ws + 256, dev_bytes, host_bytes ? host_ws.data() : nullptr,
                                    host_bytes, d_info));
  int info = 0;
  PLEAS_CUDA_CHECK(cudaMemcpyAsync(&info, d_info, sizeof(int), cudaMemcpyDeviceToHost, c.stream));
  PLEAS_CUDA_CHECK(cudaStreamSynchronize(c.stream));
  PLEAS_CHECK(info >= 0, "spd_solve: potrf rejected argument ", -info);
  if (info > 0) return info;  // the leading minor of order info is not positive definite
  if (m == 0) return 0;
  // Row-major X [n, m] is column-major Xᵀ [m, n] (ld m), and A X = B <=> Xᵀ Uᵀ U = Bᵀ:
  // Xᵀ := Xᵀ U⁻¹, then Xᵀ := Xᵀ U⁻ᵀ (right-side solves with the column-major upper factor).
  const T one = T(1);
  T* x = X.data<T>();
  if constexpr (sizeof(T) == 4) {
    PLEAS_CUDA_CHECK(cublasStrsm_64(c.cublas, CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N,
                                    CUBLAS_DIAG_NON_UNIT, m, n, &one, l, n, x, m));
    PLEAS_CUDA_CHECK(cublasStrsm_64(c.cublas, CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T,
                                    CUBLAS_DIAG_NON_UNIT, m, n, &one, l, n, x, m));
  } else {
    PLEAS_CUDA_CHECK(cublasDtrsm_64(c.cublas, CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N,
                                    CUBLAS_DIAG_NON_UNIT, m, n, &one, l, n, x, m));
    PLEAS_CUDA_CHECK(cublasDtrsm_64(c.cublas, CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T,
                                    CUBLAS_DIAG_NON_UNIT, m, n, &one, l, n, x, m));
  }
  return 0;
}

}  // namespace

int64_t spd_solve(Tensor& X, const Tensor& A, const Tensor& B, double ridge) {
  return X.dtype() == DType::f64 ? solve_t<double>(X, A, B, ridge) : solve_t<float>(X, A, B, ridge);
}

}  // namespace pleas::cuda

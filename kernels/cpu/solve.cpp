// CPU spd_solve: Cholesky factorisation by LAPACK (potrf) and the two triangular solves by BLAS
// (trsm), all in place on row-major buffers without transposed copies.
#include <cblas.h>
#include <lapacke.h>
#include <omp.h>

#include <optional>

#include "kernels/backend_ops.h"
#include "kernels/common/gram_index.h"
#include "kernels/cpu/blas_gemm.h"

namespace pleas::cpu {

namespace {

// OpenBLAS's threaded Cholesky synchronises its threads many times per call: on the 2-core machine
// it ran 7-15x slower whenever another process shared the cores (measured, n = 576..4608), while
// single-threaded it is at most 1.5x slower on an idle machine. Small triangular solves behave
// alike (576 x 64: 1 ms on one thread, 10-16 ms on two under load). OpenBLAS (OpenMP build)
// follows omp_get_max_threads(), which omp_set_num_threads changes for the calling thread only.
struct SingleThreadedBlas {
  int prev = omp_get_max_threads();
  SingleThreadedBlas() { omp_set_num_threads(1); }
  ~SingleThreadedBlas() { omp_set_num_threads(prev); }
};

template <typename T>
int64_t solve_t(Tensor& X, const Tensor& A, const Tensor& B, double ridge) {
  const int64_t n = A.size(0), m = B.size(1);
  copy_strided(X, B);  // X = B, then solved in place
  if (n == 0) return 0;
  Tensor L = A.clone();  // contiguous work copy: A + ridge·I, then its Cholesky factor
  T* l = L.data<T>();
  for (int64_t i = 0; i < n; ++i) l[diag_offset(i, n)] += T(ridge);
  // A symmetric row-major buffer read as column-major is the same matrix, so the column-major
  // upper factorisation A = UᵀU writes U into the row-major *lower* triangle as L = Uᵀ: A = L Lᵀ.
  // Only the row-major lower triangle of the copy is read (and overwritten).
  const int nn = blas_int(n, "n"), mm = blas_int(m, "m");
  lapack_int info;
  {
    SingleThreadedBlas st;
    if constexpr (sizeof(T) == 4) info = LAPACKE_spotrf(LAPACK_COL_MAJOR, 'U', nn, l, nn);
    else info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', nn, l, nn);
  }
  PLEAS_CHECK(info >= 0, "spd_solve: potrf rejected argument ", -info);
  if (info > 0) return info;  // the leading minor of order info is not positive definite
  if (m == 0) return 0;
  // A X = B  <=>  L (Lᵀ X) = B: X := L⁻¹ X, then X := L⁻ᵀ X.
  T* x = X.data<T>();
  std::optional<SingleThreadedBlas> st;
  if (double(n) * double(n) * double(m) < 1e8) st.emplace();
  if constexpr (sizeof(T) == 4) {
    cblas_strsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, nn, mm, 1.0f, l, nn, x, mm);
    cblas_strsm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, nn, mm, 1.0f, l, nn, x, mm);
  } else {
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, nn, mm, 1.0, l, nn, x, mm);
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, nn, mm, 1.0, l, nn, x, mm);
  }
  return 0;
}
}  // namespace

int64_t spd_solve(Tensor& X, const Tensor& A, const Tensor& B, double ridge) {
  return X.dtype() == DType::f64 ? solve_t<double>(X, A, B, ridge) : solve_t<float>(X, A, B, ridge);
}

}  // namespace pleas::cpu

// spd_solve: (A + ridge·I) X = B by Cholesky. Argument checks, dispatch (kernels/{cpu,cuda}/solve)
// and the error for a matrix that is not positive definite.
#include <cmath>

#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace pleas {

Tensor spd_solve(const Tensor& A, const Tensor& B, double ridge) {
  const char* op = "spd_solve";
  check_defined(op, A, "A");
  check_defined(op, B, "B");
  PLEAS_CHECK(A.dtype() == DType::f32 || A.dtype() == DType::f64, op, ": A must be f32 or f64, got ",
              A.str());
  PLEAS_CHECK(A.dtype() == B.dtype(), op, ": dtype mismatch: A ", A.str(), " and B ", B.str());
  check_same_device(op, A, B);
  check_dim(op, A, 2, "A");
  check_dim(op, B, 2, "B");
  PLEAS_CHECK(A.size(0) == A.size(1), op, ": A ", shape_str(A.shape()), " is not square");
  PLEAS_CHECK(B.size(0) == A.size(0), op, ": B ", shape_str(B.shape()), " has ", B.size(0),
              " rows but A ", shape_str(A.shape()), " has ", A.size(0));
  PLEAS_CHECK(std::isfinite(ridge), op, ": ridge must be finite, got ", ridge);
  Tensor X = Tensor::empty(B.shape(), B.dtype(), B.device());
  const int64_t pivot = PLEAS_DISPATCH(A, spd_solve, X, A, B, ridge);
  PLEAS_CHECK(pivot == 0, op, ": matrix ", shape_str(A.shape()),
              " is not positive definite (Cholesky pivot ", pivot, " fails: the leading ", pivot, "x",
              pivot, " minor of A + ridge·I is not positive definite; ridge ", ridge, ")");
  return X;
}

}  // namespace pleas

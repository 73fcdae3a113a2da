// gram_accumulate (G += XᵀX) and cross_accumulate (C += XᵀY): the normal equations of least
// squares, accumulated batch by batch. Argument checks and dispatch (kernels/{cpu,cuda}/gram).
#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace pleas {

namespace {
void check_float(const char* op, const Tensor& t, const char* what) {
  check_defined(op, t, what);
  PLEAS_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64, op, ": ", what,
              " must be f32 or f64, got ", t.str());
}

// Runs `fn` on a contiguous accumulator: `acc` itself, or a contiguous copy written back after.
template <typename F>
void with_contiguous(Tensor& acc, F fn) {
  if (acc.is_contiguous()) { fn(acc); return; }
  Tensor c = acc.contiguous();
  fn(c);
  acc.copy_(c);
}
}  // namespace

void gram_accumulate(Tensor& G, const Tensor& X) {
  const char* op = "gram_accumulate";
  check_float(op, G, "G");
  check_float(op, X, "X");
  check_same_device(op, G, X);
  check_dim(op, G, 2, "G");
  check_dim(op, X, 2, "X");
  PLEAS_CHECK(G.size(0) == X.size(1) && G.size(1) == X.size(1), op, ": G ", shape_str(G.shape()),
              " must be [k, k] for X ", shape_str(X.shape()), " (k = ", X.size(1), ")");
  with_contiguous(G, [&](Tensor& g) { PLEAS_DISPATCH(g, gram_accumulate, g, X); });
}

void cross_accumulate(Tensor& C, const Tensor& X, const Tensor& Y) {
  const char* op = "cross_accumulate";
  check_float(op, C, "C");
  check_float(op, X, "X");
  check_float(op, Y, "Y");
  check_same_device(op, C, X);
  check_same_device(op, C, Y);
  check_dim(op, C, 2, "C");
  check_dim(op, X, 2, "X");
  check_dim(op, Y, 2, "Y");
  PLEAS_CHECK(X.size(0) == Y.size(0), op, ": X ", shape_str(X.shape()), " and Y ",
              shape_str(Y.shape()), " have different numbers of rows");
  PLEAS_CHECK(C.size(0) == X.size(1) && C.size(1) == Y.size(1), op, ": C ", shape_str(C.shape()),
              " must be [", X.size(1), ", ", Y.size(1), "] for X ", shape_str(X.shape()), " and Y ",
              shape_str(Y.shape()));
  with_contiguous(C, [&](Tensor& c) { PLEAS_DISPATCH(c, cross_accumulate, c, X, Y); });
}

void add_into(Tensor& acc, const Tensor& x) {
  const char* op = "add_into";
  check_float(op, acc, "accumulator");
  check_float(op, x, "addend");
  check_same_device(op, acc, x);
  PLEAS_CHECK(acc.shape() == x.shape() && acc.dim() >= 1 && acc.dim() <= 2, op, ": accumulator ", shape_str(acc.shape()),
              " and addend ", shape_str(x.shape()), " must be the same 1-D or 2-D shape");
  PLEAS_CHECK(acc.dtype() == DType::f64 || x.dtype() == DType::f32, op, ": an f64 addend into an f32 accumulator ",
              "would lose precision");
  if (acc.numel() == 0) return;
  PLEAS_DISPATCH(acc, add_into, acc, x);
}

}  // namespace pleas

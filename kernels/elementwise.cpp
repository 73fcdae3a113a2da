// Binary elementwise ops with NumPy broadcasting: validation, allocation, dispatch.
#include <algorithm>

#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace pleas {

namespace {
const char* op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add: return "add";
    case BinaryOp::sub: return "sub";
    case BinaryOp::mul: return "mul";
    case BinaryOp::div: return "div";
  }
  return "binary";
}

void check_operands(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, a, "first operand");
  check_defined(op, b, "second operand");
  check_dtype(op, a, DType::f32, "first operand");
  check_dtype(op, b, DType::f32, "second operand");
  check_same_device(op, a, b);
}
}  // namespace

// NumPy rule: align trailing dims; each pair must be equal or contain a 1; the result takes the
// larger size (a 0-size dim broadcasts only against 1 or 0).
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    PLEAS_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
                " cannot be broadcast together (dim ", i, " of the result: ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor binary(const Tensor& a, const Tensor& b, BinaryOp op) {
  const char* name = op_name(op);
  check_operands(name, a, b);
  const Shape s = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(s, DType::f32, a.device());
  PLEAS_DISPATCH(out, binary, out, a.expand(s), b.expand(s), op);
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) { return binary(a, b, BinaryOp::add); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(a, b, BinaryOp::sub); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(a, b, BinaryOp::mul); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(a, b, BinaryOp::div); }

void add_(Tensor& a, const Tensor& b) {
  check_operands("add_", a, b);
  const Shape s = broadcast_shapes(a.shape(), b.shape(), "add_");
  PLEAS_CHECK(s == a.shape(), "add_: ", shape_str(b.shape()), " cannot be broadcast to the shape ",
              shape_str(a.shape()), " of the tensor updated in place");
  // Elementwise aliasing of `a` with the output is safe; any other overlap with b (b a transposed
  // or shifted view of a) is not, so such a b is copied first.
  const Tensor bb = b.shares_storage(a) && !(b.shape() == a.shape() && b.strides() == a.strides() &&
                                             b.offset() == a.offset())
                        ? b.clone()
                        : b;
  PLEAS_DISPATCH(a, binary, a, a, bb.expand(s), BinaryOp::add);
}

}  // namespace pleas

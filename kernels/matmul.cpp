// linear, matmul, bmm: argument checks, output allocation, dispatch (kernels/{cpu,cuda}/matmul).
#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace pleas {

namespace {
void check_float(const char* op, const Tensor& t, const char* what) {
  PLEAS_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64, op, ": ", what,
              " must be f32 or f64, got ", t.str());
}
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  PLEAS_CHECK(a.dtype() == b.dtype(), op, ": dtype mismatch: ", a.str(), " and ", b.str());
}

// x [..., in] as a 2-D [M, in] view without copying when its leading dims merge into one row
// index (for consecutive non-unit leading dims p < q: stride[p] == stride[q] * size[q]; the row
// stride is then that of the innermost one), else a contiguous copy.
Tensor flatten_leading(const Tensor& x) {
  const int d = x.dim();
  if (d == 2) return x;
  const int64_t in = x.size(-1);
  int64_t m = 1, row_stride = 0;
  int last = -1;
  bool merge = true;
  for (int i = 0; i < d - 1; ++i) {
    m *= x.size(i);
    if (x.size(i) == 1) continue;
    if (last >= 0 && x.stride(last) != x.stride(i) * x.size(i)) merge = false;
    last = i;
    row_stride = x.stride(i);
  }
  if (merge) return x.as_strided({m, in}, {row_stride, x.stride(d - 1)}, x.offset());
  return x.contiguous().reshape({m, in});
}
}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const char* op = "linear";
  check_defined(op, x, "input");
  check_defined(op, w, "weight");
  check_float(op, x, "input");
  check_same_dtype(op, x, w);
  check_same_device(op, x, w);
  check_dim(op, w, 2, "weight");
  PLEAS_CHECK(x.dim() >= 1, op, ": input must have at least 1 dim, got shape ", shape_str(x.shape()));
  PLEAS_CHECK(x.size(-1) == w.size(1), op, ": input ", shape_str(x.shape()), " has ", x.size(-1),
              " features but weight ", shape_str(w.shape()), " expects ", w.size(1));
  if (bias.defined()) {
    check_same_dtype(op, x, bias);
    check_same_device(op, x, bias);
    PLEAS_CHECK(bias.dim() == 1 && bias.size(0) == w.size(0), op, ": bias ",
                shape_str(bias.shape()), " does not match weight ", shape_str(w.shape()),
                " (expects [", w.size(0), "])");
  }
  Tensor x2 = flatten_leading(x);
  Tensor out = Tensor::empty({x2.size(0), w.size(0)}, x.dtype(), x.device());
  PLEAS_DISPATCH(x, linear, out, x2, w, bias);
  Shape s = x.shape();
  s.back() = w.size(0);
  return out.reshape(s);
}

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const char* op = "matmul";
  check_defined(op, a, "a");
  check_defined(op, b, "b");
  check_float(op, a, "a");
  check_same_dtype(op, a, b);
  check_same_device(op, a, b);
  check_dim(op, a, 2, "a");
  check_dim(op, b, 2, "b");
  const int64_t m = trans_a ? a.size(1) : a.size(0), ka = trans_a ? a.size(0) : a.size(1);
  const int64_t kb = trans_b ? b.size(1) : b.size(0), n = trans_b ? b.size(0) : b.size(1);
  PLEAS_CHECK(ka == kb, op, ": inner dims differ: a ", shape_str(a.shape()), (trans_a ? "ᵀ" : ""),
              " times b ", shape_str(b.shape()), (trans_b ? "ᵀ" : ""), " (", ka, " vs ", kb, ")");
  Tensor out = Tensor::empty({m, n}, a.dtype(), a.device());
  PLEAS_DISPATCH(a, matmul, out, a, b, trans_a, trans_b);
  return out;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  const char* op = "bmm";
  check_defined(op, a, "a");
  check_defined(op, b, "b");
  check_float(op, a, "a");
  check_same_dtype(op, a, b);
  check_same_device(op, a, b);
  check_dim(op, a, 3, "a");
  check_dim(op, b, 3, "b");
  PLEAS_CHECK(a.size(0) == b.size(0) && a.size(2) == b.size(1), op, ": a ", shape_str(a.shape()),
              " and b ", shape_str(b.shape()), " do not form [B,m,k] x [B,k,n]");
  Tensor out = Tensor::empty({a.size(0), a.size(1), b.size(2)}, a.dtype(), a.device());
  PLEAS_DISPATCH(a, bmm, out, a, b);
  return out;
}

}  // namespace pleas

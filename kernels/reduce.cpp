// reduce / sum / mean / amax over a list of dims: argument checks, output shape, dispatch.
// The backends get the dims sorted and distinct (all dims when the list is empty) and a
// contiguous output whose row-major order is that of the kept dims.
#include <limits>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace pleas {

namespace {
const char* op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::mean: return "mean";
    case ReduceOp::max: return "amax";
  }
  return "reduce";
}
}  // namespace

Tensor reduce(const Tensor& x, const std::vector<int>& dims_in, ReduceOp op, bool keepdim) {
  const char* name = op_name(op);
  check_defined(name, x, "input");
  check_dtype(name, x, DType::f32, "input");
  const int nd = x.dim();
  std::vector<bool> red(size_t(nd), dims_in.empty());
  for (int d : dims_in) {
    PLEAS_CHECK(d >= -nd && d < nd, name, ": dim ", d, " out of range for ", x.str());
    const int w = d < 0 ? d + nd : d;
    PLEAS_CHECK(!red[size_t(w)], name, ": dim ", d, " given more than once");
    red[size_t(w)] = true;
  }
  std::vector<int> dims;  // sorted, distinct
  Shape s;
  int64_t count = 1;
  for (int d = 0; d < nd; ++d) {
    if (red[size_t(d)]) {
      dims.push_back(d);
      count *= x.shape()[size_t(d)];
      if (keepdim) s.push_back(1);
    } else {
      s.push_back(x.shape()[size_t(d)]);
    }
  }
  Tensor out = Tensor::empty(s, DType::f32, x.device());
  if (out.numel() == 0) return out;
  if (count == 0) {  // an empty reduction: sum 0, mean 0/0 = NaN, max undefined
    PLEAS_CHECK(op != ReduceOp::max, name, ": cannot reduce over zero elements of ", x.str());
    out.fill_(op == ReduceOp::sum ? 0.0 : std::numeric_limits<double>::quiet_NaN());
    return out;
  }
  PLEAS_DISPATCH(x, reduce, out, x, dims, op);
  return out;
}

Tensor sum(const Tensor& x, const std::vector<int>& dims, bool keepdim) {
  return reduce(x, dims, ReduceOp::sum, keepdim);
}
Tensor mean(const Tensor& x, const std::vector<int>& dims, bool keepdim) {
  return reduce(x, dims, ReduceOp::mean, keepdim);
}
Tensor amax(const Tensor& x, const std::vector<int>& dims, bool keepdim) {
  return reduce(x, dims, ReduceOp::max, keepdim);
}

}  // namespace pleas

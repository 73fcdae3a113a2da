// softmax over any dim: validation, allocation, dispatch.
#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace pleas {

Tensor softmax(const Tensor& x, int dim) {
  check_defined("softmax", x, "input");
  check_dtype("softmax", x, DType::f32, "input");
  PLEAS_CHECK(x.dim() >= 1 && dim >= -x.dim() && dim < x.dim(), "softmax: dim ", dim,
              " out of range for input of shape ", shape_str(x.shape()));
  Tensor y = Tensor::empty(x.shape(), DType::f32, x.device());
  PLEAS_DISPATCH(x, softmax, y, x, x.wrap_dim(dim));
  return y;
}

}  // namespace pleas

// layer_norm over the last dim: validation, allocation, dispatch.
#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace pleas {

namespace {
void check_affine(const Tensor& x, const Tensor& p, const char* what) {
  if (!p.defined()) return;  // optional: weight 1, bias 0
  check_same_device("layer_norm", x, p);
  check_dtype("layer_norm", p, DType::f32, what);
  PLEAS_CHECK(p.dim() == 1 && p.size(0) == x.size(-1), "layer_norm: input ", shape_str(x.shape()),
              " is normalised over its last dim of size ", x.size(-1), " but ", what, " has shape ",
              shape_str(p.shape()));
}
}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  check_defined("layer_norm", x, "input");
  check_dtype("layer_norm", x, DType::f32, "input");
  PLEAS_CHECK(x.dim() >= 1, "layer_norm: input must have at least 1 dim, got a scalar");
  check_affine(x, weight, "weight");
  check_affine(x, bias, "bias");
  PLEAS_CHECK(eps >= 0, "layer_norm: eps must be >= 0, got ", eps);
  Tensor y = Tensor::empty(x.shape(), DType::f32, x.device());
  PLEAS_DISPATCH(x, layer_norm, y, x, weight, bias, eps);
  return y;
}

}  // namespace pleas

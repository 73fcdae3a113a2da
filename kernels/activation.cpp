// relu, relu_ (in place), gelu: validation, allocation, dispatch.
#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace pleas {

namespace {
void check_input(const char* op, const Tensor& x) {
  check_defined(op, x, "input");
  check_dtype(op, x, DType::f32, "input");
}
}  // namespace

Tensor relu(const Tensor& x) {
  check_input("relu", x);
  Tensor y = Tensor::empty(x.shape(), DType::f32, x.device());
  PLEAS_DISPATCH(x, relu, y, x);
  return y;
}

void relu_(Tensor& x) {
  check_input("relu_", x);
  PLEAS_DISPATCH(x, relu, x, x);  // y aliases x element for element: safe at any strides
}

Tensor gelu(const Tensor& x) {
  check_input("gelu", x);
  Tensor y = Tensor::empty(x.shape(), DType::f32, x.device());
  PLEAS_DISPATCH(x, gelu, y, x);
  return y;
}

Tensor gelu_tanh(const Tensor& x) {
  check_input("gelu_tanh", x);
  Tensor y = Tensor::empty(x.shape(), DType::f32, x.device());
  PLEAS_DISPATCH(x, gelu_tanh, y, x);
  return y;
}

}  // namespace pleas

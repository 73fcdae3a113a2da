// max_pool2d, avg_pool2d, global_avg_pool2d: argument checks, output allocation, dispatch
// (kernels: cpu/pooling.cpp, cuda/pooling.cu).
#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace pleas {

namespace {
// Checks x and the window as PyTorch does and returns the output shape [N, C, OH, OW].
Shape pool_output_shape(const char* op, const Tensor& x, const Pool2dArgs& a) {
  check_defined(op, x, "input");
  check_dtype(op, x, DType::f32, "input");
  check_dim(op, x, 4, "input [N,C,H,W]");
  PLEAS_CHECK(a.kernel_h >= 1 && a.kernel_w >= 1, op, ": kernel must be >= 1, got ", a.kernel_h,
              "x", a.kernel_w);
  PLEAS_CHECK(a.stride_h >= 1 && a.stride_w >= 1, op, ": stride must be >= 1, got ", a.stride_h,
              "x", a.stride_w);
  PLEAS_CHECK(a.pad_h >= 0 && a.pad_w >= 0 && a.pad_h <= a.kernel_h / 2 && a.pad_w <= a.kernel_w / 2,
              op, ": padding ", a.pad_h, "x", a.pad_w, " must be >= 0 and at most half the kernel ",
              a.kernel_h, "x", a.kernel_w);
  const Shape& s = x.shape();
  // (in + 2p - k) / s rounds toward -inf in PyTorch, so a kernel larger than the padded input
  // leaves no output (pool_out_size truncates toward 0; check it here). Then OH, OW >= 1.
  PLEAS_CHECK(s[2] + 2 * a.pad_h >= a.kernel_h && s[3] + 2 * a.pad_w >= a.kernel_w, op, ": input ",
              shape_str(s), " is too small for kernel ", a.kernel_h, "x", a.kernel_w,
              " with padding ", a.pad_h, "x", a.pad_w);
  const int64_t oh = pool_out_size(s[2], a.kernel_h, a.stride_h, a.pad_h, a.ceil_mode);
  const int64_t ow = pool_out_size(s[3], a.kernel_w, a.stride_w, a.pad_w, a.ceil_mode);
  return {s[0], s[1], oh, ow};
}
}  // namespace

Tensor max_pool2d(const Tensor& x, const Pool2dArgs& args) {
  Tensor out = Tensor::empty(pool_output_shape("max_pool2d", x, args), DType::f32, x.device());
  if (out.numel() > 0) PLEAS_DISPATCH(x, max_pool2d, out, x, args);
  return out;
}

Tensor avg_pool2d(const Tensor& x, const Pool2dArgs& args) {
  Tensor out = Tensor::empty(pool_output_shape("avg_pool2d", x, args), DType::f32, x.device());
  if (out.numel() > 0) PLEAS_DISPATCH(x, avg_pool2d, out, x, args);
  return out;
}

Tensor global_avg_pool2d(const Tensor& x) {
  const char* op = "global_avg_pool2d";
  check_defined(op, x, "input");
  check_dtype(op, x, DType::f32, "input");
  check_dim(op, x, 4, "input [N,C,H,W]");
  PLEAS_CHECK(x.size(2) > 0 && x.size(3) > 0, op, ": empty spatial size in input ",
              shape_str(x.shape()));
  Tensor out = Tensor::empty({x.size(0), x.size(1)}, DType::f32, x.device());
  if (out.numel() > 0) PLEAS_DISPATCH(x, global_avg_pool2d, out, x);
  return out;
}

}  // namespace pleas

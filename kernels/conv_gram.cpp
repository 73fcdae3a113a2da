// conv_gram_accumulate / conv_cross_accumulate: the im2col products of a convolution's least
// squares (UᵀU and UᵀY) from the shift structure of U.
// Argument checks and dispatch (kernels/{cpu,cuda}/conv_gram).
#include <utility>

#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace pleas {

namespace {
// Checks the input and kernel; returns (OH, OW).
std::pair<int64_t, int64_t> check_conv_input(const char* op, const Tensor& x, int kh, int kw, const Conv2dArgs& a) {
  check_defined(op, x, "input");
  PLEAS_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, op, ": input must be f32 or f64, got ", x.str());
  check_dim(op, x, 4, "input [N,C,H,W]");
  PLEAS_CHECK(a.groups == 1, op, ": groups must be 1, got ", a.groups);
  PLEAS_CHECK(kh >= 1 && kw >= 1 && a.stride_h >= 1 && a.stride_w >= 1 && a.dilation_h >= 1 && a.dilation_w >= 1 &&
                  a.pad_h >= 0 && a.pad_w >= 0,
              op, ": bad kernel ", kh, "x", kw, " / stride / dilation / padding");
  const int64_t oh = conv_out_size(x.size(2), kh, a.stride_h, a.pad_h, a.dilation_h);
  const int64_t ow = conv_out_size(x.size(3), kw, a.stride_w, a.pad_w, a.dilation_w);
  PLEAS_CHECK(oh > 0 && ow > 0, op, ": kernel ", kh, "x", kw, " does not fit input ", shape_str(x.shape()));
  return {oh, ow};
}
}  // namespace

void conv_cross_accumulate(Tensor& C, const Tensor& x, const Tensor& y, int kh, int kw, const Conv2dArgs& a) {
  const char* op = "conv_cross_accumulate";
  check_defined(op, C, "C");
  check_defined(op, y, "output");
  PLEAS_CHECK(C.dtype() == DType::f32 || C.dtype() == DType::f64, op, ": C must be f32 or f64, got ", C.str());
  const auto [oh, ow] = check_conv_input(op, x, kh, kw, a);
  check_same_device(op, C, x);
  check_same_device(op, C, y);
  check_dim(op, y, 4, "output [N,P,OH,OW]");
  PLEAS_CHECK(y.size(0) == x.size(0) && y.size(2) == oh && y.size(3) == ow, op, ": output ", shape_str(y.shape()),
              " must be [", x.size(0), ", P, ", oh, ", ", ow, "] for input ", shape_str(x.shape()));
  const int64_t K = x.size(1) * kh * kw;
  PLEAS_CHECK(C.dim() == 2 && C.size(0) == K && C.size(1) == y.size(1) && C.is_contiguous(), op, ": C ",
              shape_str(C.shape()), " must be a contiguous [", K, ", ", y.size(1), "]");
  if (x.numel() == 0 || y.numel() == 0) return;
  const Tensor xc = (x.dtype() == C.dtype() ? x : x.to(C.dtype())).contiguous();
  const Tensor yc = (y.dtype() == C.dtype() ? y : y.to(C.dtype())).contiguous();
  PLEAS_DISPATCH(C, conv_cross_accumulate, C, xc, yc, kh, kw, a);
}

void conv_gram_accumulate(Tensor& G, const Tensor& x, int kh, int kw, const Conv2dArgs& a) {
  const char* op = "conv_gram_accumulate";
  check_defined(op, G, "G");
  PLEAS_CHECK(G.dtype() == DType::f32 || G.dtype() == DType::f64, op, ": G must be f32 or f64, got ", G.str());
  check_conv_input(op, x, kh, kw, a);
  check_same_device(op, G, x);
  check_dim(op, G, 2, "G");
  const int64_t K = x.size(1) * kh * kw;
  PLEAS_CHECK(G.size(0) == K && G.size(1) == K && G.is_contiguous(), op, ": G ", shape_str(G.shape()),
              " must be a contiguous [", K, ", ", K, "] for input ", shape_str(x.shape()), " and a ", kh, "x", kw,
              " kernel");
  if (x.numel() == 0) return;
  const Tensor xc = (x.dtype() == G.dtype() ? x : x.to(G.dtype())).contiguous();
  PLEAS_DISPATCH(G, conv_gram_accumulate, G, xc, kh, kw, a);
}

}  // namespace pleas

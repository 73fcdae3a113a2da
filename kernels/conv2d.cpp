// conv2d: argument checks, output allocation, dispatch (kernels: cpu/conv2d.cpp, cuda/conv2d.cu).
#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace pleas {

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dArgs& a) {
  const char* op = "conv2d";
  check_defined(op, x, "input");
  check_defined(op, w, "weight");
  check_dtype(op, x, DType::f32, "input");
  check_dtype(op, w, DType::f32, "weight");
  check_same_device(op, x, w);
  check_dim(op, x, 4, "input [N,Cin,H,W]");
  check_dim(op, w, 4, "weight [Cout,Cin/groups,KH,KW]");
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  PLEAS_CHECK(a.groups >= 1, "conv2d: groups must be >= 1, got ", a.groups);
  PLEAS_CHECK(a.stride_h >= 1 && a.stride_w >= 1, "conv2d: stride must be >= 1, got ", a.stride_h,
              "x", a.stride_w);
  PLEAS_CHECK(a.dilation_h >= 1 && a.dilation_w >= 1, "conv2d: dilation must be >= 1, got ",
              a.dilation_h, "x", a.dilation_w);
  PLEAS_CHECK(a.pad_h >= 0 && a.pad_w >= 0, "conv2d: padding must be >= 0, got ", a.pad_h, "x",
              a.pad_w);
  PLEAS_CHECK(ws[0] % a.groups == 0, "conv2d: weight ", shape_str(ws), " has ", ws[0],
              " output channels, not divisible by groups=", a.groups);
  PLEAS_CHECK(xs[1] % a.groups == 0, "conv2d: input ", shape_str(xs), " has ", xs[1],
              " channels, not divisible by groups=", a.groups);
  PLEAS_CHECK(xs[1] == ws[1] * a.groups, "conv2d: input ", shape_str(xs), " has ", xs[1],
              " channels but weight ", shape_str(ws), " expects ", ws[1] * a.groups,
              " (groups=", a.groups, ")");
  PLEAS_CHECK(ws[2] >= 1 && ws[3] >= 1, "conv2d: empty kernel in weight ", shape_str(ws));
  // Effective (dilated) kernel extent d*(k-1)+1 must fit in the padded input.
  const int64_t ekh = int64_t(a.dilation_h) * (ws[2] - 1) + 1;
  const int64_t ekw = int64_t(a.dilation_w) * (ws[3] - 1) + 1;
  PLEAS_CHECK(ekh <= xs[2] + 2 * a.pad_h && ekw <= xs[3] + 2 * a.pad_w, "conv2d: kernel ", ekh,
              "x", ekw, " (weight ", shape_str(ws), ", dilation ", a.dilation_h, "x", a.dilation_w,
              ") is larger than the padded input ", xs[2] + 2 * a.pad_h, "x", xs[3] + 2 * a.pad_w,
              " (input ", shape_str(xs), ")");
  if (bias.defined()) {
    check_dtype(op, bias, DType::f32, "bias");
    check_same_device(op, x, bias);
    check_dim(op, bias, 1, "bias [Cout]");
    PLEAS_CHECK(bias.size(0) == ws[0], "conv2d: bias ", shape_str(bias.shape()), " does not match ",
                ws[0], " output channels of weight ", shape_str(ws));
  }
  const int64_t oh = conv_out_size(xs[2], int(ws[2]), a.stride_h, a.pad_h, a.dilation_h);
  const int64_t ow = conv_out_size(xs[3], int(ws[3]), a.stride_w, a.pad_w, a.dilation_w);
  Tensor out = Tensor::empty({xs[0], ws[0], oh, ow}, DType::f32, x.device());
  if (out.numel() == 0) return out;
  PLEAS_DISPATCH(x, conv2d, out, x, w, bias, a);
  return out;
}

namespace {
// Checks unfold2d's arguments; returns OH·OW.
int64_t unfold_positions(const Tensor& x, int kh, int kw, const Conv2dArgs& a) {
  const char* op = "unfold2d";
  check_defined(op, x, "input");
  check_dtype(op, x, DType::f32, "input");
  check_dim(op, x, 4, "input [N,C,H,W]");
  PLEAS_CHECK(a.groups == 1, "unfold2d: groups must be 1, got ", a.groups);
  PLEAS_CHECK(kh >= 1 && kw >= 1 && a.stride_h >= 1 && a.stride_w >= 1 && a.dilation_h >= 1 &&
                  a.dilation_w >= 1 && a.pad_h >= 0 && a.pad_w >= 0,
              "unfold2d: bad kernel ", kh, "x", kw, " / stride / dilation / padding");
  const Shape& xs = x.shape();
  const int64_t oh = conv_out_size(xs[2], kh, a.stride_h, a.pad_h, a.dilation_h);
  const int64_t ow = conv_out_size(xs[3], kw, a.stride_w, a.pad_w, a.dilation_w);
  PLEAS_CHECK(oh > 0 && ow > 0, "unfold2d: kernel ", kh, "x", kw, " does not fit input ", shape_str(xs));
  return oh * ow;
}
}  // namespace

// The backends write image n's row r at out.data() + n·out.stride(0) + r·out.stride(1) (the last
// stride is 1), so both layouts are the one kernel.
Tensor unfold2d(const Tensor& x, int kh, int kw, const Conv2dArgs& a) {
  const int64_t P = unfold_positions(x, kh, kw, a);
  Tensor out = Tensor::empty({x.size(0), x.size(1) * kh * kw, P}, DType::f32, x.device());
  if (out.numel() == 0) return out;
  PLEAS_DISPATCH(x, unfold2d, out, x, kh, kw, a);
  return out;
}

void unfold2d_rows_into(Tensor& dst, const Tensor& x, int kh, int kw, const Conv2dArgs& a) {
  const int64_t P = unfold_positions(x, kh, kw, a), N = x.size(0), K = x.size(1) * kh * kw;
  check_dtype("unfold2d", dst, DType::f32, "output");
  check_same_device("unfold2d", x, dst);
  PLEAS_CHECK(dst.dim() == 2 && dst.size(0) == K && dst.size(1) == N * P && dst.is_contiguous(), "unfold2d: output ",
              shape_str(dst.shape()), " must be a contiguous [", K, ", ", N * P, "] for input ", shape_str(x.shape()));
  if (dst.numel() == 0) return;
  Tensor view = dst.reshape({K, N, P}).permute({1, 0, 2});  // [N, K, P] with strides (P, N·P, 1)
  PLEAS_DISPATCH(x, unfold2d, view, x, kh, kw, a);
}

Tensor unfold2d_rows(const Tensor& x, int kh, int kw, const Conv2dArgs& a) {
  const int64_t P = unfold_positions(x, kh, kw, a), N = x.size(0), K = x.size(1) * kh * kw;
  Tensor rows = Tensor::empty({K, N * P}, DType::f32, x.device());
  unfold2d_rows_into(rows, x, kh, kw, a);
  return rows;
}

}  // namespace pleas

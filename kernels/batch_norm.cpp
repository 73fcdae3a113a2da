// batch_norm (inference), batch_channel_stats, scale_shift: validation, allocation, dispatch.
#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace pleas {

namespace {
// x must be f32 with a channel dim: [N, C, ...].
void check_input(const char* op, const Tensor& x) {
  check_defined(op, x, "input");
  check_dtype(op, x, DType::f32, "input");
  PLEAS_CHECK(x.dim() >= 2, op, ": input must be [N, C, ...] (at least 2 dims), got shape ",
              shape_str(x.shape()));
}

// A per-channel parameter: 1-D [C] on x's device, of one of the allowed dtypes.
void check_param(const char* op, const Tensor& x, const Tensor& p, const char* what,
                 bool allow_f64 = false) {
  check_defined(op, p, what);
  check_same_device(op, x, p);
  PLEAS_CHECK(p.dtype() == DType::f32 || (allow_f64 && p.dtype() == DType::f64), op, ": ", what,
              " must be f32", allow_f64 ? " or f64" : "", ", got ", p.str());
  PLEAS_CHECK(p.dim() == 1 && p.size(0) == x.size(1), op, ": input ", shape_str(x.shape()), " has ",
              x.size(1), " channels but ", what, " ", shape_str(p.shape()), " expects ",
              p.dim() == 1 ? std::to_string(p.size(0)) : std::string("a 1-D [C] tensor"));
}
}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& mean,
                  const Tensor& var, double eps) {
  const char* op = "batch_norm";
  check_input(op, x);
  if (weight.defined()) check_param(op, x, weight, "weight");
  if (bias.defined()) check_param(op, x, bias, "bias");
  check_param(op, x, mean, "running mean", /*allow_f64=*/true);
  check_param(op, x, var, "running var", /*allow_f64=*/true);
  PLEAS_CHECK(eps >= 0, op, ": eps must be >= 0, got ", eps);
  Tensor y = Tensor::empty(x.shape(), DType::f32, x.device());
  PLEAS_DISPATCH(x, batch_norm, y, x, weight, bias, mean, var, eps);
  return y;
}

ChannelStats batch_channel_stats(const Tensor& x) {
  const char* op = "batch_channel_stats";
  check_input(op, x);
  const int64_t C = x.size(1);
  ChannelStats s;
  s.count = C ? x.numel() / C : 0;
  PLEAS_CHECK(s.count > 0, op, ": no elements per channel in input ", shape_str(x.shape()));
  s.mean = Tensor::empty({C}, DType::f64, x.device());
  s.var = Tensor::empty({C}, DType::f64, x.device());
  PLEAS_DISPATCH(x, batch_channel_stats, s.mean, s.var, x);
  return s;
}

Tensor scale_shift(const Tensor& x, const Tensor& scale, const Tensor& shift) {
  const char* op = "scale_shift";
  check_input(op, x);
  check_param(op, x, scale, "scale");
  check_param(op, x, shift, "shift");
  Tensor y = Tensor::empty(x.shape(), DType::f32, x.device());
  PLEAS_DISPATCH(x, scale_shift, y, x, scale, shift);
  return y;
}

}  // namespace pleas

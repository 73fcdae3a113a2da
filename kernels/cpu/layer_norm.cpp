// CPU layer_norm over the last dim: one row per iteration, statistics in double (two passes).
#include <cmath>

#include "kernels/backend_ops.h"
#include "kernels/common/row_index.h"

namespace pleas::cpu {

void layer_norm(Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  if (x.numel() == 0) return;
  const Tensor xc = x.contiguous();
  const Tensor wc = weight.defined() ? weight.contiguous() : Tensor();
  const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
  const float* xp = xc.data<float>();
  const float* wp = wc.defined() ? wc.data<float>() : nullptr;
  const float* bp = bc.defined() ? bc.data<float>() : nullptr;
  float* yp = y.data<float>();
  const RowLayout L = row_layout(x.shape().data(), x.dim(), x.dim() - 1);  // inner = 1
  const int64_t D = L.D;
#pragma omp parallel for schedule(static) if (x.numel() > (1 << 15))
  for (int64_t r = 0; r < L.rows(); ++r) {
    const float* xr = xp + row_base(r, D, 1);
    float* yr = yp + row_base(r, D, 1);
    // mean = Σx / D; var = Σ(x - mean)² / D (biased); x̂ = (x - mean) / sqrt(var + eps).
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < D; ++j) s += xr[j];
    const double mean = s / double(D);
    double ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int64_t j = 0; j < D; ++j) {
      const double d = double(xr[j]) - mean;
      ss += d * d;
    }
    const double rstd = 1.0 / std::sqrt(ss / double(D) + eps);
    // y = x̂ · w + b
    if (wp && bp) {
      for (int64_t j = 0; j < D; ++j) yr[j] = float((double(xr[j]) - mean) * rstd) * wp[j] + bp[j];
    } else if (wp) {
      for (int64_t j = 0; j < D; ++j) yr[j] = float((double(xr[j]) - mean) * rstd) * wp[j];
    } else if (bp) {
      for (int64_t j = 0; j < D; ++j) yr[j] = float((double(xr[j]) - mean) * rstd) + bp[j];
    } else {
      for (int64_t j = 0; j < D; ++j) yr[j] = float((double(xr[j]) - mean) * rstd);
    }
  }
}

}  // namespace pleas::cpu

// CUDA layer_norm over the last dim: one block per row, two passes with cub::BlockReduce in
// double (mean, then Σ(x - mean)²), then the affine output. Row math: kernels/common/row_index.h.
#include <cub/block/block_reduce.cuh>

#include "kernels/backend_ops.h"
#include "kernels/common/row_index.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"

namespace pleas::cuda {

namespace {
constexpr int kRowBlock = 256;

// w / b null: weight 1 / bias 0.
__global__ void layer_norm_kernel(float* __restrict__ y, const float* __restrict__ x,
                                  const float* __restrict__ w, const float* __restrict__ b,
                                  int64_t rows, int64_t D, double eps) {
  using Reduce = cub::BlockReduce<double, kRowBlock>;
  __shared__ typename Reduce::TempStorage tmp;
  __shared__ double s_mean, s_rstd;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + row_base(r, D, 1);
    float* yr = y + row_base(r, D, 1);
    // mean = Σx / D
    double s = 0;
    for (int64_t j = threadIdx.x; j < D; j += kRowBlock) s += xr[j];
    s = Reduce(tmp).Sum(s);
    if (threadIdx.x == 0) s_mean = s / double(D);
    __syncthreads();
    const double mean = s_mean;
    // var = Σ(x - mean)² / D; rstd = 1 / sqrt(var + eps)
    double ss = 0;
    for (int64_t j = threadIdx.x; j < D; j += kRowBlock) {
      const double d = double(xr[j]) - mean;
      ss += d * d;
    }
    ss = Reduce(tmp).Sum(ss);
    if (threadIdx.x == 0) s_rstd = 1.0 / sqrt(ss / double(D) + eps);
    __syncthreads();
    const double rstd = s_rstd;
    // y = (x - mean) · rstd · w + b
    for (int64_t j = threadIdx.x; j < D; j += kRowBlock) {
      const float v = float((double(xr[j]) - mean) * rstd);
      yr[j] = (w ? v * w[j] : v) + (b ? b[j] : 0.f);
    }
    __syncthreads();  // s_mean, s_rstd and tmp are reused by the next row
  }
}
}  // namespace

void layer_norm(Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  if (x.numel() == 0) return;
  auto& ctx = context(x);
  const Tensor xc = x.contiguous();
  const Tensor wc = weight.defined() ? weight.contiguous() : Tensor();
  const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
  const RowLayout L = row_layout(x.shape().data(), x.dim(), x.dim() - 1);
  const int64_t rows = L.rows();
  const unsigned grid = unsigned(std::min<int64_t>(rows, 65535LL * 32));
  layer_norm_kernel<<<grid, kRowBlock, 0, ctx.stream>>>(
      y.data<float>(), xc.data<float>(), wc.defined() ? wc.data<float>() : nullptr,
      bc.defined() ? bc.data<float>() : nullptr, rows, L.D, eps);
  PLEAS_KERNEL_CHECK();
}

}  // namespace pleas::cuda

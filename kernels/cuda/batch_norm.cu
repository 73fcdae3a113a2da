// CUDA per-channel ops on x [N, C, inner...]: batch_norm (inference), scale_shift (grid-stride,
// contiguous fast path with 32-bit indices, StridedMeta path otherwise) and the per-channel batch
// statistics (block partial sums with cub::BlockReduce in double, then a per-channel merge).
// Index arithmetic: kernels/common/channel_index.h (shared with the CPU kernels).
#include <cub/block/block_reduce.cuh>

#include "kernels/backend_ops.h"
#include "kernels/common/channel_index.h"
#include "kernels/common/elem.h"
#include "kernels/common/meta.h"
#include "kernels/common/pointwise_index.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"

namespace pleas::cuda {

namespace {
constexpr int kStatsBlock = 256;

// y[i] = x[i] · s[c] + t[c], c = channel_of(i), for contiguous x and y.
template <typename I>
__global__ void affine_contig_kernel(float* __restrict__ y, const float* __restrict__ x,
                                     const float* __restrict__ s, const float* __restrict__ t, I n,
                                     I inner, I C) {
  for (I i = I(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += I(gridDim.x) * blockDim.x) {
    const I c = channel_of<I>(i, inner, C);
    y[i] = x[i] * s[c] + t[c];
  }
}

// Same with x at any strides (xm: its coalesced layout); y contiguous.
__global__ void affine_strided_kernel(float* __restrict__ y, const float* __restrict__ x, StridedMeta xm,
                                      const float* __restrict__ s, const float* __restrict__ t,
                                      int64_t n, int64_t inner, int64_t C) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = channel_of<int64_t>(i, inner, C);
    y[i] = x[strided_offset(xm, i)] * s[c] + t[c];
  }
}

// batch_norm folded per channel (in double): s = w / sqrt(var + eps), t = b - mean · s.
// w/b may be null (1/0); mean/var are f32 or f64 with element strides.
__global__ void bn_fold_kernel(float* s, float* t, const float* w, int64_t ws, const float* b,
                               int64_t bs, const void* mean, DType mdt, int64_t ms, const void* var,
                               DType vdt, int64_t vs, double eps, int64_t C) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < C;
       c += int64_t(gridDim.x) * blockDim.x) {
    const double sc = (w ? double(w[c * ws]) : 1.0) / sqrt(load_elem(var, vdt, c * vs) + eps);
    s[c] = float(sc);
    t[c] = float((b ? double(b[c * bs]) : 0.0) - load_elem(mean, mdt, c * ms) * sc);
  }
}

// Shifted sums of channel c over the slice k = s*B + tid, step S*B, of its elements:
// Σd and Σd², d = x - K with K = the channel's first element. The shift keeps the sums small when
// the data carry a large common offset, so var = Σd²/n - (Σd/n)² does not cancel catastrophically;
// all blocks of a channel share K, so their partials simply add.
struct Add2 {
  __device__ double2 operator()(const double2& a, const double2& b) const {
    return make_double2(a.x + b.x, a.y + b.y);
  }
};

template <typename I>
__global__ void stats_partial_kernel(double2* __restrict__ part, const float* __restrict__ x, I C,
                                     I inner, I count, int S) {
  using Reduce = cub::BlockReduce<double2, kStatsBlock>;
  __shared__ typename Reduce::TempStorage tmp;
  for (I c = blockIdx.y; c < C; c += gridDim.y) {
    const double K = x[channel_elem_offset<I>(c, 0, C, inner)];
    double2 acc = make_double2(0.0, 0.0);
    for (I k = I(blockIdx.x) * kStatsBlock + threadIdx.x; k < count; k += I(S) * kStatsBlock) {
      const double d = double(x[channel_elem_offset<I>(c, k, C, inner)]) - K;
      acc.x += d;
      acc.y += d * d;
    }
    const double2 total = Reduce(tmp).Reduce(acc, Add2{});
    if (threadIdx.x == 0) part[int64_t(c) * S + blockIdx.x] = total;
    __syncthreads();  // tmp is reused by the next channel
  }
}

// mean = K + Σd/n, var = Σd²/n - (Σd/n)² (biased), summing the S partials in a fixed order.
template <typename I>
__global__ void stats_final_kernel(double* mean, double* var, const double2* __restrict__ part,
                                   const float* __restrict__ x, I C, I inner, int S, double count) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < int64_t(C);
       c += int64_t(gridDim.x) * blockDim.x) {
    double sx = 0, sq = 0;
    for (int s = 0; s < S; ++s) {
      sx += part[c * S + s].x;
      sq += part[c * S + s].y;
    }
    const double m = sx / count;
    mean[c] = double(x[channel_elem_offset<I>(I(c), 0, C, inner)]) + m;
    var[c] = fmax(sq / count - m * m, 0.0);
  }
}

bool fits_u32(int64_t n) { return n < (int64_t(1) << 31); }

// y = x · s[c] + t[c] with s, t contiguous device [C] f32 arrays.
void launch_affine(Tensor& y, const Tensor& x, const float* s, const float* t, cudaStream_t stream) {
  const int64_t n = x.numel(), C = x.size(1);
  const int64_t inner = channel_inner(x.shape().data(), x.dim());
  float* yp = y.data<float>();
  const float* xp = x.data<float>();
  if (x.is_contiguous() && fits_u32(n)) {
    affine_contig_kernel<uint32_t><<<grid_for(n), kBlock, 0, stream>>>(
        yp, xp, s, t, uint32_t(n), uint32_t(inner), uint32_t(C));
  } else if (x.is_contiguous()) {
    affine_contig_kernel<int64_t><<<grid_for(n), kBlock, 0, stream>>>(yp, xp, s, t, n, inner, C);
  } else {
    StridedMeta xm = strided_meta(x);
    coalesce_dims(&xm, 1);
    affine_strided_kernel<<<grid_for(n), kBlock, 0, stream>>>(yp, xp, xm, s, t, n, inner, C);
  }
  PLEAS_KERNEL_CHECK();
}
}  // namespace

void batch_norm(Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias,
                const Tensor& mean, const Tensor& var, double eps) {
  const int64_t C = x.size(1);
  if (x.numel() == 0) return;
  auto& ctx = context(x);
  float* st = static_cast<float*>(ctx.workspace(2 * size_t(C) * sizeof(float)));
  const float* w = weight.defined() ? weight.data<float>() : nullptr;
  const float* b = bias.defined() ? bias.data<float>() : nullptr;
  bn_fold_kernel<<<grid_for(C), kBlock, 0, ctx.stream>>>(
      st, st + C, w, weight.defined() ? weight.stride(0) : 0, b, bias.defined() ? bias.stride(0) : 0,
      mean.data_ptr(), mean.dtype(), mean.stride(0), var.data_ptr(), var.dtype(), var.stride(0), eps, C);
  PLEAS_KERNEL_CHECK();
  launch_affine(y, x, st, st + C, ctx.stream);
}

void scale_shift(Tensor& y, const Tensor& x, const Tensor& scale, const Tensor& shift) {
  if (x.numel() == 0) return;
  auto& ctx = context(x);
  const Tensor s = scale.contiguous(), t = shift.contiguous();
  launch_affine(y, x, s.data<float>(), t.data<float>(), ctx.stream);
}

void batch_channel_stats(Tensor& mean, Tensor& var, const Tensor& x) {
  const Tensor xc = x.contiguous();
  const int64_t n = xc.numel(), C = xc.size(1);
  const int64_t inner = channel_inner(xc.shape().data(), xc.dim());
  const int64_t count = n / C;
  auto& ctx = context(x);
  // S blocks per channel: enough for ~2048 blocks in all, each with >= 8 elements per thread.
  const int64_t per_block = int64_t(kStatsBlock) * 8;
  const int S = int(std::max<int64_t>(1, std::min((count + per_block - 1) / per_block,
                                                  std::max<int64_t>(1, 2048 / C))));
  double2* part = static_cast<double2*>(ctx.workspace(size_t(C) * S * sizeof(double2)));
  const dim3 grid(unsigned(S), unsigned(std::min<int64_t>(C, 65535)));
  const float* xp = xc.data<float>();
  if (fits_u32(n)) {
    stats_partial_kernel<uint32_t><<<grid, kStatsBlock, 0, ctx.stream>>>(
        part, xp, uint32_t(C), uint32_t(inner), uint32_t(count), S);
    PLEAS_KERNEL_CHECK();
    stats_final_kernel<uint32_t><<<grid_for(C), kBlock, 0, ctx.stream>>>(
        mean.data<double>(), var.data<double>(), part, xp, uint32_t(C), uint32_t(inner), S,
        double(count));
  } else {
    stats_partial_kernel<int64_t><<<grid, kStatsBlock, 0, ctx.stream>>>(part, xp, C, inner, count, S);
    PLEAS_KERNEL_CHECK();
    stats_final_kernel<int64_t><<<grid_for(C), kBlock, 0, ctx.stream>>>(
        mean.data<double>(), var.data<double>(), part, xp, C, inner, S, double(count));
  }
  PLEAS_KERNEL_CHECK();
}

}  // namespace pleas::cuda

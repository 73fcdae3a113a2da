// CUDA softmax over any dim, numerically stable (y = exp(x - max) / Σ exp(x - max)). The input is
// viewed as [outer, D, inner] (kernels/common/row_index.h). inner = 1 (the last dim): one block
// per contiguous row, max and sum by cub::BlockReduce. inner > 1: one thread per row, adjacent
// threads on adjacent rows so that every step along D is a coalesced load.
#include <cuda/functional>
#include <cub/block/block_reduce.cuh>

#include "kernels/backend_ops.h"
#include "kernels/common/row_index.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"

namespace pleas::cuda {

namespace {
constexpr int kRowBlock = 256;

__global__ void softmax_block_kernel(float* __restrict__ y, const float* __restrict__ x,
                                     int64_t rows, int64_t D) {
  using MaxReduce = cub::BlockReduce<float, kRowBlock>;
  using SumReduce = cub::BlockReduce<double, kRowBlock>;
  __shared__ union {
    typename MaxReduce::TempStorage mx;
    typename SumReduce::TempStorage sum;
  } tmp;
  __shared__ float s_max;
  __shared__ float s_inv;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + row_base(r, D, 1);
    float* yr = y + row_base(r, D, 1);
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < D; j += kRowBlock) m = fmaxf(m, xr[j]);
    m = MaxReduce(tmp.mx).Reduce(m, ::cuda::maximum<>{});
    if (threadIdx.x == 0) s_max = m;
    __syncthreads();
    m = s_max;
    double s = 0;
    for (int64_t j = threadIdx.x; j < D; j += kRowBlock) {
      const float e = expf(xr[j] - m);
      yr[j] = e;
      s += e;
    }
    s = SumReduce(tmp.sum).Sum(s);
    if (threadIdx.x == 0) s_inv = float(1.0 / s);
    __syncthreads();
    const float inv = s_inv;
    for (int64_t j = threadIdx.x; j < D; j += kRowBlock) yr[j] *= inv;  // own writes: no sync needed
    __syncthreads();  // s_max, s_inv and tmp are reused by the next row
  }
}

__global__ void softmax_thread_kernel(float* __restrict__ y, const float* __restrict__ x,
                                      int64_t rows, int64_t D, int64_t inner) {
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < rows;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t base = row_base(r, D, inner);
    float m = -INFINITY;
    for (int64_t d = 0; d < D; ++d) m = fmaxf(m, x[base + d * inner]);
    double s = 0;
    for (int64_t d = 0; d < D; ++d) {
      const float e = expf(x[base + d * inner] - m);
      y[base + d * inner] = e;
      s += e;
    }
    const float inv = float(1.0 / s);
    for (int64_t d = 0; d < D; ++d) y[base + d * inner] *= inv;
  }
}
}  // namespace

void softmax(Tensor& y, const Tensor& x, int dim) {
  if (x.numel() == 0) return;
  auto& ctx = context(x);
  const Tensor xc = x.contiguous();
  const RowLayout L = row_layout(x.shape().data(), x.dim(), dim);
  const int64_t rows = L.rows();
  if (L.inner == 1) {
    const unsigned grid = unsigned(std::min<int64_t>(rows, 65535LL * 32));
    softmax_block_kernel<<<grid, kRowBlock, 0, ctx.stream>>>(y.data<float>(), xc.data<float>(), rows, L.D);
  } else {
    softmax_thread_kernel<<<grid_for(rows), kBlock, 0, ctx.stream>>>(y.data<float>(), xc.data<float>(),
                                                                    rows, L.D, L.inner);
  }
  PLEAS_KERNEL_CHECK();
}

}  // namespace pleas::cuda

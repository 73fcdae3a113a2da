// CUDA pooling: one thread per output element for max/avg (window math shared with the CPU kernel
// in kernels/common/pool_index.h), one warp per (n, c) plane for global average pooling (CUB warp
// reduction). Any input strides are read directly.
#include <cub/warp/warp_reduce.cuh>

#include "kernels/backend_ops.h"
#include "kernels/common/pool_index.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"

namespace pleas::cuda {

namespace {

template <bool kMax>
__global__ void pool_kernel(float* out, const float* x, PoolGeom g, int64_t n_out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n_out;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t n, c, oh, ow;
    pool_out_decode(g, i, n, c, oh, ow);
    const float* plane = x + pool_plane_offset(g, n, c);
    out[i] = kMax ? max_pool_window(plane, g, oh, ow) : avg_pool_window(plane, g, oh, ow);
  }
}

constexpr int kWarp = 32, kWarpsPerBlock = 8;

// Warp w of the grid averages planes w, w + #warps, ...: out[p] = (1/HW) sum_j plane_p[j].
__global__ void global_avg_kernel(float* out, const float* x, PoolGeom g, int64_t planes) {
  using WarpReduce = cub::WarpReduce<float>;
  __shared__ typename WarpReduce::TempStorage tmp[kWarpsPerBlock];
  const int lane = threadIdx.x % kWarp, wib = threadIdx.x / kWarp;
  const int64_t hw = g.H * g.W;
  for (int64_t p = blockIdx.x * int64_t(kWarpsPerBlock) + wib; p < planes;
       p += int64_t(gridDim.x) * kWarpsPerBlock) {
    const float* plane = x + pool_plane_offset(g, p / g.C, p % g.C);
    float s = 0.f;
    for (int64_t j = lane; j < hw; j += kWarp) s += plane[plane_elem_offset(g, j)];
    s = WarpReduce(tmp[wib]).Sum(s);
    if (lane == 0) out[p] = s / float(hw);
    __syncwarp();  // tmp[wib] is reused by the next plane
  }
}

template <bool kMax>
void launch_pool(Tensor& out, const Tensor& x, const Pool2dArgs& a) {
  PLEAS_CHECK(out.is_contiguous(), "pooling (cuda): output must be contiguous, got ", out.str());
  const int64_t n = out.numel();
  if (n == 0) return;
  auto& c = context(out);
  pool_kernel<kMax><<<grid_for(n), kBlock, 0, c.stream>>>(out.data<float>(), x.data<float>(),
                                                          pool_geom(x, out, a), n);
  PLEAS_KERNEL_CHECK();
}

}  // namespace

void max_pool2d(Tensor& out, const Tensor& x, const Pool2dArgs& a) { launch_pool<true>(out, x, a); }
void avg_pool2d(Tensor& out, const Tensor& x, const Pool2dArgs& a) { launch_pool<false>(out, x, a); }

void global_avg_pool2d(Tensor& out, const Tensor& x) {
  PLEAS_CHECK(out.is_contiguous(), "global_avg_pool2d (cuda): output must be contiguous, got ", out.str());
  const int64_t planes = out.numel();
  if (planes == 0) return;
  auto& c = context(out);
  const int threads = kWarp * kWarpsPerBlock;
  global_avg_kernel<<<grid_for(planes, kWarpsPerBlock), threads, 0, c.stream>>>(
      out.data<float>(), x.data<float>(), pool_geom(x, out, Pool2dArgs{}), planes);
  PLEAS_KERNEL_CHECK();
}

}  // namespace pleas::cuda

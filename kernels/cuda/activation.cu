// CUDA relu and gelu: grid-stride loops, contiguous fast path, StridedMeta path for views
// (relu_ on a slice). Scalar math and layout coalescing: kernels/common/pointwise_index.h.
#include "kernels/backend_ops.h"
#include "kernels/common/meta.h"
#include "kernels/common/pointwise_index.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"

namespace pleas::cuda {

namespace {
enum class Act { relu, gelu, gelu_tanh };

template <Act A>
__device__ __forceinline__ float act(float v) {
  if constexpr (A == Act::relu) return relu_f(v);
  else if constexpr (A == Act::gelu) return gelu_f(v);
  else return gelu_tanh_f(v);
}

template <Act A>
__global__ void unary_contig_kernel(float* y, const float* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = act<A>(x[i]);
}

// y may alias x (relu_): each element is read, then written, by the same thread.
template <Act A>
__global__ void unary_strided_kernel(float* y, StridedMeta ym, const float* x, StridedMeta xm,
                                     int64_t n, bool y_contig, bool x_contig) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[pointwise_offset(ym, y_contig, i)] = act<A>(x[pointwise_offset(xm, x_contig, i)]);
}

template <Act A>
void unary(Tensor& y, const Tensor& x) {
  const int64_t n = y.numel();
  if (n == 0) return;
  auto& ctx = context(x);
  float* yp = static_cast<float*>(y.data_ptr());
  const float* xp = static_cast<const float*>(x.data_ptr());
  if (y.is_contiguous() && x.is_contiguous()) {
    unary_contig_kernel<A><<<grid_for(n), kBlock, 0, ctx.stream>>>(yp, xp, n);
  } else {
    StridedMeta m[2] = {strided_meta(y), strided_meta(x)};
    coalesce_dims(m, 2);
    unary_strided_kernel<A><<<grid_for(n), kBlock, 0, ctx.stream>>>(yp, m[0], xp, m[1], n,
                                                                    y.is_contiguous(), x.is_contiguous());
  }
  PLEAS_KERNEL_CHECK();
}
}  // namespace

void relu(Tensor& y, const Tensor& x) { unary<Act::relu>(y, x); }
void gelu(Tensor& y, const Tensor& x) { unary<Act::gelu>(y, x); }
void gelu_tanh(Tensor& y, const Tensor& x) { unary<Act::gelu_tanh>(y, x); }

}  // namespace pleas::cuda

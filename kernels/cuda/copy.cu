// CUDA strided copy with dtype conversion, and fill (index arithmetic: kernels/common/strided.h).
#include "kernels/backend_ops.h"
#include "kernels/common/elem.h"
#include "kernels/common/meta.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"

namespace pleas::cuda {

namespace {
__global__ void copy_kernel(void* dst, StridedMeta dm, DType dt, const void* src, StridedMeta sm,
                            DType st, int64_t n) {
  const int esize = int(dtype_size(dt));
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t d = strided_offset(dm, i), s = strided_offset(sm, i);
    if (dt == st) copy_bytes(dst, d, src, s, esize);
    else store_elem(dst, dt, d, load_elem(src, st, s));
  }
}

__global__ void fill_kernel(void* dst, StridedMeta dm, DType dt, double v, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    store_elem(dst, dt, strided_offset(dm, i), v);
}
}  // namespace

void copy_strided(Tensor& dst, const Tensor& src) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  auto& c = context(dst);
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    PLEAS_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), dst.nbytes(),
                                     cudaMemcpyDeviceToDevice, c.stream));
    return;
  }
  copy_kernel<<<grid_for(n), kBlock, 0, c.stream>>>(dst.data_ptr(), strided_meta(dst), dst.dtype(),
                                                    src.data_ptr(), strided_meta(src), src.dtype(), n);
  PLEAS_KERNEL_CHECK();
}

void fill(Tensor& dst, double value) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  auto& c = context(dst);
  fill_kernel<<<grid_for(n), kBlock, 0, c.stream>>>(dst.data_ptr(), strided_meta(dst), dst.dtype(),
                                                    value, n);
  PLEAS_KERNEL_CHECK();
}

}  // namespace pleas::cuda

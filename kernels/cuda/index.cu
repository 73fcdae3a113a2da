// CUDA index_select / index_copy: one thread per element of the [outer, m, inner] side (out for
// select, src for copy), grid-stride; the (o, i, r) split and the offsets are the PLEAS_HD
// functions of kernels/common/index_math.h that the CPU kernel also uses.
#include "kernels/backend_ops.h"
#include "kernels/common/elem.h"
#include "kernels/common/index_math.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"

namespace pleas::cuda {

namespace {

// out(o, i, r) = x(o, index[i], r); out's linear position j is (o * m + i) * inner + r.
__global__ void index_select_kernel(void* out, const void* x, const void* index, DType it,
                                    IndexGeom g, int esize, int64_t n) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n;
       j += int64_t(gridDim.x) * blockDim.x) {
    int64_t o, i, r;
    index_split(g, j, o, i, r);
    copy_bytes(out, j, x, index_offset(g, o, load_index(index, it, i), r), esize);
  }
}

// dst(o, index[i], r) = src(o, i, r); src's linear position j is (o * m + i) * inner + r.
__global__ void index_copy_kernel(void* dst, const void* src, const void* index, DType it,
                                  IndexGeom g, int esize, int64_t n) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n;
       j += int64_t(gridDim.x) * blockDim.x) {
    int64_t o, i, r;
    index_split(g, j, o, i, r);
    copy_bytes(dst, index_offset(g, o, load_index(index, it, i), r), src, j, esize);
  }
}

// out(o, i, r) = wa[i]·a(o, ia[i], r) + wb[i]·b(o, ib[i], r); one thread per output element.
__global__ void gather_mix_kernel(float* out, const float* a, const float* b, const void* ia, const void* ib, DType it,
                                  const float* wa, const float* wb, IndexGeom g, int64_t n) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n; j += int64_t(gridDim.x) * blockDim.x) {
    int64_t o, i, r;
    index_split(g, j, o, i, r);
    out[j] = wa[i] * a[index_offset(g, o, load_index(ia, it, i), r)] + wb[i] * b[index_offset(g, o, load_index(ib, it, i), r)];
  }
}

}  // namespace

void gather_mix(Tensor& out, const Tensor& a, const Tensor& b, int dim, const Tensor& ia, const Tensor& ib,
                const Tensor& wa, const Tensor& wb) {
  const int64_t n = out.numel();
  if (n == 0) return;
  auto& c = context(out);
  const Tensor jb = ib.dtype() == ia.dtype() ? ib : ib.to(ia.dtype());
  const IndexGeom g = index_geom(a.shape().data(), a.dim(), dim, ia.numel());
  gather_mix_kernel<<<grid_for(n), kBlock, 0, c.stream>>>(out.data<float>(), a.data<float>(), b.data<float>(),
                                                          ia.data_ptr(), jb.data_ptr(), ia.dtype(), wa.data<float>(),
                                                          wb.data<float>(), g, n);
  PLEAS_KERNEL_CHECK();
}

void index_select(Tensor& out, const Tensor& x, int dim, const Tensor& index) {
  const int64_t n = out.numel();
  if (n == 0) return;
  auto& c = context(out);
  const Tensor xc = x.contiguous(), ic = index.contiguous();
  Tensor o = out.is_contiguous() ? out : Tensor::empty(out.shape(), out.dtype(), out.device());
  const IndexGeom g = index_geom(xc.shape().data(), xc.dim(), dim, ic.numel());
  index_select_kernel<<<grid_for(n), kBlock, 0, c.stream>>>(
      o.data_ptr(), xc.data_ptr(), ic.data_ptr(), ic.dtype(), g, int(xc.element_size()), n);
  PLEAS_KERNEL_CHECK();
  if (!o.shares_storage(out)) out.copy_(o);
}

void index_copy(Tensor& dst, int dim, const Tensor& index, const Tensor& src) {
  const int64_t n = src.numel();
  if (n == 0) return;
  auto& c = context(dst);
  const Tensor sc = src.shares_storage(dst) ? src.clone() : src.contiguous();
  const Tensor ic = index.contiguous();
  Tensor d = dst.is_contiguous() ? dst : dst.contiguous();  // non-contiguous: a copy, written back
  const IndexGeom g = index_geom(d.shape().data(), d.dim(), dim, ic.numel());
  index_copy_kernel<<<grid_for(n), kBlock, 0, c.stream>>>(
      d.data_ptr(), sc.data_ptr(), ic.data_ptr(), ic.dtype(), g, int(d.element_size()), n);
  PLEAS_KERNEL_CHECK();
  if (!d.shares_storage(dst)) dst.copy_(d);
}

}  // namespace pleas::cuda

// CUDA binary elementwise ops on broadcast (stride-0) operands: grid-stride loops with a
// contiguous fast path and a StridedMeta path over the coalesced layouts
// (kernels/common/pointwise_index.h, shared with the CPU kernel).
#include "kernels/backend_ops.h"
#include "kernels/common/meta.h"
#include "kernels/common/pointwise_index.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"

namespace pleas::cuda {

namespace {
// No __restrict__: add_ passes out == a.
template <BinaryOp OP>
__global__ void binary_contig_kernel(float* out, const float* a, const float* b, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = binary_f<OP>(a[i], b[i]);
}

// out may alias a (add_): each element is read, then written, by the same thread. A tensor
// flagged contiguous skips its offset divisions (its offset is i).
template <BinaryOp OP>
__global__ void binary_strided_kernel(float* out, StridedMeta om, const float* a, StridedMeta am,
                                      const float* b, StridedMeta bm, int64_t n, unsigned contig) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[pointwise_offset(om, contig & 1u, i)] =
        binary_f<OP>(a[pointwise_offset(am, contig & 2u, i)], b[pointwise_offset(bm, contig & 4u, i)]);
}

template <BinaryOp OP>
void launch(Tensor& out, const Tensor& a, const Tensor& b) {
  const int64_t n = out.numel();
  if (n == 0) return;
  auto& ctx = context(out);
  float* op = static_cast<float*>(out.data_ptr());
  const float* ap = static_cast<const float*>(a.data_ptr());
  const float* bp = static_cast<const float*>(b.data_ptr());
  if (out.is_contiguous() && a.is_contiguous() && b.is_contiguous()) {
    binary_contig_kernel<OP><<<grid_for(n), kBlock, 0, ctx.stream>>>(op, ap, bp, n);
  } else {
    StridedMeta m[3] = {strided_meta(out), strided_meta(a), strided_meta(b)};
    coalesce_dims(m, 3);
    const unsigned contig = (out.is_contiguous() ? 1u : 0u) | (a.is_contiguous() ? 2u : 0u) |
                            (b.is_contiguous() ? 4u : 0u);
    binary_strided_kernel<OP><<<grid_for(n), kBlock, 0, ctx.stream>>>(op, m[0], ap, m[1], bp, m[2], n,
                                                                      contig);
  }
  PLEAS_KERNEL_CHECK();
}
}  // namespace

void binary(Tensor& out, const Tensor& a, const Tensor& b, BinaryOp op) {
  switch (op) {
    case BinaryOp::add: launch<BinaryOp::add>(out, a, b); break;
    case BinaryOp::sub: launch<BinaryOp::sub>(out, a, b); break;
    case BinaryOp::mul: launch<BinaryOp::mul>(out, a, b); break;
    case BinaryOp::div: launch<BinaryOp::div>(out, a, b); break;
  }
}

}  // namespace pleas::cuda

// CPU binary elementwise ops on broadcast (stride-0) operands. The layouts are coalesced
// (kernels/common/pointwise_index.h) so that a broadcast bias add walks long contiguous rows.
#include "kernels/backend_ops.h"
#include "kernels/common/meta.h"
#include "kernels/common/pointwise_index.h"

namespace pleas::cpu {

namespace {
constexpr int64_t kParallelMin = 1 << 15;

template <BinaryOp OP>
void binary_loop(Tensor& out, const Tensor& a, const Tensor& b) {
  const int64_t n = out.numel();
  if (n == 0) return;
  float* op = static_cast<float*>(out.data_ptr());
  const float* ap = static_cast<const float*>(a.data_ptr());
  const float* bp = static_cast<const float*>(b.data_ptr());
  if (out.is_contiguous() && a.is_contiguous() && b.is_contiguous()) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) op[i] = binary_f<OP>(ap[i], bp[i]);
    return;
  }
  StridedMeta m[3] = {strided_meta(out), strided_meta(a), strided_meta(b)};
  coalesce_dims(m, 3);
  const int nd = m[0].ndim;
  const int64_t inner = nd ? m[0].shape[nd - 1] : 1;
  const int64_t os = nd ? m[0].stride[nd - 1] : 1;
  const int64_t as = nd ? m[1].stride[nd - 1] : 1, bs = nd ? m[2].stride[nd - 1] : 1;
  const int64_t rows = n / inner;
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    float* o = op + strided_offset(m[0], r * inner);
    const float* x = ap + strided_offset(m[1], r * inner);
    const float* y = bp + strided_offset(m[2], r * inner);
    // The common row kinds get their own (vectorisable) loops.
    if (os == 1 && as == 1 && bs == 1) {
      for (int64_t j = 0; j < inner; ++j) o[j] = binary_f<OP>(x[j], y[j]);
    } else if (os == 1 && as == 1 && bs == 0) {
      const float yv = *y;
      for (int64_t j = 0; j < inner; ++j) o[j] = binary_f<OP>(x[j], yv);
    } else if (os == 1 && as == 0 && bs == 1) {
      const float xv = *x;
      for (int64_t j = 0; j < inner; ++j) o[j] = binary_f<OP>(xv, y[j]);
    } else {
      for (int64_t j = 0; j < inner; ++j) o[j * os] = binary_f<OP>(x[j * as], y[j * bs]);
    }
  }
}
}  // namespace

void binary(Tensor& out, const Tensor& a, const Tensor& b, BinaryOp op) {
  switch (op) {
    case BinaryOp::add: binary_loop<BinaryOp::add>(out, a, b); break;
    case BinaryOp::sub: binary_loop<BinaryOp::sub>(out, a, b); break;
    case BinaryOp::mul: binary_loop<BinaryOp::mul>(out, a, b); break;
    case BinaryOp::div: binary_loop<BinaryOp::div>(out, a, b); break;
  }
}

}  // namespace pleas::cpu

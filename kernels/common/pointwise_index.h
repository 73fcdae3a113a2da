// Pointwise ops (activation, elementwise): the scalar math and the strided-layout simplification
// shared by the CPU and CUDA kernels.
#pragma once
#include <math.h>

#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/common/strided.h"
#include "kernels/op_args.h"

namespace pleas {

PLEAS_HD inline float relu_f(float x) { return x > 0.f ? x : 0.f; }  // relu(NaN) = 0 like fmaxf

// gelu(x) = x/2 · (1 + erf(x/√2)) (exact form, not the tanh approximation).
PLEAS_HD inline float gelu_f(float x) { return 0.5f * x * (1.f + erff(x * 0.70710678118654752f)); }
// gelu_tanh(x) = x/2 · (1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³) (PyTorch's approximate='tanh'),
// computed as x / (1 + exp(−2u)) (the same function: (1 + tanh u)/2 = sigmoid(2u)), which
// vectorises with libmvec's expf.
PLEAS_HD inline float gelu_tanh_f(float x) {
  const float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
  return x / (1.f + expf(-2.f * u));
}

template <BinaryOp OP>
PLEAS_HD inline float binary_f(float a, float b) {
  if constexpr (OP == BinaryOp::add) return a + b;
  else if constexpr (OP == BinaryOp::sub) return a - b;
  else if constexpr (OP == BinaryOp::mul) return a * b;
  else return a / b;
}

// Simplifies the layouts of `count` tensors of one shape for a pointwise loop: drops size-1 dims
// and merges dim d into d+1 whenever every tensor has stride[d] == stride[d+1] * shape[d+1]
// (the pair then walks memory like one dim of size shape[d]*shape[d+1]). Row-major element order
// is unchanged, so linear index i still names the same element of every tensor; a contiguous
// tensor becomes 1-D, and x [N,C,H,W] + b[C,1,1] expanded becomes [N, C, H*W].
PLEAS_HD inline void coalesce_dims(StridedMeta* m, int count) {
  if (count <= 0) return;
  const int nd = m[0].ndim;
  int out = 0;  // dims kept so far (written in place: out <= d)
  for (int d = 0; d < nd; ++d) {
    const int64_t size = m[0].shape[d];
    if (size == 1) continue;
    bool merge = out > 0;
    for (int t = 0; merge && t < count; ++t)
      merge = m[t].stride[out - 1] == m[t].stride[d] * size;
    for (int t = 0; t < count; ++t) {
      if (merge) {
        m[t].shape[out - 1] *= size;
        m[t].stride[out - 1] = m[t].stride[d];
      } else {
        m[t].shape[out] = size;
        m[t].stride[out] = m[t].stride[d];
      }
    }
    if (!merge) ++out;
  }
  for (int t = 0; t < count; ++t) m[t].ndim = out;
}

// Offset of row-major element i of a tensor with layout m; i itself when the tensor is contiguous.
PLEAS_HD inline int64_t pointwise_offset(const StridedMeta& m, bool contiguous, int64_t i) {
  return contiguous ? i : strided_offset(m, i);
}

}  // namespace pleas

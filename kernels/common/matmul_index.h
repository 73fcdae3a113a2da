// GEMM operand layouts and the bias-broadcast index, shared by the CPU (OpenBLAS) and CUDA
// (cuBLAS) matmul kernels and tested on the CPU in tests/matmul.cpp.
#pragma once
#include <algorithm>
#include <cstdint>

#include "engine/tensor.h"
#include "kernels/common/hd.h"

namespace pleas {

// Element offset in `bias` (stride `bstride`) of the bias that element i of a contiguous [M, N]
// output receives: out[r, c] = ... + bias[c], c = i mod N.
PLEAS_HD inline int64_t linear_bias_offset(int64_t i, int64_t n, int64_t bstride) {
  return (i % n) * bstride;
}

// How BLAS can read a logical [rows, cols] matrix whose element (r, c) lies at r*s0 + c*s1:
//  - row-major (s1 == 1, s0 >= cols): trans = false, ld = s0;
//  - a transposed view, i.e. column-major (s0 == 1, s1 >= rows): trans = true, ld = s1
//    (the memory holds the [cols, rows] row-major matrix, which BLAS reads with op = T).
// Size-1 dims may have any stride. Returns false when neither applies (slices with step, expanded
// stride-0 views): the caller then makes a contiguous copy.
struct BlasLayout {
  bool trans = false;
  int64_t ld = 1;
};
inline bool blas_layout(int64_t rows, int64_t cols, int64_t s0, int64_t s1, BlasLayout& out) {
  if ((cols <= 1 || s1 == 1) && (rows <= 1 || s0 >= std::max<int64_t>(1, cols))) {
    out = {false, rows <= 1 ? std::max<int64_t>(1, cols) : s0};
    return true;
  }
  if ((rows <= 1 || s0 == 1) && (cols <= 1 || s1 >= std::max<int64_t>(1, rows))) {
    out = {true, cols <= 1 ? std::max<int64_t>(1, rows) : s1};
    return true;
  }
  return false;
}

// A GEMM operand: `t` holds the data BLAS reads (the caller's view, or a contiguous copy when its
// strides do not fit), with the layout of its (last two) matrix dims and, for 3-D operands, the
// element stride between consecutive matrices of the batch.
struct BlasOperand {
  Tensor t;
  BlasLayout layout;
  int64_t batch_stride = 0;
};
inline BlasOperand blas_operand(const Tensor& m) {
  const int d = m.dim();  // 2 or 3
  BlasOperand op{m, {}, 0};
  if (!blas_layout(m.size(d - 2), m.size(d - 1), m.stride(d - 2), m.stride(d - 1), op.layout)) {
    op.t = m.contiguous();
    blas_layout(m.size(d - 2), m.size(d - 1), op.t.stride(d - 2), op.t.stride(d - 1), op.layout);
  }
  if (d == 3) op.batch_stride = op.t.size(0) <= 1 ? 0 : op.t.stride(0);
  return op;
}

}  // namespace pleas

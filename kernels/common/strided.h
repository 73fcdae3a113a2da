// Strided index arithmetic shared by CPU and CUDA kernels (tested on the CPU in tests/tensor.cpp).
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace pleas {

constexpr int kMaxDims = 8;

// Shape and element strides of a tensor, by value, small enough to pass as a kernel argument.
struct StridedMeta {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride[kMaxDims] = {};
};

// Element offset (relative to the tensor's first element) of the element at row-major position
// `linear`: linear = sum_d idx_d * prod_{e>d} shape_e, offset = sum_d idx_d * stride_d.
PLEAS_HD inline int64_t strided_offset(const StridedMeta& m, int64_t linear) {
  int64_t off = 0;
  for (int d = m.ndim - 1; d >= 0; --d) {
    int64_t n = m.shape[d];
    int64_t i = linear % n;
    linear /= n;
    off += i * m.stride[d];
  }
  return off;
}

}  // namespace pleas

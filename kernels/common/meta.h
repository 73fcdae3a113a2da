// Host-side construction of StridedMeta from a tensor.
#pragma once
#include "engine/tensor.h"
#include "kernels/common/strided.h"

namespace pleas {

inline StridedMeta strided_meta(const Tensor& t) {
  StridedMeta m;
  PLEAS_CHECK(t.dim() <= kMaxDims, "strided kernel: at most ", kMaxDims, " dims, got ", t.str());
  m.ndim = t.dim();
  for (int i = 0; i < m.ndim; ++i) { m.shape[i] = t.shape()[i]; m.stride[i] = t.strides()[i]; }
  return m;
}

}  // namespace pleas

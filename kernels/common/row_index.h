// Row layout of the row-wise ops (layer_norm, softmax), shared by the CPU and CUDA kernels.
// A contiguous tensor reduced along dim `dim` is viewed as [outer, D, inner] with
// D = shape[dim], inner = prod(shape[dim+1:]); its outer*inner "rows" each hold D elements
// spaced `inner` apart. layer_norm is the case inner = 1 (the last dim).
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace pleas {

struct RowLayout {
  int64_t outer = 1, D = 1, inner = 1;
  int64_t rows() const { return outer * inner; }
};

// Offset of element 0 of row r (r = o*inner + j): o*D*inner + j. Element d of the row is at
// row_base + d*inner.
PLEAS_HD inline int64_t row_base(int64_t r, int64_t D, int64_t inner) {
  const int64_t o = r / inner;
  return o * D * inner + (r - o * inner);
}

inline RowLayout row_layout(const int64_t* shape, int ndim, int dim) {
  RowLayout L;
  for (int d = 0; d < dim; ++d) L.outer *= shape[d];
  L.D = shape[dim];
  for (int d = dim + 1; d < ndim; ++d) L.inner *= shape[d];
  return L;
}

}  // namespace pleas

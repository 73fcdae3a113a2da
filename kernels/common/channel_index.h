// Per-channel index arithmetic for x [N, C, inner...] viewed as contiguous [N, C, inner]
// (batch_norm, scale_shift, batch_channel_stats), shared by the CPU and CUDA kernels.
// I is the index type: CUDA kernels use 32-bit indices when the tensor allows (integer division
// is far cheaper than in 64 bits), the CPU uses int64_t.
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace pleas {

// Channel of row-major element i of a contiguous [N, C, inner] tensor: c = (i / inner) % C.
template <typename I>
PLEAS_HD inline I channel_of(I i, I inner, I C) {
  return (i / inner) % C;
}

// Offset of the k-th element (k in [0, N*inner), in (n, j) row-major order) of channel c in a
// contiguous [N, C, inner] tensor: n = k / inner, j = k % inner, offset = (n*C + c)*inner + j.
template <typename I>
PLEAS_HD inline I channel_elem_offset(I c, I k, I C, I inner) {
  I n = k / inner;
  return (n * C + c) * inner + (k - n * inner);
}

// Elements per channel (dims 2.. of x) given its shape; 1 for a 2-D x [N, C].
inline int64_t channel_inner(const int64_t* shape, int ndim) {
  int64_t inner = 1;
  for (int d = 2; d < ndim; ++d) inner *= shape[d];
  return inner;
}

}  // namespace pleas

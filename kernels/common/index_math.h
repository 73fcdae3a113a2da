// Index arithmetic of index_select / index_copy, shared by the CPU and CUDA kernels.
// A contiguous tensor is viewed along `dim` as [outer, size, inner] with
//   outer = prod_{d<dim} shape_d,  inner = prod_{d>dim} shape_d,
// so element (o, k, r) sits at linear offset (o * size + k) * inner + r.
// index_select: out [outer, M, inner], out(o, i, r) = x(o, index[i], r).
// index_copy:   dst(o, index[i], r) = src(o, i, r) for src [outer, M, inner].
#pragma once
#include <cstdint>

#include "engine/dtype.h"
#include "kernels/common/hd.h"

namespace pleas {

struct IndexGeom {
  int64_t outer = 1;  // product of the dims before `dim`
  int64_t inner = 1;  // product of the dims after `dim`
  int64_t m = 0;      // number of indices (size of the indexed dim of out / src)
  int64_t size = 0;   // size of the indexed dim of x / dst
};

// Geometry of an [outer, size, inner] view of a contiguous tensor of shape `shape` along `dim`,
// with m indices.
PLEAS_HD inline IndexGeom index_geom(const int64_t* shape, int ndim, int dim, int64_t m) {
  IndexGeom g;
  for (int d = 0; d < dim; ++d) g.outer *= shape[d];
  for (int d = dim + 1; d < ndim; ++d) g.inner *= shape[d];
  g.m = m;
  g.size = shape[dim];
  return g;
}

// Splits a row-major linear position in an [outer, m, inner] tensor into (o, i, r).
PLEAS_HD inline void index_split(const IndexGeom& g, int64_t linear, int64_t& o, int64_t& i,
                                 int64_t& r) {
  r = linear % g.inner;
  int64_t q = linear / g.inner;
  i = q % g.m;
  o = q / g.m;
}

// Linear offset of element (o, k, r) in the [outer, size, inner] tensor.
PLEAS_HD inline int64_t index_offset(const IndexGeom& g, int64_t o, int64_t k, int64_t r) {
  return (o * g.size + k) * g.inner + r;
}

// index[i] of an i64 or i32 index vector (contiguous).
PLEAS_HD inline int64_t load_index(const void* index, DType t, int64_t i) {
  return t == DType::i32 ? int64_t(static_cast<const int32_t*>(index)[i])
                         : static_cast<const int64_t*>(index)[i];
}

}  // namespace pleas

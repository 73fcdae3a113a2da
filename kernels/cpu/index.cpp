// CPU index_select / index_copy: one contiguous block of `inner` elements per (outer, index) pair,
// moved with memcpy; OpenMP over the blocks. Index math: kernels/common/index_math.h.
#include <cstring>

#include "kernels/backend_ops.h"
#include "kernels/common/elem.h"
#include "kernels/common/index_math.h"

namespace pleas::cpu {

namespace {

// Copies `inner` elements of `esize` bytes from src element `s` to dst element `d`.
inline void copy_block(char* dst, int64_t d, const char* src, int64_t s, int64_t inner, int esize) {
  if (inner == 1) copy_bytes(dst, d, src, s, esize);  // element-typed offsets
  else std::memcpy(dst + d * esize, src + s * esize, size_t(inner) * size_t(esize));
}

// Visits every (o, i) block of an [outer, m, inner] tensor; index_split with inner = 1 is the
// block-level form of the per-element split the CUDA kernels use.
template <typename F>
void for_blocks(const IndexGeom& g, int esize, F f) {
  const IndexGeom blocks{g.outer, 1, g.m, g.size};
  const int64_t nb = g.outer * g.m;
  const bool par = nb > 1 && nb * g.inner * esize > (1 << 16);
#pragma omp parallel for schedule(static) if (par)
  for (int64_t b = 0; b < nb; ++b) {
    int64_t o, i, r;
    index_split(blocks, b, o, i, r);
    f(o, i);
  }
}

}  // namespace

void index_select(Tensor& out, const Tensor& x, int dim, const Tensor& index) {
  const Tensor xc = x.contiguous(), ic = index.contiguous();
  Tensor o = out.is_contiguous() ? out : Tensor::empty(out.shape(), out.dtype(), out.device());
  const IndexGeom g = index_geom(xc.shape().data(), xc.dim(), dim, ic.numel());
  const int esize = int(xc.element_size());
  const char* xp = static_cast<const char*>(xc.data_ptr());
  char* op = static_cast<char*>(o.data_ptr());
  const void* ip = ic.data_ptr();
  const DType it = ic.dtype();
  // out(o, i, :) = x(o, index[i], :); out is [outer, m, inner], i.e. size m along dim.
  const IndexGeom go{g.outer, g.inner, g.m, g.m};
  for_blocks(g, esize, [&](int64_t ob, int64_t i) {
    copy_block(op, index_offset(go, ob, i, 0), xp, index_offset(g, ob, load_index(ip, it, i), 0),
               g.inner, esize);
  });
  if (!o.shares_storage(out)) out.copy_(o);
}

void index_copy(Tensor& dst, int dim, const Tensor& index, const Tensor& src) {
  // A source overlapping the destination is read from a copy taken first.
  const Tensor sc = src.shares_storage(dst) ? src.clone() : src.contiguous();
  const Tensor ic = index.contiguous();
  Tensor d = dst.is_contiguous() ? dst : dst.contiguous();  // non-contiguous: a copy, written back
  const IndexGeom g = index_geom(d.shape().data(), d.dim(), dim, ic.numel());
  const int esize = int(d.element_size());
  const char* sp = static_cast<const char*>(sc.data_ptr());
  char* dp = static_cast<char*>(d.data_ptr());
  const void* ip = ic.data_ptr();
  const DType it = ic.dtype();
  // dst(o, index[i], :) = src(o, i, :); src is [outer, m, inner].
  const IndexGeom gs{g.outer, g.inner, g.m, g.m};
  for_blocks(g, esize, [&](int64_t ob, int64_t i) {
    copy_block(dp, index_offset(g, ob, load_index(ip, it, i), 0), sp, index_offset(gs, ob, i, 0),
               g.inner, esize);
  });
  if (!d.shares_storage(dst)) dst.copy_(d);
}

}  // namespace pleas::cpu

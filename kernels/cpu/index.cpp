// CPU index_select / index_copy: one contiguous block of `inner` elements per (outer, index) pair,
// moved with memcpy; OpenMP over the blocks. Index math: kernels/common/index_math.h.
#include <cstring>
#include <vector>

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

// out[o, i] = x[o, index[i]] for x [outer, size], out [outer, m]: the indices read once, rows in
// parallel, typed element copies (no per-element index arithmetic).
template <typename T>
void gather_typed(T* out, const T* x, const std::vector<int64_t>& idx, const IndexGeom& g) {
  const int64_t m = g.m;
#pragma omp parallel for schedule(static) if (g.outer * m > (1 << 16))
  for (int64_t o = 0; o < g.outer; ++o) {
    const T* xr = x + o * g.size;
    T* orow = out + o * m;
    for (int64_t i = 0; i < m; ++i) orow[i] = xr[idx[size_t(i)]];
  }
}

void gather_rows(char* out, const char* x, const void* ip, DType it, const IndexGeom& g, int esize) {
  std::vector<int64_t> idx(static_cast<size_t>(g.m));
  for (int64_t i = 0; i < g.m; ++i) idx[size_t(i)] = load_index(ip, it, i);
  switch (esize) {
    case 8: gather_typed(reinterpret_cast<int64_t*>(out), reinterpret_cast<const int64_t*>(x), idx, g); break;
    case 4: gather_typed(reinterpret_cast<int32_t*>(out), reinterpret_cast<const int32_t*>(x), idx, g); break;
    case 2: gather_typed(reinterpret_cast<int16_t*>(out), reinterpret_cast<const int16_t*>(x), idx, g); break;
    default: gather_typed(reinterpret_cast<int8_t*>(out), reinterpret_cast<const int8_t*>(x), idx, g); break;
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
  if (g.inner == 1) {  // a gather along the last dim (e.g. channels of ViT tokens): one row per outer
    gather_rows(op, xp, ip, it, g, esize);
    if (!o.shares_storage(out)) out.copy_(o);
    return;
  }
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

// out(o, i, r) = wa[i]·a(o, ia[i], r) + wb[i]·b(o, ib[i], r): one pass over the output, rows of
// `inner` elements (a vectorised axpy pair) or, along the last dim, one gathered row per o.
void gather_mix(Tensor& out, const Tensor& a, const Tensor& b, int dim, const Tensor& ia, const Tensor& ib,
                const Tensor& wa, const Tensor& wb) {
  const IndexGeom g = index_geom(a.shape().data(), a.dim(), dim, ia.numel());
  const std::vector<int64_t> ja = ia.to(DType::i64).to_vector<int64_t>(), jb = ib.to(DType::i64).to_vector<int64_t>();
  const float *ap = a.data<float>(), *bp = b.data<float>(), *ca = wa.data<float>(), *cb = wb.data<float>();
  float* op = out.data<float>();
  const IndexGeom go{g.outer, g.inner, g.m, g.m};
  const int64_t nb = g.outer * g.m;
  const bool par = out.numel() > (1 << 15);
  if (g.inner == 1) {
#pragma omp parallel for schedule(static) if (par)
    for (int64_t o = 0; o < g.outer; ++o) {
      const float *ar = ap + o * g.size, *br = bp + o * g.size;
      float* orow = op + o * g.m;
      for (int64_t i = 0; i < g.m; ++i) orow[i] = ca[i] * ar[ja[size_t(i)]] + cb[i] * br[jb[size_t(i)]];
    }
    return;
  }
#pragma omp parallel for schedule(static) if (par)
  for (int64_t blk = 0; blk < nb; ++blk) {
    const int64_t o = blk / g.m, i = blk % g.m;
    const float* ar = ap + index_offset(g, o, ja[size_t(i)], 0);
    const float* br = bp + index_offset(g, o, jb[size_t(i)], 0);
    float* orow = op + index_offset(go, o, i, 0);
    const float x = ca[i], y = cb[i];
    for (int64_t r = 0; r < g.inner; ++r) orow[r] = x * ar[r] + y * br[r];
  }
}

}  // namespace pleas::cpu

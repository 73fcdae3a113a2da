// CPU pooling: OpenMP over the (n, c) planes; window math from kernels/common/pool_index.h, the
// same functions the CUDA kernels call. Any input strides are read directly (no copy).
// Each output row is computed as
//   edges    (windows clipped by the padding): max_pool_window / avg_pool_window per element;
//   interior (windows inside the input along w): row-wise accumulation over the window's taps,
//            o[ow] = max/sum over (h, kw) of x[h, ow*stride - pad + kw], vectorised over ow.
// Both sum a window in the same order (h outer, kw inner), so the results are bitwise identical
// to the per-element functions.
#include <limits>

#include "kernels/backend_ops.h"
#include "kernels/common/pool_index.h"

namespace pleas::cpu {

namespace {

// o[j] = max(o[j], r[j*step]) (NaN sticks, as max_pool_window) or o[j] += r[j*step], j < n.
template <bool kMax, int64_t kStep>
inline void accumulate_taps(float* o, const float* r, int64_t n, int64_t step) {
  const int64_t st = kStep ? kStep : step;
  for (int64_t j = 0; j < n; ++j) {
    const float v = r[j * st];
    if (kMax) o[j] = (v > o[j] || v != v) ? v : o[j];
    else o[j] += v;
  }
}

template <bool kMax>
void pool_row(const float* plane, const PoolGeom& g, int64_t oh, int64_t lo, int64_t hi, float* o) {
  for (int64_t ow = 0; ow < g.OW; ++ow) {
    if (ow == lo) ow = hi;
    if (ow >= g.OW) break;
    o[ow] = kMax ? max_pool_window(plane, g, oh, ow) : avg_pool_window(plane, g, oh, ow);
  }
  if (hi <= lo) return;
  int64_t h0, h1, ph, w0, w1, pw;
  pool_window_1d(oh, g.H, g.kh, g.stride_h, g.pad_h, h0, h1, ph);
  pool_window_1d(lo, g.W, g.kw, g.stride_w, g.pad_w, w0, w1, pw);  // w0 = first tap of output lo
  float* oi = o + lo;
  const int64_t n = hi - lo, step = g.stride_w * g.sw;
  for (int64_t j = 0; j < n; ++j) oi[j] = kMax ? -std::numeric_limits<float>::infinity() : 0.f;
  for (int64_t h = h0; h < h1; ++h)
    for (int64_t kw = 0; kw < g.kw; ++kw) {
      const float* r = plane + h * g.sh + (w0 + kw) * g.sw;
      if (step == 1) accumulate_taps<kMax, 1>(oi, r, n, step);
      else if (step == 2) accumulate_taps<kMax, 2>(oi, r, n, step);
      else accumulate_taps<kMax, 0>(oi, r, n, step);
    }
  if (!kMax) {
    // Inside along w the window has kw real and kw padded columns: divisor as avg_pool_window.
    const float div = float((g.count_include_pad ? ph : h1 - h0) * g.kw);
    for (int64_t j = 0; j < n; ++j) oi[j] = oi[j] / div;
  }
}

template <bool kMax>
void pool_planes(Tensor& out, const Tensor& x, const Pool2dArgs& a) {
  PLEAS_CHECK(out.is_contiguous(), "pooling (cpu): output must be contiguous, got ", out.str());
  const PoolGeom g = pool_geom(x, out, a);
  const float* xp = x.data<float>();
  float* op = out.data<float>();
  const int64_t planes = g.N * g.C, P = g.OH * g.OW;
  int64_t lo, hi;
  pool_interior_range(g.W, g.OW, g.kw, g.stride_w, g.pad_w, lo, hi);
#pragma omp parallel for schedule(static) if (planes * P > (1 << 12))
  for (int64_t i = 0; i < planes; ++i) {
    const float* plane = xp + pool_plane_offset(g, i / g.C, i % g.C);
    for (int64_t oh = 0; oh < g.OH; ++oh) pool_row<kMax>(plane, g, oh, lo, hi, op + i * P + oh * g.OW);
  }
}

}  // namespace

void max_pool2d(Tensor& out, const Tensor& x, const Pool2dArgs& a) { pool_planes<true>(out, x, a); }
void avg_pool2d(Tensor& out, const Tensor& x, const Pool2dArgs& a) { pool_planes<false>(out, x, a); }

// out[n, c] = (1 / HW) * sum_{h,w} x[n, c, h, w], accumulated in double.
void global_avg_pool2d(Tensor& out, const Tensor& x) {
  PLEAS_CHECK(out.is_contiguous(), "global_avg_pool2d (cpu): output must be contiguous, got ", out.str());
  const PoolGeom g = pool_geom(x, out, Pool2dArgs{});
  const float* xp = x.data<float>();
  float* op = out.data<float>();
  const int64_t planes = g.N * g.C;
  const bool dense = g.sw == 1 && g.sh == g.W;  // plane is one contiguous run of H·W floats
#pragma omp parallel for schedule(static) if (planes * g.H * g.W > (1 << 14))
  for (int64_t i = 0; i < planes; ++i) {
    const float* plane = xp + pool_plane_offset(g, i / g.C, i % g.C);
    double s = 0;
    if (dense) {
      for (int64_t j = 0; j < g.H * g.W; ++j) s += plane[j];
    } else {
      for (int64_t h = 0; h < g.H; ++h)
        for (int64_t w = 0; w < g.W; ++w) s += plane[h * g.sh + w * g.sw];
    }
    op[i] = float(s / double(g.H * g.W));
  }
}

}  // namespace pleas::cpu

// Window arithmetic of 2-D max / average pooling (PyTorch semantics), shared by the CPU and CUDA
// kernels: both call max_pool_window / avg_pool_window for every output element, so the CPU tests
// exercise exactly the index math the CUDA kernels run.
#pragma once
#include <cstdint>
#include <limits>

#include "engine/tensor.h"
#include "kernels/common/hd.h"
#include "kernels/op_args.h"

namespace pleas {

// Geometry of one pooling op. Input element (n, c, h, w) lives at n*sn + c*sc + h*sh + w*sw
// (any strides); output is contiguous [N, C, OH, OW].
struct PoolGeom {
  int64_t N = 0, C = 0, H = 0, W = 0, OH = 0, OW = 0;
  int64_t sn = 0, sc = 0, sh = 0, sw = 0;     // input element strides
  int64_t kh = 1, kw = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  bool count_include_pad = true;
};

// One axis of a window: output position o covers the padded span [o*stride - pad, +kernel),
// clipped to in + pad (PyTorch: a ceil_mode window never reaches past the right padding).
// `lo, hi` is the span clipped to the real input [0, in); `padded` the length counted by
// count_include_pad.
PLEAS_HD inline void pool_window_1d(int64_t o, int64_t in, int64_t kernel, int64_t stride,
                                    int64_t pad, int64_t& lo, int64_t& hi, int64_t& padded) {
  lo = o * stride - pad;
  hi = lo + kernel;
  if (hi > in + pad) hi = in + pad;
  padded = hi - lo;
  if (lo < 0) lo = 0;
  if (hi > in) hi = in;
}

// Half-open range [lo, hi) of output positions whose whole window [o*stride - pad, +kernel) lies
// inside [0, in): there no clipping happens and the padded and real window sizes are both kernel
// (the CPU kernel vectorises over it). lo = ceil(pad / stride), hi = floor((in + pad - kernel) /
// stride) + 1, clamped to [lo, out].
PLEAS_HD inline void pool_interior_range(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                                         int64_t pad, int64_t& lo, int64_t& hi) {
  lo = (pad + stride - 1) / stride;
  const int64_t last = in + pad - kernel;  // largest o*stride allowed
  hi = last < 0 ? 0 : last / stride + 1;
  if (lo > out) lo = out;
  if (hi > out) hi = out;
  if (hi < lo) hi = lo;
}

// Output linear index i of a contiguous [N, C, OH, OW] tensor -> (n, c, oh, ow).
PLEAS_HD inline void pool_out_decode(const PoolGeom& g, int64_t i, int64_t& n, int64_t& c,
                                     int64_t& oh, int64_t& ow) {
  ow = i % g.OW;
  i /= g.OW;
  oh = i % g.OH;
  i /= g.OH;
  c = i % g.C;
  n = i / g.C;
}

// Offset of the (n, c) input plane.
PLEAS_HD inline int64_t pool_plane_offset(const PoolGeom& g, int64_t n, int64_t c) {
  return n * g.sn + c * g.sc;
}

// max over the window of output (oh, ow) of one plane; NaN propagates (as PyTorch). Every window
// holds at least one input element when pad <= kernel/2 (checked by the op).
PLEAS_HD inline float max_pool_window(const float* plane, const PoolGeom& g, int64_t oh, int64_t ow) {
  int64_t h0, h1, w0, w1, ph, pw;
  pool_window_1d(oh, g.H, g.kh, g.stride_h, g.pad_h, h0, h1, ph);
  pool_window_1d(ow, g.W, g.kw, g.stride_w, g.pad_w, w0, w1, pw);
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t h = h0; h < h1; ++h)
    for (int64_t w = w0; w < w1; ++w) {
      const float v = plane[h * g.sh + w * g.sw];
      if (v > m || v != v) m = v;
      if (m != m) return m;
    }
  return m;
}

// mean over the window of output (oh, ow): sum / divisor, divisor = the padded window size
// (count_include_pad) or the number of real input elements in it.
PLEAS_HD inline float avg_pool_window(const float* plane, const PoolGeom& g, int64_t oh, int64_t ow) {
  int64_t h0, h1, w0, w1, ph, pw;
  pool_window_1d(oh, g.H, g.kh, g.stride_h, g.pad_h, h0, h1, ph);
  pool_window_1d(ow, g.W, g.kw, g.stride_w, g.pad_w, w0, w1, pw);
  float s = 0.f;
  for (int64_t h = h0; h < h1; ++h)
    for (int64_t w = w0; w < w1; ++w) s += plane[h * g.sh + w * g.sw];
  const int64_t div = g.count_include_pad ? ph * pw : (h1 - h0) * (w1 - w0);
  return div > 0 ? s / float(div) : 0.f;
}

// Global average pooling: element j of a plane of H·W elements -> its offset in the plane.
PLEAS_HD inline int64_t plane_elem_offset(const PoolGeom& g, int64_t j) {
  return (j / g.W) * g.sh + (j % g.W) * g.sw;
}

// Host side: the geometry of pooling x [N,C,H,W] (any strides) into out [N,C,OH,OW] (or [N,C]
// for global pooling, with a = whole-plane window).
inline PoolGeom pool_geom(const Tensor& x, const Tensor& out, const Pool2dArgs& a) {
  PoolGeom g;
  g.N = x.size(0); g.C = x.size(1); g.H = x.size(2); g.W = x.size(3);
  g.OH = out.dim() == 4 ? out.size(2) : 1;
  g.OW = out.dim() == 4 ? out.size(3) : 1;
  g.sn = x.stride(0); g.sc = x.stride(1); g.sh = x.stride(2); g.sw = x.stride(3);
  g.kh = a.kernel_h; g.kw = a.kernel_w; g.stride_h = a.stride_h; g.stride_w = a.stride_w;
  g.pad_h = a.pad_h; g.pad_w = a.pad_w; g.count_include_pad = a.count_include_pad;
  return g;
}

}  // namespace pleas

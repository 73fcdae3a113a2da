// Index arithmetic of a 2-D convolution lowered to a matrix product (im2col), shared by the CPU
// kernel and the tests. The column matrix of one image and one group has
//   rows    r = (c * KH + kh) * KW + kw       (c < Cin/groups, kh < KH, kw < KW)
//   columns p = oh * OW + ow                 (oh < OH, ow < OW)
// and entry col[r, p] = x[c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw] (0 outside the input), so
// that out_g [Cout/groups, OH*OW] = W_g [Cout/groups, Cin/groups*KH*KW] · col.
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace pleas {

// Geometry of one convolution, as plain integers (small enough for a kernel argument).
struct ConvGeom {
  int64_t C = 0, H = 0, W = 0;    // input channels per group and spatial size
  int64_t KH = 1, KW = 1;         // kernel
  int64_t OH = 0, OW = 0;         // output spatial size
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

// Input coordinate read by output position o at kernel tap k: i = o*stride - pad + k*dilation.
PLEAS_HD inline int64_t conv_in_coord(int64_t o, int64_t k, int64_t stride, int64_t pad,
                                      int64_t dilation) {
  return o * stride - pad + k * dilation;
}

// Row r of the column matrix -> (c, kh, kw).
PLEAS_HD inline void im2col_row_decode(const ConvGeom& g, int64_t r, int64_t& c, int64_t& kh,
                                       int64_t& kw) {
  kw = r % g.KW;
  r /= g.KW;
  kh = r % g.KH;
  c = r / g.KH;
}

// Offset (c*H + ih)*W + iw into a contiguous [C,H,W] image of col[r, p], or -1 when that entry
// falls into the zero padding.
PLEAS_HD inline int64_t im2col_src_offset(const ConvGeom& g, int64_t r, int64_t p) {
  int64_t c, kh, kw;
  im2col_row_decode(g, r, c, kh, kw);
  const int64_t oh = p / g.OW, ow = p % g.OW;
  const int64_t ih = conv_in_coord(oh, kh, g.sh, g.ph, g.dh);
  const int64_t iw = conv_in_coord(ow, kw, g.sw, g.pw, g.dw);
  if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) return -1;
  return (c * g.H + ih) * g.W + iw;
}

// Half-open range [lo, hi) of output positions o < out whose tap k reads inside [0, in):
// 0 <= o*stride - pad + k*dilation < in. Outside it the column entries are padding zeros, so the
// CPU im2col copies the inside with no per-element bounds test. lo <= hi always.
PLEAS_HD inline void conv_valid_range(int64_t in, int64_t out, int64_t k, int64_t stride,
                                      int64_t pad, int64_t dilation, int64_t& lo, int64_t& hi) {
  const int64_t base = k * dilation - pad;  // i = o*stride + base
  // o >= ceil(-base / stride) and o <= floor((in - 1 - base) / stride), both clamped to [0, out].
  lo = base >= 0 ? 0 : (-base + stride - 1) / stride;
  const int64_t last = in - 1 - base;  // largest o*stride allowed
  hi = last < 0 ? 0 : last / stride + 1;
  if (lo > out) lo = out;
  if (hi > out) hi = out;
  if (hi < lo) hi = lo;
}

}  // namespace pleas

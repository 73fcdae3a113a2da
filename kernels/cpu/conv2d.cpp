// CPU conv2d: im2col + OpenBLAS sgemm per image and group (index math: kernels/common/conv_index.h).
//   out[n, g*Mg + m, p] = bias[g*Mg + m] + sum_r W[g*Mg + m, r] · col_{n,g}[r, p]
// with Mg = Cout/groups output channels per group, r over Cin/groups·KH·KW, p over OH·OW.
// A 1x1, stride-1, unpadded convolution needs no im2col: col_{n,g} is the input image itself.
// Threads: with N >= #threads the images are split over OpenMP threads, each with its own column
// buffer and a single-threaded sgemm (OpenBLAS's OpenMP build runs one thread inside a parallel
// region); with fewer images, one image at a time with a parallel im2col and OpenBLAS's threads.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "kernels/backend_ops.h"
#include "kernels/common/conv_index.h"

namespace pleas::cpu {

namespace {

// A per-thread scratch buffer that only grows (no zero-fill, no reallocation per call).
float* scratch(size_t n) {
  thread_local std::unique_ptr<float[]> buf;
  thread_local size_t cap = 0;
  if (n > cap) {
    buf.reset(new float[n]);
    cap = n;
  }
  return buf.get();
}

// col [C·KH·KW, OH·OW] (row r at col + r·ld) of one contiguous image x [C,H,W] (C = channels of
// one group).
void im2col(const float* x, const ConvGeom& g, float* col, int64_t ld, bool parallel) {
  const int64_t rows = g.C * g.KH * g.KW, P = g.OH * g.OW;
#pragma omp parallel for schedule(static) if (parallel && rows * P > (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    int64_t c, kh, kw;
    im2col_row_decode(g, r, c, kh, kw);
    int64_t oh_lo, oh_hi, ow_lo, ow_hi;
    conv_valid_range(g.H, g.OH, kh, g.sh, g.ph, g.dh, oh_lo, oh_hi);
    conv_valid_range(g.W, g.OW, kw, g.sw, g.pw, g.dw, ow_lo, ow_hi);
    float* dst = col + r * ld;
    std::fill(dst, dst + oh_lo * g.OW, 0.f);
    const int64_t iw0 = conv_in_coord(ow_lo, kw, g.sw, g.pw, g.dw);
    for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
      float* d = dst + oh * g.OW;
      const float* s = x + (c * g.H + conv_in_coord(oh, kh, g.sh, g.ph, g.dh)) * g.W + iw0;
      std::fill(d, d + ow_lo, 0.f);
      const int64_t n = ow_hi - ow_lo;
      if (g.sw == 1) {
        std::memcpy(d + ow_lo, s, size_t(n) * sizeof(float));
      } else {
        for (int64_t j = 0; j < n; ++j) d[ow_lo + j] = s[j * g.sw];
      }
      std::fill(d + ow_hi, d + g.OW, 0.f);
    }
    std::fill(dst + oh_hi * g.OW, dst + P, 0.f);
  }
}

}  // namespace

void conv2d(Tensor& out, const Tensor& x_, const Tensor& w_, const Tensor& bias_,
            const Conv2dArgs& a) {
  PLEAS_CHECK(out.is_contiguous(), "conv2d (cpu): output must be contiguous, got ", out.str());
  const Tensor x = x_.contiguous(), w = w_.contiguous();
  const Tensor bias = bias_.defined() ? bias_.contiguous() : Tensor();
  const int64_t N = x.size(0), Cin = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Cout = w.size(0), KH = w.size(2), KW = w.size(3), G = a.groups;
  const int64_t Cg = Cin / G, Mg = Cout / G;
  ConvGeom g;
  g.C = Cg; g.H = H; g.W = W; g.KH = KH; g.KW = KW;
  g.OH = out.size(2); g.OW = out.size(3);
  g.sh = a.stride_h; g.sw = a.stride_w; g.ph = a.pad_h; g.pw = a.pad_w;
  g.dh = a.dilation_h; g.dw = a.dilation_w;
  const int64_t K = Cg * KH * KW, P = g.OH * g.OW;
  const bool pointwise = KH == 1 && KW == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  float* op = out.data<float>();

  // One image: for each group, out_g = W_g · col_g (+ bias, preloaded into out_g: sgemm beta = 1).
  auto image = [&](int64_t n, bool parallel) {
    float* col = pointwise ? nullptr : scratch(size_t(K * P));
    for (int64_t gi = 0; gi < G; ++gi) {
      const float* xg = xp + (n * Cin + gi * Cg) * H * W;
      float* og = op + (n * Cout + gi * Mg) * P;
      if (bp || K == 0)
        for (int64_t m = 0; m < Mg; ++m)
          std::fill(og + m * P, og + (m + 1) * P, bp ? bp[gi * Mg + m] : 0.f);
      if (K == 0) continue;
      if (!pointwise) im2col(xg, g, col, P, parallel);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(Mg), int(P), int(K), 1.f,
                  wp + gi * Mg * K, int(K), pointwise ? xg : col, int(P), bp ? 1.f : 0.f, og,
                  int(P));
    }
  };

  // Measured on 2 shared cores (ResNet-18 3x3 layers at batch 8 and 32, CIFAR ResNet-20 at 128):
  // threads over images reached 2x or more the GFLOP/s of one image at a time with OpenBLAS's
  // threads (bench/conv2d.cpp), whose spinning threads also suffer most when cores are busy.
  const int threads = omp_get_max_threads();
  if (threads > 1 && N >= threads) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t n = 0; n < N; ++n) image(n, false);
  } else {
    for (int64_t n = 0; n < N; ++n) image(n, true);
  }
}

void unfold2d(Tensor& out, const Tensor& x_, int kh, int kw, const Conv2dArgs& a) {
  const Tensor x = x_.contiguous();
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  ConvGeom g;
  g.C = C; g.H = H; g.W = W; g.KH = kh; g.KW = kw;
  g.OH = conv_out_size(H, kh, a.stride_h, a.pad_h, a.dilation_h);
  g.OW = conv_out_size(W, kw, a.stride_w, a.pad_w, a.dilation_w);
  g.sh = a.stride_h; g.sw = a.stride_w; g.ph = a.pad_h; g.pw = a.pad_w;
  g.dh = a.dilation_h; g.dw = a.dilation_w;
  // out [N, C·kh·kw, OH·OW], any strides with the last one 1 (unfold2d_rows passes a permuted view).
  PLEAS_CHECK(out.stride(2) == 1 || out.size(2) == 1, "unfold2d (cpu): output rows must be contiguous");
  const int64_t image_stride = out.stride(0), ld = out.stride(1);
  const float* xp = x.data<float>();
  float* op = out.data<float>();
#pragma omp parallel for schedule(static) if (N > 1)
  for (int64_t n = 0; n < N; ++n) im2col(xp + n * C * H * W, g, op + n * image_stride, ld, false);
}

}  // namespace pleas::cpu

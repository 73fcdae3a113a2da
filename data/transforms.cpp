// Resampling as PIL's ImagingResample (BILINEAR) computes it, reimplemented from its description:
// for each output coordinate i of a length-`in` axis resized to `out`,
//   scale = in / out, fs = max(scale, 1), support = 1 * fs,
//   center = (i + 0.5) * scale, taps j in [lo, hi) with lo = int(center - support + 0.5) >= 0,
//   hi = int(center + support + 0.5) <= in, weight_j = tri((j - center + 0.5) / fs),
//   tri(x) = max(0, 1 - |x|), normalised to sum 1, then fixed point k_j = round(weight_j * 2^22).
// Each pass computes out = clamp((2^21 + sum_j k_j * px_j) >> 22, 0, 255): the horizontal pass
// writes 8-bit rows, the vertical pass reads them. An axis whose size does not change is skipped.
#include "data/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace pleas::data {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // 8-bit result, 2 bits of headroom in int32

struct AxisCoeffs {
  int ksize = 0;                // taps per output (upper bound)
  std::vector<int> lo, count;   // first input index and number of taps for each output
  std::vector<int32_t> k;       // out * ksize fixed-point weights
};

// Coefficients of outputs first .. first + count - 1 of a length-`in` axis resized to `out`.
AxisCoeffs axis_coeffs(int in, int out, int first, int count) {
  AxisCoeffs c;
  const double scale = double(in) / out;
  const double fs = std::max(scale, 1.0);
  const double support = 1.0 * fs;  // the triangle filter's support is 1, widened when shrinking
  c.ksize = int(std::ceil(support)) * 2 + 1;
  c.lo.resize(count);
  c.count.resize(count);
  c.k.assign(size_t(count) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  for (int o = 0; o < count; ++o) {
    const int i = first + o;
    const double center = (i + 0.5) * scale;
    const double inv = 1.0 / fs;
    int lo = int(center - support + 0.5);  // C truncation, as PIL
    if (lo < 0) lo = 0;
    int hi = int(center + support + 0.5);
    if (hi > in) hi = in;
    const int n = hi - lo;
    double sum = 0;
    for (int j = 0; j < n; ++j) {
      double x = std::fabs((j + lo - center + 0.5) * inv);
      w[j] = x < 1.0 ? 1.0 - x : 0.0;
      sum += w[j];
    }
    for (int j = 0; j < n; ++j) {
      double v = sum != 0.0 ? w[j] / sum : w[j];
      double f = v * double(1 << kPrecisionBits);
      c.k[size_t(o) * c.ksize + j] = int32_t(v < 0 ? f - 0.5 : f + 0.5);  // round half away from 0
    }
    c.lo[o] = lo;
    c.count[o] = n;
  }
  return c;
}

inline uint8_t clip8(int32_t acc) {
  int32_t v = acc >> kPrecisionBits;
  return uint8_t(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// Rows [row0, row0 + rows) of `src`, resampled along x to `out_w` columns.
void horizontal_pass(const Image& src, int row0, int rows, const AxisCoeffs& c, Image& dst) {
  const int C = src.channels;
  for (int y = 0; y < rows; ++y) {
    const uint8_t* in = src.row(row0 + y);
    uint8_t* o = dst.row(y);
    for (int x = 0; x < dst.width; ++x) {
      const int32_t* k = &c.k[size_t(x) * c.ksize];
      const uint8_t* p = in + size_t(c.lo[x]) * C;
      const int n = c.count[x];
      if (C == 3) {
        int32_t a0 = 1 << (kPrecisionBits - 1), a1 = a0, a2 = a0;
        for (int j = 0; j < n; ++j) {
          a0 += p[3 * j] * k[j];
          a1 += p[3 * j + 1] * k[j];
          a2 += p[3 * j + 2] * k[j];
        }
        o[3 * x] = clip8(a0);
        o[3 * x + 1] = clip8(a1);
        o[3 * x + 2] = clip8(a2);
      } else {
        for (int ch = 0; ch < C; ++ch) {
          int32_t a = 1 << (kPrecisionBits - 1);
          for (int j = 0; j < n; ++j) a += p[C * j + ch] * k[j];
          o[C * x + ch] = clip8(a);
        }
      }
    }
  }
}

// Resamples along y; row r of `src` is input row row0 + r.
void vertical_pass(const Image& src, int row0, const AxisCoeffs& c, Image& dst) {
  const size_t rowlen = size_t(dst.width) * dst.channels;
  std::vector<int32_t> acc(rowlen);
  for (int y = 0; y < dst.height; ++y) {
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    const int32_t* k = &c.k[size_t(y) * c.ksize];
    for (int j = 0; j < c.count[y]; ++j) {
      const uint8_t* in = src.row(c.lo[y] - row0 + j);
      const int32_t kj = k[j];
      for (size_t i = 0; i < rowlen; ++i) acc[i] += in[i] * kj;
    }
    uint8_t* o = dst.row(y);
    for (size_t i = 0; i < rowlen; ++i) o[i] = clip8(acc[i]);
  }
}

// Python's round(d / 2) for an integer d >= 0: half to even.
int half_round_even(int d) {
  int k = d / 2;
  return (d % 2 == 0 || k % 2 == 0) ? k : k + 1;
}

// Offset of the crop window along one axis of length `size` (negative: zero padding first).
int crop_offset(int size, int crop) {
  if (crop > size) return -((crop - size) / 2);  // torchvision pads (crop - size) // 2 before
  return half_round_even(size - crop);
}

}  // namespace

std::pair<int, int> shorter_side_size(int w, int h, int size) {
  PLEAS_CHECK(w > 0 && h > 0 && size > 0, "resize_shorter: bad sizes (image ", w, "x", h, ", size ", size, ")");
  const int shorter = std::min(w, h), longer = std::max(w, h);
  // Python: int(size * long / short); the product is exact, the quotient a correctly rounded double.
  const int out_long = int(double(int64_t(size) * longer) / double(shorter));
  return w <= h ? std::make_pair(size, out_long) : std::make_pair(out_long, size);
}

Image resize_bilinear_window(const Image& img, int out_w, int out_h, int x0, int y0, int w, int h) {
  PLEAS_CHECK(out_w > 0 && out_h > 0 && img.width > 0 && img.height > 0,
              "resize: bad sizes (image ", img.width, "x", img.height, " to ", out_w, "x", out_h, ")");
  PLEAS_CHECK(w > 0 && h > 0 && x0 >= 0 && y0 >= 0 && x0 + w <= out_w && y0 + h <= out_h, "resize: window ",
              w, "x", h, " at (", x0, ", ", y0, ") outside the ", out_w, "x", out_h, " output");
  const int C = img.channels;
  const bool horiz = out_w != img.width, vert = out_h != img.height;
  // Input rows [first, last) that the vertical pass reads.
  AxisCoeffs cy;
  int first = y0, last = y0 + h;
  if (vert) {
    cy = axis_coeffs(img.height, out_h, y0, h);
    first = cy.lo.front();
    last = cy.lo.back() + cy.count.back();  // lo + count is non-decreasing in the output index
  }
  // Horizontal pass (or a plain column copy when the width does not change) of those rows.
  Image tmp(w, last - first, C);
  if (horiz) {
    horizontal_pass(img, first, last - first, axis_coeffs(img.width, out_w, x0, w), tmp);
  } else {
    for (int y = first; y < last; ++y)
      std::memcpy(tmp.row(y - first), img.row(y) + size_t(x0) * C, size_t(w) * C);
  }
  if (!vert) return tmp;
  Image out(w, h, C);
  vertical_pass(tmp, first, cy, out);
  return out;
}

Image resize_bilinear(const Image& img, int out_w, int out_h) {
  if (out_w == img.width && out_h == img.height) return img;
  return resize_bilinear_window(img, out_w, out_h, 0, 0, out_w, out_h);
}

Image resize_shorter(const Image& img, int size) {
  auto [w, h] = shorter_side_size(img.width, img.height, size);
  return resize_bilinear(img, w, h);
}

Image center_crop(const Image& img, int h, int w) {
  PLEAS_CHECK(h > 0 && w > 0, "center_crop: bad crop size ", h, "x", w);
  const int top = crop_offset(img.height, h), left = crop_offset(img.width, w);
  const int C = img.channels;
  Image out(w, h, C);  // zero-filled: padding where the window leaves the image
  // Source columns [left, left + w) clipped to [0, W).
  const int x0 = std::max(0, -left), x1 = std::min(w, img.width - left);
  for (int y = 0; y < h; ++y) {
    const int sy = top + y;
    if (sy < 0 || sy >= img.height || x1 <= x0) continue;
    std::memcpy(out.row(y) + size_t(x0) * C, img.row(sy) + size_t(left + x0) * C, size_t(x1 - x0) * C);
  }
  return out;
}

void normalize_into(const Image& img, const std::array<float, 3>& mean, const std::array<float, 3>& std,
                    float* out) {
  const int C = img.channels;
  PLEAS_CHECK(C == 1 || C == 3, "to_tensor: images have 1 or 3 channels, got ", C);
  // A table per channel of (v / 255 - mean) / std, computed in f32 as torchvision does.
  float lut[3][256];
  for (int c = 0; c < C; ++c)
    for (int v = 0; v < 256; ++v) lut[c][v] = (float(v) / 255.0f - mean[c]) / std[c];
  const size_t hw = size_t(img.width) * img.height;
  const uint8_t* p = img.pixels.data();
  if (C == 3) {
    float *o0 = out, *o1 = out + hw, *o2 = out + 2 * hw;
    for (size_t i = 0; i < hw; ++i) {
      o0[i] = lut[0][p[3 * i]];
      o1[i] = lut[1][p[3 * i + 1]];
      o2[i] = lut[2][p[3 * i + 2]];
    }
  } else {
    for (size_t i = 0; i < hw; ++i) out[i] = lut[0][p[i]];
  }
}

Tensor to_tensor(const Image& img, const std::array<float, 3>& mean, const std::array<float, 3>& std) {
  Tensor t = Tensor::empty({img.channels, img.height, img.width});
  normalize_into(img, mean, std, t.data<float>());
  return t;
}

Image Transform::geometry(Image img) const {
  const bool crop = crop_h > 0 || crop_w > 0;
  PLEAS_CHECK(!crop || (crop_h > 0 && crop_w > 0), "Transform: crop needs both sizes, got ", crop_h, "x", crop_w);
  if (resize > 0) {
    auto [rw, rh] = shorter_side_size(img.width, img.height, resize);
    if (crop && crop_h <= rh && crop_w <= rw)  // resample only the pixels the crop keeps
      return resize_bilinear_window(img, rw, rh, crop_offset(rw, crop_w), crop_offset(rh, crop_h), crop_w, crop_h);
    img = resize_bilinear(img, rw, rh);
  }
  return crop ? center_crop(img, crop_h, crop_w) : img;
}

Tensor Transform::operator()(const Image& img) const {
  return to_tensor(geometry(img), mean, std);
}

}  // namespace pleas::data

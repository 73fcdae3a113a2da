// CPU softmax over any dim, numerically stable: y = exp(x - max) / Σ exp(x - max), the sum in
// double. The input is viewed as [outer, D, inner] (kernels/common/row_index.h); for inner = 1
// each row is contiguous, otherwise a chunk of up to kChunk adjacent rows is processed together so
// that the inner loops run over contiguous memory.
#include <math.h>

#include <algorithm>
#include <limits>

#include "kernels/backend_ops.h"
#include "kernels/common/row_index.h"

// glibc's libmvec (x86-64, glibc >= 2.22) has vector expf; <math.h> declares it `simd` only under
// -ffast-math, so declare it here to let GCC vectorise the exp loops.
#if defined(__x86_64__) && defined(__GLIBC__) && !defined(__clang__) && !defined(__FAST_MATH__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 22))
extern "C" float expf(float) noexcept __attribute__((simd("notinbranch")));
#endif

namespace pleas::cpu {

namespace {
constexpr int64_t kChunk = 256;

void softmax_rows(float* y, const float* x, const RowLayout& L) {
  const int64_t D = L.D;
#pragma omp parallel for schedule(static) if (L.rows() * D > (1 << 15))
  for (int64_t r = 0; r < L.rows(); ++r) {
    const float* xr = x + row_base(r, D, 1);
    float* yr = y + row_base(r, D, 1);
    float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < D; ++j) mx = std::max(mx, xr[j]);
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < D; ++j) {
      const float e = expf(xr[j] - mx);
      yr[j] = e;
      s += e;
    }
    const float inv = float(1.0 / s);
    for (int64_t j = 0; j < D; ++j) yr[j] *= inv;
  }
}

void softmax_strided_rows(float* y, const float* x, const RowLayout& L) {
  const int64_t D = L.D, inner = L.inner;
  const int64_t chunks = (inner + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (L.rows() * D > (1 << 15))
  for (int64_t t = 0; t < L.outer * chunks; ++t) {
    const int64_t o = t / chunks, j0 = (t % chunks) * kChunk, len = std::min(kChunk, inner - j0);
    const int64_t base = row_base(o * inner + j0, D, inner);  // rows j0 .. j0+len-1 of block o
    float mx[kChunk];
    double s[kChunk];
    for (int64_t j = 0; j < len; ++j) { mx[j] = -std::numeric_limits<float>::infinity(); s[j] = 0; }
    for (int64_t d = 0; d < D; ++d) {
      const float* xr = x + base + d * inner;
      for (int64_t j = 0; j < len; ++j) mx[j] = std::max(mx[j], xr[j]);
    }
    for (int64_t d = 0; d < D; ++d) {
      const float* xr = x + base + d * inner;
      float* yr = y + base + d * inner;
#pragma omp simd
      for (int64_t j = 0; j < len; ++j) {
        const float e = expf(xr[j] - mx[j]);
        yr[j] = e;
        s[j] += e;
      }
    }
    float inv[kChunk];
    for (int64_t j = 0; j < len; ++j) inv[j] = float(1.0 / s[j]);
    for (int64_t d = 0; d < D; ++d) {
      float* yr = y + base + d * inner;
      for (int64_t j = 0; j < len; ++j) yr[j] *= inv[j];
    }
  }
}
}  // namespace

void softmax(Tensor& y, const Tensor& x, int dim) {
  if (x.numel() == 0) return;
  const Tensor xc = x.contiguous();
  const RowLayout L = row_layout(x.shape().data(), x.dim(), dim);
  if (L.inner == 1) softmax_rows(y.data<float>(), xc.data<float>(), L);
  else softmax_strided_rows(y.data<float>(), xc.data<float>(), L);
}

}  // namespace pleas::cpu

// CPU relu and gelu (scalar math in kernels/common/pointwise_index.h, shared with CUDA).
#include "kernels/backend_ops.h"
#include "kernels/common/meta.h"
#include "kernels/common/pointwise_index.h"

// glibc's libmvec (x86-64, glibc >= 2.35) has vector erff; <math.h> declares it `simd` only under
// -ffast-math, so declare it here to let GCC vectorise the gelu loop (about 5x faster).
#if defined(__x86_64__) && defined(__GLIBC__) && !defined(__clang__) && !defined(__FAST_MATH__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
extern "C" float erff(float) noexcept __attribute__((simd("notinbranch")));
extern "C" float expf(float) noexcept __attribute__((simd("notinbranch")));
#endif

namespace pleas::cpu {

namespace {
constexpr int64_t kParallelMin = 1 << 15;

// y = f(x) elementwise; y may alias x (relu_), either may be strided.
template <typename F>
void unary(Tensor& y, const Tensor& x, F f) {
  const int64_t n = y.numel();
  if (n == 0) return;
  float* yp = static_cast<float*>(y.data_ptr());
  const float* xp = static_cast<const float*>(x.data_ptr());
  if (y.is_contiguous() && x.is_contiguous()) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) yp[i] = f(xp[i]);
    return;
  }
  // Rows along the innermost coalesced dim; one strided_offset per row, not per element.
  StridedMeta m[2] = {strided_meta(y), strided_meta(x)};
  coalesce_dims(m, 2);
  const int nd = m[0].ndim;
  const int64_t inner = nd ? m[0].shape[nd - 1] : 1;
  const int64_t ys = nd ? m[0].stride[nd - 1] : 1, xs = nd ? m[1].stride[nd - 1] : 1;
  const int64_t rows = n / inner;
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    float* yr = yp + strided_offset(m[0], r * inner);
    const float* xr = xp + strided_offset(m[1], r * inner);
    for (int64_t j = 0; j < inner; ++j) yr[j * ys] = f(xr[j * xs]);
  }
}
}  // namespace

void relu(Tensor& y, const Tensor& x) {
  unary(y, x, [](float v) { return relu_f(v); });
}

void gelu(Tensor& y, const Tensor& x) {
  unary(y, x, [](float v) { return gelu_f(v); });
}

void gelu_tanh(Tensor& y, const Tensor& x) {
  unary(y, x, [](float v) { return gelu_tanh_f(v); });
}

}  // namespace pleas::cpu

// CPU strided copy with dtype conversion, and fill.
#include <cstring>

#include "kernels/backend_ops.h"
#include "kernels/common/elem.h"
#include "kernels/common/meta.h"

namespace pleas::cpu {

void copy_strided(Tensor& dst, const Tensor& src) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  const bool same = dst.dtype() == src.dtype();
  if (same && dst.is_contiguous() && src.is_contiguous()) {
    std::memcpy(dst.data_ptr(), src.data_ptr(), dst.nbytes());
    return;
  }
  // Rows along the last dim; offsets of each row start from the strided index of its first element.
  const StridedMeta dm = strided_meta(dst), sm = strided_meta(src);
  const int64_t inner = dst.dim() ? dst.shape().back() : 1;
  const int64_t ds = dst.dim() ? dst.strides().back() : 1, ss = src.dim() ? src.strides().back() : 1;
  const int64_t rows = n / inner;
  void* dp = dst.data_ptr();
  const void* sp = src.data_ptr();
  const DType dt = dst.dtype(), st = src.dtype();
  const int esize = int(dtype_size(dt));
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    int64_t d0 = strided_offset(dm, r * inner), s0 = strided_offset(sm, r * inner);
    if (same) {
      for (int64_t j = 0; j < inner; ++j) copy_bytes(dp, d0 + j * ds, sp, s0 + j * ss, esize);
    } else if (dt == DType::f32 && st == DType::f64) {
      float* d = static_cast<float*>(dp);
      const double* s = static_cast<const double*>(sp);
      for (int64_t j = 0; j < inner; ++j) d[d0 + j * ds] = float(s[s0 + j * ss]);
    } else if (dt == DType::f64 && st == DType::f32) {
      double* d = static_cast<double*>(dp);
      const float* s = static_cast<const float*>(sp);
      for (int64_t j = 0; j < inner; ++j) d[d0 + j * ds] = s[s0 + j * ss];
    } else {
      for (int64_t j = 0; j < inner; ++j) store_elem(dp, dt, d0 + j * ds, load_elem(sp, st, s0 + j * ss));
    }
  }
}

void fill(Tensor& dst, double value) {
  const int64_t n = dst.numel();
  const StridedMeta m = strided_meta(dst);
  void* p = dst.data_ptr();
  const DType t = dst.dtype();
  const bool contig = dst.is_contiguous();
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) store_elem(p, t, contig ? i : strided_offset(m, i), value);
}

}  // namespace pleas::cpu

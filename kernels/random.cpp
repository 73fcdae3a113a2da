// fill_uniform_, fill_normal_, rand_uniform, rand_normal: argument checks and dispatch.
// Values depend only on (seed, row-major position) (kernels/common/philox.h); a non-contiguous
// tensor is filled through a contiguous temporary, so its element at logical position i gets the
// same value as a contiguous tensor would.
#include <cmath>

#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace pleas {

namespace {
void check_float(const char* op, const Tensor& t) {
  check_defined(op, t, "tensor");
  PLEAS_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64, op,
              ": tensor must be f32 or f64, got ", t.str());
}

// Runs fill(c) on t itself when contiguous, else on a contiguous temporary copied into t.
template <typename F>
void fill_contiguous(Tensor& t, F fill) {
  if (t.numel() == 0) return;
  if (t.is_contiguous()) { fill(t); return; }
  Tensor c = Tensor::empty(t.shape(), t.dtype(), t.device());
  fill(c);
  t.copy_(c);
}
}  // namespace

void fill_uniform_(Tensor& t, uint64_t seed, double lo, double hi) {
  check_float("fill_uniform_", t);
  PLEAS_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi,
              "fill_uniform_: need finite lo <= hi, got [", lo, ", ", hi, ")");
  fill_contiguous(t, [&](Tensor& c) { PLEAS_DISPATCH(c, fill_uniform, c, seed, lo, hi); });
}

void fill_normal_(Tensor& t, uint64_t seed, double mean, double stddev) {
  check_float("fill_normal_", t);
  PLEAS_CHECK(std::isfinite(mean) && std::isfinite(stddev) && stddev >= 0,
              "fill_normal_: need a finite mean and std >= 0, got mean ", mean, ", std ", stddev);
  fill_contiguous(t, [&](Tensor& c) { PLEAS_DISPATCH(c, fill_normal, c, seed, mean, stddev); });
}

Tensor rand_uniform(const Shape& s, uint64_t seed, double lo, double hi, Device dev) {
  Tensor t = Tensor::empty(s, DType::f32, dev);
  fill_uniform_(t, seed, lo, hi);
  return t;
}

Tensor rand_normal(const Shape& s, uint64_t seed, double mean, double stddev, Device dev) {
  Tensor t = Tensor::empty(s, DType::f32, dev);
  fill_normal_(t, seed, mean, stddev);
  return t;
}

}  // namespace pleas

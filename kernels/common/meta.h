// Host-side helpers of the kernels: StridedMeta from a tensor; dtype dispatch of accumulators.
#pragma once
#include "engine/tensor.h"
#include "kernels/common/strided.h"

namespace pleas {

inline StridedMeta strided_meta(const Tensor& t) {
  StridedMeta m;
  PLEAS_CHECK(t.dim() <= kMaxDims, "strided kernel: at most ", kMaxDims, " dims, got ", t.str());
  m.ndim = t.dim();
  for (int i = 0; i < m.ndim; ++i) { m.shape[i] = t.shape()[i]; m.stride[i] = t.strides()[i]; }
  return m;
}

// Calls f(A{}, X{}) with the element types of an accumulator and its addend (add_into's three
// combinations: f64 += f64, f64 += f32, f32 += f32), so both backends instantiate the same set.
template <typename F>
void with_accumulate_types(const Tensor& acc, const Tensor& x, F f) {
  if (acc.dtype() == DType::f64) {
    if (x.dtype() == DType::f64) f(double{}, double{});
    else f(double{}, float{});
  } else {
    f(float{}, float{});
  }
}

}  // namespace pleas

// CUDA im2col Gram of a convolution's input: the library route (unfold2d_rows, then cuBLAS syrk
// through gram_accumulate) — on the GPU the direct SYRK is already at the library's peak, so the
// shift-structured form of kernels/cpu/conv_gram.cpp is not needed there. unfold2d is f32: an f64
// input is unfolded in f32 (its Gram is still accumulated in G's dtype).
#include "kernels/backend_ops.h"
#include "kernels/ops.h"

namespace pleas::cuda {

void conv_gram_accumulate(Tensor& G, const Tensor& x, int kh, int kw, const Conv2dArgs& args) {
  const Tensor rows = pleas::unfold2d_rows(x.dtype() == DType::f32 ? x : x.to(DType::f32), kh, kw, args);
  pleas::gram_accumulate(G, rows.transpose(0, 1));  // the dispatching op (a device tensor: cuda::gram_accumulate)
}

void conv_cross_accumulate(Tensor& C, const Tensor& x, const Tensor& y, int kh, int kw, const Conv2dArgs& args) {
  const Tensor rows = pleas::unfold2d_rows(x.dtype() == DType::f32 ? x : x.to(DType::f32), kh, kw, args);
  const int64_t P = y.size(1);
  const Tensor yr = y.reshape({y.size(0), P, -1}).permute({0, 2, 1}).reshape({-1, P});  // [M, P] rows (n, oh, ow)
  pleas::cross_accumulate(C, rows.transpose(0, 1), yr);
}

}  // namespace pleas::cuda

// Backend kernel entry points. Each family declares the same functions in namespace pleas::cpu
// (kernels/cpu/<family>.cpp) and pleas::cuda (kernels/cuda/<family>.cu; kernels/stub/cuda_stub.cpp
// in a build without CUDA). The dispatcher (kernels/<family>.cpp) has already validated shapes,
// dtypes and devices and allocated every output; kernels write into `out` and accept any strides
// of the inputs unless noted.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "kernels/op_args.h"

#define PLEAS_BACKEND_DECLS                                                                     \
  /* copy: dst and src same shape and device, any dtypes and strides */                        \
  void copy_strided(Tensor& dst, const Tensor& src);                                           \
  void fill(Tensor& dst, double value);                                                        \
  void conv2d(Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias,               \
              const Conv2dArgs& args);                                                         \
  /* out [N, C*KH*KW, OH*OW] contiguous */                                                    \
  void unfold2d(Tensor& out, const Tensor& x, int kh, int kw, const Conv2dArgs& args);          \
  void batch_norm(Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias,        \
                  const Tensor& mean, const Tensor& var, double eps);                          \
  void batch_channel_stats(Tensor& mean, Tensor& var, const Tensor& x);                        \
  void scale_shift(Tensor& y, const Tensor& x, const Tensor& scale, const Tensor& shift);      \
  void relu(Tensor& y, const Tensor& x);                                                       \
  void gelu(Tensor& y, const Tensor& x);                                                       \
  void gelu_tanh(Tensor& y, const Tensor& x);                                                  \
  /* a and b already expanded (stride-0 views) to out's shape */                               \
  void binary(Tensor& out, const Tensor& a, const Tensor& b, BinaryOp op);                     \
  void max_pool2d(Tensor& out, const Tensor& x, const Pool2dArgs& args);                       \
  void avg_pool2d(Tensor& out, const Tensor& x, const Pool2dArgs& args);                       \
  void global_avg_pool2d(Tensor& out, const Tensor& x);                                        \
  /* out [M,N] = x [M,K] · w[N,K]ᵀ + bias; out contiguous */                                   \
  void linear(Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias);              \
  void matmul(Tensor& out, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);      \
  void bmm(Tensor& out, const Tensor& a, const Tensor& b);                                     \
  void layer_norm(Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias,        \
                  double eps);                                                                 \
  void softmax(Tensor& y, const Tensor& x, int dim);                                           \
  void index_select(Tensor& out, const Tensor& x, int dim, const Tensor& index);               \
  void index_copy(Tensor& dst, int dim, const Tensor& index, const Tensor& src);               \
  /* out [outer, M, inner] = wa·a(o, ia, r) + wb·b(o, ib, r); a, b contiguous f32 */              \
  void gather_mix(Tensor& out, const Tensor& a, const Tensor& b, int dim, const Tensor& ia,      \
                  const Tensor& ib, const Tensor& wa, const Tensor& wb);                       \
  void reduce(Tensor& out, const Tensor& x, const std::vector<int>& dims, ReduceOp op);        \
  void gram_accumulate(Tensor& G, const Tensor& X);                                            \
  void cross_accumulate(Tensor& C, const Tensor& X, const Tensor& Y);                          \
  /* acc [R,C] (any strides, f32/f64) += x [R,C] (any strides, f32/f64), in acc's precision */ \
  void add_into(Tensor& acc, const Tensor& x);                                                 \
  /* G [C·KH·KW]² += UᵀU, U the im2col rows of x [N,C,H,W] (x contiguous, G's dtype) */         \
  void conv_gram_accumulate(Tensor& G, const Tensor& x, int kh, int kw, const Conv2dArgs& args); \
  /* C [C·KH·KW, P] += UᵀY, Y the rows (n, oh, ow) of y [N,P,OH,OW] (contiguous, C's dtype) */  \
  void conv_cross_accumulate(Tensor& C, const Tensor& x, const Tensor& y, int kh, int kw,      \
                             const Conv2dArgs& args);                                          \
  /* X = (A + ridge I)^-1 B; returns 0 or the 1-based index of the failing Cholesky pivot */   \
  int64_t spd_solve(Tensor& X, const Tensor& A, const Tensor& B, double ridge);                \
  void fill_uniform(Tensor& t, uint64_t seed, double lo, double hi);                           \
  void fill_normal(Tensor& t, uint64_t seed, double mean, double std);

namespace pleas {
namespace cpu { PLEAS_BACKEND_DECLS }
namespace cuda { PLEAS_BACKEND_DECLS }
}  // namespace pleas

// The engine's op API. Every op validates its arguments (shape, dtype, device: the error names the
// op and the offending shapes), allocates its output on the inputs' device and dispatches to the
// CPU kernel (kernels/cpu/<family>.cpp) or the CUDA kernel (kernels/cuda/<family>.cu).
// Float ops compute in f32 unless stated; "x" is NCHW unless stated (any strides are accepted).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "kernels/op_args.h"

namespace pleas {

// ---- conv2d (kernels/*/conv2d) ----
// x [N,Cin,H,W], w [Cout,Cin/groups,KH,KW], bias [Cout] or undefined -> [N,Cout,OH,OW].
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dArgs& args);

// unfold2d (im2col): x [N,C,H,W] -> [N, C·KH·KW, OH·OW] with row r = (c·KH + kh)·KW + kw, the
// matrix whose product with a [Cout, C·KH·KW] weight is the convolution (groups = 1). Used to
// accumulate the normal equations of a convolution's least-squares fit.
Tensor unfold2d(const Tensor& x, int kernel_h, int kernel_w, const Conv2dArgs& args);
// The same columns as one matrix [C·KH·KW, N·OH·OW] (column n·OH·OW + p: image n, position p), so
// that the im2col Gram Σₙ colₙ colₙᵀ of a whole batch is one SYRK over it with no transpose copy.
Tensor unfold2d_rows(const Tensor& x, int kernel_h, int kernel_w, const Conv2dArgs& args);
// unfold2d_rows into dst [C·KH·KW, N·OH·OW] (contiguous, e.g. the first rows of a larger buffer
// whose other rows hold the layer's targets: one SYRK then gives XᵀX and XᵀY together).
void unfold2d_rows_into(Tensor& dst, const Tensor& x, int kernel_h, int kernel_w, const Conv2dArgs& args);

// ---- batch_norm (kernels/*/batch_norm) ----
// Inference form: y = (x - mean) / sqrt(var + eps) * weight + bias, per channel (dim 1), x [N,C,...].
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& mean,
                  const Tensor& var, double eps);
// Per-channel statistics of a batch, over all dims but 1: mean and biased (population) variance,
// as f64 [C] tensors (accumulated in f64) so that callers can average them exactly over batches.
struct ChannelStats { Tensor mean, var; int64_t count = 0; };  // count = elements per channel
ChannelStats batch_channel_stats(const Tensor& x);
// y = x * scale[c] + shift[c] over channel dim 1.
Tensor scale_shift(const Tensor& x, const Tensor& scale, const Tensor& shift);

// ---- activation (kernels/*/activation) ----
Tensor relu(const Tensor& x);
void relu_(Tensor& x);                 // in place
Tensor gelu(const Tensor& x);          // x * 0.5 * (1 + erf(x / sqrt(2)))
Tensor gelu_tanh(const Tensor& x);     // x * 0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))

// ---- elementwise (kernels/*/elementwise) ----
// NumPy broadcasting; output dtype f32 (inputs f32).
Tensor binary(const Tensor& a, const Tensor& b, BinaryOp op);
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
void add_(Tensor& a, const Tensor& b);  // a += b (b broadcast to a's shape)
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// ---- pooling (kernels/*/pooling) ----
Tensor max_pool2d(const Tensor& x, const Pool2dArgs& args);
Tensor avg_pool2d(const Tensor& x, const Pool2dArgs& args);
Tensor global_avg_pool2d(const Tensor& x);  // [N,C,H,W] -> [N,C]

// ---- matmul (kernels/*/matmul) ----
// linear: x [..., in], w [out, in], bias [out] or undefined -> [..., out] = x wᵀ + b.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias);
// matmul: a [m,k] (or [k,m] with trans_a), b [k,n] (or [n,k] with trans_b) -> [m,n].
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
// bmm: a [B,m,k], b [B,k,n] -> [B,m,n].
Tensor bmm(const Tensor& a, const Tensor& b);

// ---- layer_norm (kernels/*/layer_norm) ----
// Normalises over the last dim: (x - mean) / sqrt(var + eps) * weight + bias (weight/bias [D]).
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);

// ---- softmax (kernels/*/softmax) ----
Tensor softmax(const Tensor& x, int dim);

// ---- index (kernels/*/index): permutations and merges of channels ----
// out.select(dim, i) = x.select(dim, index[i]); index i64 [M] -> size M along dim.
Tensor index_select(const Tensor& x, int dim, const Tensor& index);
// dst.select(dim, index[i]) = src.select(dim, i) for every i (in place).
void index_copy_(Tensor& dst, int dim, const Tensor& index, const Tensor& src);
// Two tensors' channels gathered and mixed in one pass (the merged layout of two parents'
// activations): out.select(dim, i) = wa[i]·a.select(dim, ia[i]) + wb[i]·b.select(dim, ib[i]).
// a, b f32 of the same shape; ia, ib i64/i32 [M]; wa, wb f32 [M] -> size M along dim.
Tensor gather_mix(const Tensor& a, const Tensor& b, int dim, const Tensor& ia, const Tensor& ib, const Tensor& wa,
                  const Tensor& wb);
// A new tensor of size `size` along dim, zero except dst.select(dim, index[i]) = src.select(dim, i).
Tensor index_scatter(const Tensor& src, int dim, const Tensor& index, int64_t size);
Tensor cat(const std::vector<Tensor>& xs, int dim);

// ---- reduce (kernels/*/reduce) ----
// Reduce over `dims` (empty = all dims). f32 in, f32 out (accumulated in f64 on CPU).
Tensor reduce(const Tensor& x, const std::vector<int>& dims, ReduceOp op, bool keepdim = false);
Tensor sum(const Tensor& x, const std::vector<int>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int>& dims = {}, bool keepdim = false);
Tensor amax(const Tensor& x, const std::vector<int>& dims = {}, bool keepdim = false);

// ---- gram (kernels/*/gram): normal equations of least squares ----
// G [k,k] += Xᵀ X for X [n,k]; C [k,m] += Xᵀ Y for Y [n,m]. G/C are f32 or f64; X/Y f32 or f64
// (converted to G's dtype). Both triangles of G are written.
void gram_accumulate(Tensor& G, const Tensor& X);
void cross_accumulate(Tensor& C, const Tensor& X, const Tensor& Y);
// acc += x for 1-D or 2-D tensors of the same shape and device, any strides (e.g. a block of a
// larger accumulator), x converted to acc's dtype (f32 products summed into f64 accumulators).
void add_into(Tensor& acc, const Tensor& x);

// ---- conv_gram (kernels/*/conv_gram): the im2col Gram of a convolution's input ----
// G [C·KH·KW, C·KH·KW] += UᵀU for U = unfold2d_rows(x)ᵀ (x [N,C,H,W], any stride, padding and
// dilation; groups 1), without forming U: on the CPU from the shift structure (blocks of kernel
// offsets with the same phase and shift difference share their sums; ~3x fewer multiply-adds
// for 3x3 stride-1 layers), on CUDA by unfold + SYRK. G f32 or f64 (x converted to it); both
// triangles written. The same sums as gram_accumulate(G, U) regrouped: equal up to rounding.
void conv_gram_accumulate(Tensor& G, const Tensor& x, int kernel_h, int kernel_w, const Conv2dArgs& args);
// C [C·KH·KW, P] += UᵀY for y [N,P,OH,OW] the convolution's outputs (targets), Y their rows
// (n, oh, ow): on the CPU one GEMM per kernel offset and output row over the phase image, no U.
void conv_cross_accumulate(Tensor& C, const Tensor& x, const Tensor& y, int kernel_h, int kernel_w,
                           const Conv2dArgs& args);

// ---- solve (kernels/*/solve) ----
// Solves (A + ridge·I) X = B for symmetric positive-definite A [n,n], B [n,m] (f32 or f64) by
// Cholesky. A matrix that is not positive definite raises pleas::Error naming the failing pivot.
Tensor spd_solve(const Tensor& A, const Tensor& B, double ridge);

// ---- random (kernels/*/random): counter-based Philox4x32-10 ----
// Element i of the (contiguous) tensor depends only on (seed, i): the same seed gives the same
// values on every run and on CPU and CUDA alike.
void fill_uniform_(Tensor& t, uint64_t seed, double lo = 0.0, double hi = 1.0);
void fill_normal_(Tensor& t, uint64_t seed, double mean = 0.0, double std = 1.0);
Tensor rand_uniform(const Shape& s, uint64_t seed, double lo = 0.0, double hi = 1.0,
                    Device dev = Device::cpu());
Tensor rand_normal(const Shape& s, uint64_t seed, double mean = 0.0, double std = 1.0,
                   Device dev = Device::cpu());

}  // namespace pleas

// CUDA conv2d through cuDNN's convolution API: y = conv(x, w) (cross-correlation, as PyTorch),
// then y += bias (cudnnAddTensor, bias broadcast as [1,Cout,1,1]). No TF32 unless ctx.allow_tf32
// (CUDNN_FMA_MATH), so results match the CPU oracle to f32 rounding. The algorithm comes from
// cuDNN's heuristics (cudnnGetConvolutionForwardAlgorithm_v7) and is cached per shape.
#include <map>
#include <mutex>
#include <tuple>

#include "kernels/backend_ops.h"
#include "kernels/common/conv_index.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"

namespace pleas::cuda {

namespace {

// RAII wrappers of the cuDNN descriptors used here.
struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  TensorDesc(int n, int c, int h, int w) {
    PLEAS_CUDA_CHECK(cudnnCreateTensorDescriptor(&d));
    PLEAS_CUDA_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w));
  }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
};
struct FilterDesc {
  cudnnFilterDescriptor_t d = nullptr;
  FilterDesc(int k, int c, int h, int w) {
    PLEAS_CUDA_CHECK(cudnnCreateFilterDescriptor(&d));
    PLEAS_CUDA_CHECK(cudnnSetFilter4dDescriptor(d, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, k, c, h, w));
  }
  ~FilterDesc() { cudnnDestroyFilterDescriptor(d); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
};
struct ConvDesc {
  cudnnConvolutionDescriptor_t d = nullptr;
  explicit ConvDesc(const Conv2dArgs& a) {
    PLEAS_CUDA_CHECK(cudnnCreateConvolutionDescriptor(&d));
    PLEAS_CUDA_CHECK(cudnnSetConvolution2dDescriptor(d, a.pad_h, a.pad_w, a.stride_h, a.stride_w,
                                                     a.dilation_h, a.dilation_w,
                                                     CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    PLEAS_CUDA_CHECK(cudnnSetConvolutionGroupCount(d, a.groups));
  }
  ~ConvDesc() { cudnnDestroyConvolutionDescriptor(d); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
};

// Cached choice per (device, shapes, args, tf32).
using AlgoKey = std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                           int64_t, int, int, int, int, int, int, int, bool>;
struct AlgoChoice {
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  cudnnMathType_t math = CUDNN_FMA_MATH;
  size_t workspace = 0;
};
std::mutex g_algo_mu;
std::map<AlgoKey, AlgoChoice> g_algos;

// Largest workspace an algorithm may ask for; beyond it the next-ranked algorithm is taken.
constexpr size_t kMaxWorkspace = size_t(1) << 30;

AlgoChoice choose_algo(Context& c, const TensorDesc& xd, const FilterDesc& wd, const ConvDesc& cd,
                       const TensorDesc& yd) {
  constexpr int kMax = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
  cudnnConvolutionFwdAlgoPerf_t perf[kMax];
  int returned = 0;
  PLEAS_CUDA_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(c.cudnn, xd.d, wd.d, cd.d, yd.d, kMax,
                                                          &returned, perf));
  for (int i = 0; i < returned; ++i) {
    const auto& p = perf[i];
    if (p.status != CUDNN_STATUS_SUCCESS || p.memory > kMaxWorkspace) continue;
    // Without TF32 the descriptor stays CUDNN_FMA_MATH, which no tensor-op algorithm satisfies.
    if (!c.allow_tf32 && p.mathType != CUDNN_FMA_MATH && p.mathType != CUDNN_DEFAULT_MATH) continue;
    AlgoChoice a;
    a.algo = p.algo;
    a.math = c.allow_tf32 ? p.mathType : CUDNN_FMA_MATH;
    a.workspace = p.memory;
    return a;
  }
  return AlgoChoice{};  // implicit GEMM: supported for every configuration, no workspace
}

}  // namespace

void conv2d(Tensor& out, const Tensor& x_, const Tensor& w_, const Tensor& bias_,
            const Conv2dArgs& a) {
  PLEAS_CHECK(out.is_contiguous(), "conv2d (cuda): output must be contiguous, got ", out.str());
  auto& c = context(out);
  const Tensor x = x_.contiguous(), w = w_.contiguous();
  const int N = int(x.size(0)), Cin = int(x.size(1)), H = int(x.size(2)), W = int(x.size(3));
  const int Cout = int(w.size(0)), Cg = int(w.size(1)), KH = int(w.size(2)), KW = int(w.size(3));
  TensorDesc xd(N, Cin, H, W), yd(N, Cout, int(out.size(2)), int(out.size(3)));
  FilterDesc wd(Cout, Cg, KH, KW);
  ConvDesc cd(a);
  PLEAS_CUDA_CHECK(cudnnSetConvolutionMathType(cd.d, c.allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));

  const AlgoKey key{c.device, N, Cin, H, W, Cout, Cg, KH, KW, a.stride_h, a.stride_w, a.pad_h,
                    a.pad_w, a.dilation_h, a.dilation_w, a.groups, c.allow_tf32};
  AlgoChoice choice;
  {
    std::lock_guard<std::mutex> lock(g_algo_mu);
    auto it = g_algos.find(key);
    if (it == g_algos.end()) it = g_algos.emplace(key, choose_algo(c, xd, wd, cd, yd)).first;
    choice = it->second;
  }
  PLEAS_CUDA_CHECK(cudnnSetConvolutionMathType(cd.d, choice.math));
  size_t ws_bytes = 0;
  PLEAS_CUDA_CHECK(cudnnGetConvolutionForwardWorkspaceSize(c.cudnn, xd.d, wd.d, cd.d, yd.d,
                                                           choice.algo, &ws_bytes));
  void* ws = ws_bytes ? c.workspace(ws_bytes) : nullptr;
  const float one = 1.f, zero = 0.f;
  PLEAS_CUDA_CHECK(cudnnConvolutionForward(c.cudnn, &one, xd.d, x.data_ptr(), wd.d, w.data_ptr(),
                                           cd.d, choice.algo, ws, ws_bytes, &zero, yd.d,
                                           out.data_ptr()));
  if (bias_.defined()) {
    const Tensor b = bias_.contiguous();
    TensorDesc bd(1, Cout, 1, 1);
    PLEAS_CUDA_CHECK(cudnnAddTensor(c.cudnn, &one, bd.d, b.data_ptr(), &one, yd.d, out.data_ptr()));
  }
}

namespace {
// One thread per column entry: out[n, r, p] (at n·sn + r·sr + p) = x[n] at im2col_src_offset(r, p),
// or 0 in padding.
__global__ void unfold_kernel(const float* x, ConvGeom g, int64_t N, int64_t sn, int64_t sr, float* out) {
  const int64_t rows = g.C * g.KH * g.KW, P = g.OH * g.OW, per = rows * P, total = N * per;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i / per, r = (i % per) / P, p = i % P;
    const int64_t off = im2col_src_offset(g, r, p);
    out[n * sn + r * sr + p] = off < 0 ? 0.f : x[n * g.C * g.H * g.W + off];
  }
}
}  // namespace

void unfold2d(Tensor& out, const Tensor& x_, int kh, int kw, const Conv2dArgs& a) {
  const Tensor x = x_.contiguous();
  ConvGeom g;
  g.C = x.size(1); g.H = x.size(2); g.W = x.size(3); g.KH = kh; g.KW = kw;
  g.OH = conv_out_size(g.H, kh, a.stride_h, a.pad_h, a.dilation_h);
  g.OW = conv_out_size(g.W, kw, a.stride_w, a.pad_w, a.dilation_w);
  g.sh = a.stride_h; g.sw = a.stride_w; g.ph = a.pad_h; g.pw = a.pad_w;
  g.dh = a.dilation_h; g.dw = a.dilation_w;
  auto& c = context(x);
  const int64_t total = out.numel();
  if (total == 0) return;
  PLEAS_CHECK(out.stride(2) == 1 || out.size(2) == 1, "unfold2d (cuda): output rows must be contiguous");
  unfold_kernel<<<grid_for(total), kBlock, 0, c.stream>>>(x.data<float>(), g, x.size(0), out.stride(0), out.stride(1),
                                                          out.data<float>());
  PLEAS_KERNEL_CHECK();
}

}  // namespace pleas::cuda

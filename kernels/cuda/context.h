// Per-device CUDA context: the stream every op runs on, the cuBLAS, cuDNN and cuSOLVER handles
// bound to it, a growable workspace, and the caching allocator.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <cusolverDn.h>

#include <cstdint>

#include "engine/caching_allocator.h"
#include "engine/tensor.h"

namespace pleas::cuda {

struct Context {
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cusolverDnHandle_t cusolver = nullptr;
  CachingAllocator* allocator = nullptr;
  bool allow_tf32 = false;  // off: results match the CPU oracle to f32 rounding
  void* workspace(size_t bytes);  // grows (stream-ordered) as needed; valid until the next call
  size_t workspace_bytes = 0;
  void* workspace_ptr = nullptr;
};

// The context of `device` (created on first use); makes `device` current on this thread.
Context& context(int device);
inline Context& context(const Tensor& t) { return context(t.device().index); }

// Launch geometry for a 1-D grid-stride loop over n elements.
constexpr int kBlock = 256;
inline unsigned grid_for(int64_t n, int block = kBlock) {
  int64_t g = (n + block - 1) / block;
  if (g > 65535LL * 32) g = 65535LL * 32;
  return unsigned(g < 1 ? 1 : g);
}

}  // namespace pleas::cuda

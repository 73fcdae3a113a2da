// CUDA runtime: device discovery, contexts, allocation and transfers (engine/cuda_backend.h).
#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/cuda_backend.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"

namespace pleas::cuda {

namespace {
std::mutex g_mu;
std::vector<std::unique_ptr<Context>> g_contexts;
std::vector<std::unique_ptr<CachingAllocator>> g_allocators;

CachingAllocator& allocator(int device) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (int(g_allocators.size()) <= device) g_allocators.resize(device + 1);
  auto& a = g_allocators[device];
  if (!a) {
    a = std::make_unique<CachingAllocator>(
        [device](size_t n) -> void* {
          void* p = nullptr;
          PLEAS_CUDA_CHECK(cudaSetDevice(device));
          if (cudaMalloc(&p, n) != cudaSuccess) { (void)cudaGetLastError(); return nullptr; }
          return p;
        },
        [device](void* p) { cudaSetDevice(device); cudaFree(p); });
  }
  return *a;
}
}  // namespace

Context& context(int device) {
  int n = pleas::cudab::device_count();
  PLEAS_CHECK(n > 0, "cuda: no CUDA device is available");
  PLEAS_CHECK(device >= 0 && device < n, "cuda: device ", device, " does not exist (", n, " present)");
  PLEAS_CUDA_CHECK(cudaSetDevice(device));
  CachingAllocator* alloc = &allocator(device);
  std::lock_guard<std::mutex> lock(g_mu);
  if (int(g_contexts.size()) <= device) g_contexts.resize(device + 1);
  auto& c = g_contexts[device];
  if (!c) {
    auto ctx = std::make_unique<Context>();
    ctx->device = device;
    ctx->allocator = alloc;
    PLEAS_CUDA_CHECK(cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking));
    PLEAS_CUDA_CHECK(cublasCreate(&ctx->cublas));
    PLEAS_CUDA_CHECK(cublasSetStream(ctx->cublas, ctx->stream));
    // No TF32: f32 GEMMs round like the CPU oracle.
    PLEAS_CUDA_CHECK(cublasSetMathMode(ctx->cublas, CUBLAS_PEDANTIC_MATH));
    PLEAS_CUDA_CHECK(cudnnCreate(&ctx->cudnn));
    PLEAS_CUDA_CHECK(cudnnSetStream(ctx->cudnn, ctx->stream));
    PLEAS_CUDA_CHECK(cusolverDnCreate(&ctx->cusolver));
    PLEAS_CUDA_CHECK(cusolverDnSetStream(ctx->cusolver, ctx->stream));
    c = std::move(ctx);
  }
  return *c;
}

void* Context::workspace(size_t bytes) {
  if (bytes <= workspace_bytes) return workspace_ptr;
  if (workspace_ptr) allocator->deallocate(workspace_ptr);  // stream-ordered reuse is safe
  workspace_ptr = allocator->allocate(bytes);
  workspace_bytes = CachingAllocator::round_size(bytes);
  return workspace_ptr;
}

}  // namespace pleas::cuda

namespace pleas::cudab {

bool built_with_cuda() { return true; }

int device_count() {
  static int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) { (void)cudaGetLastError(); return 0; }
    return n;
  }();
  return count;
}

void* alloc(int device, size_t bytes) {
  cuda::context(device);
  return cuda::allocator(device).allocate(bytes);
}
void release(int device, void* p) { cuda::allocator(device).deallocate(p); }

static void copy(int device, void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  auto& c = cuda::context(device);
  PLEAS_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, c.stream));
  PLEAS_CUDA_CHECK(cudaStreamSynchronize(c.stream));
}
void memcpy_h2d(int d, void* dst, const void* src, size_t n) { copy(d, dst, src, n, cudaMemcpyHostToDevice); }
void memcpy_d2h(int d, void* dst, const void* src, size_t n) { copy(d, dst, src, n, cudaMemcpyDeviceToHost); }
void memcpy_d2d(int d, void* dst, const void* src, size_t n) { copy(d, dst, src, n, cudaMemcpyDefault); }

void memset_zero(int device, void* dst, size_t bytes) {
  auto& c = cuda::context(device);
  PLEAS_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, c.stream));
}

void* host_alloc_pinned(size_t bytes) {
  void* p = nullptr;
  if (device_count() == 0) {
    p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    PLEAS_CHECK(p != nullptr, "host_alloc_pinned: out of host memory (", bytes, " bytes)");
    return p;
  }
  PLEAS_CUDA_CHECK(cudaHostAlloc(&p, bytes, cudaHostAllocDefault));
  return p;
}
void host_free_pinned(void* p) {
  if (!p) return;
  if (device_count() == 0) std::free(p);
  else cudaFreeHost(p);
}
void memcpy_h2d_async(int device, void* dst, const void* src, size_t bytes) {
  auto& c = cuda::context(device);
  PLEAS_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c.stream));
}

void synchronize(int device) { PLEAS_CUDA_CHECK(cudaStreamSynchronize(cuda::context(device).stream)); }

MemoryStats memory_stats(int device) {
  auto& a = cuda::allocator(device);
  MemoryStats s;
  s.current_bytes = a.current_bytes();
  s.peak_bytes = a.peak_bytes();
  s.reserved_bytes = a.reserved_bytes();
  s.cudamalloc_calls = a.raw_alloc_calls();
  return s;
}
void reset_peak(int device) { cuda::allocator(device).reset_peak(); }
void empty_cache(int device) { cuda::allocator(device).empty_cache(); }

}  // namespace pleas::cudab

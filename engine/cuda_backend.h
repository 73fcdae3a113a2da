// The engine core's view of the CUDA runtime: plain C++ declarations, no CUDA header.
// Implemented in kernels/cuda/runtime.cu, or by kernels/stub/cuda_stub.cpp in a build without
// CUDA, where every entry point but device_count()/built_with_cuda() throws
// "built without CUDA support".
#pragma once
#include <cstddef>
#include <cstdint>

namespace pleas::cudab {

bool built_with_cuda();
int device_count();                         // 0 without a usable device; never throws
void* alloc(int device, size_t bytes);      // through the caching allocator
void release(int device, void* p);          // back to the cache
void memcpy_h2d(int device, void* dst, const void* src, size_t bytes);
void memcpy_d2h(int device, void* dst, const void* src, size_t bytes);
void memcpy_d2d(int device, void* dst, const void* src, size_t bytes);
void memset_zero(int device, void* dst, size_t bytes);
// Page-locked host memory for asynchronous uploads (plain aligned host memory without CUDA).
void* host_alloc_pinned(size_t bytes);
void host_free_pinned(void* p);
// Upload on the device's stream without waiting; `src` must stay valid until synchronize().
void memcpy_h2d_async(int device, void* dst, const void* src, size_t bytes);
void synchronize(int device);

struct MemoryStats {
  size_t current_bytes = 0;   // bytes handed out to tensors now
  size_t peak_bytes = 0;      // highest current_bytes since start or reset
  size_t reserved_bytes = 0;  // bytes held from the driver (in use + cached)
  size_t cudamalloc_calls = 0;
};
MemoryStats memory_stats(int device);
void reset_peak(int device);
void empty_cache(int device);               // return cached blocks to the driver

}  // namespace pleas::cudab

// A caching allocator: freed blocks are kept in size-ordered free lists and reused for later
// requests of a similar size, so steady-state work does no driver allocations. Device-agnostic:
// the raw allocate/free functions are injected (cudaMalloc/cudaFree on GPU, a fake in tests).
#pragma once
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <unordered_map>

namespace pleas {

class CachingAllocator {
 public:
  using RawAlloc = std::function<void*(size_t)>;
  using RawFree = std::function<void(void*)>;
  CachingAllocator(RawAlloc a, RawFree f) : raw_alloc_(std::move(a)), raw_free_(std::move(f)) {}
  ~CachingAllocator();  // frees cached blocks; blocks still in use are leaked to the driver's teardown

  // Requests are rounded up to 512 bytes (small) or 2 MiB (large, >= 1 MiB). A cached block is
  // reused when it is at least the rounded size and at most twice it.
  void* allocate(size_t bytes);
  void deallocate(void* p);
  void empty_cache();
  void reset_peak();

  size_t current_bytes() const { return current_; }
  size_t peak_bytes() const { return peak_; }
  size_t reserved_bytes() const { return reserved_; }
  size_t raw_alloc_calls() const { return raw_calls_; }
  static size_t round_size(size_t bytes);

 private:
  RawAlloc raw_alloc_;
  RawFree raw_free_;
  std::mutex mu_;
  std::multimap<size_t, void*> free_;           // size -> block
  std::unordered_map<void*, size_t> in_use_;    // block -> size
  size_t current_ = 0, peak_ = 0, reserved_ = 0, raw_calls_ = 0;
};

}  // namespace pleas

#include "engine/caching_allocator.h"

#include "engine/error.h"

namespace pleas {

size_t CachingAllocator::round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  const size_t small = 512, large = size_t(2) << 20;
  if (bytes < (size_t(1) << 20)) return (bytes + small - 1) / small * small;
  return (bytes + large - 1) / large * large;
}

void* CachingAllocator::allocate(size_t bytes) {
  size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  void* p = nullptr;
  auto it = free_.lower_bound(size);
  if (it != free_.end() && it->first <= 2 * size) {
    size = it->first;
    p = it->second;
    free_.erase(it);
  } else {
    p = raw_alloc_(size);
    if (!p && !free_.empty()) {  // out of memory: give the cache back and retry once
      for (auto& kv : free_) { raw_free_(kv.second); reserved_ -= kv.first; }
      free_.clear();
      p = raw_alloc_(size);
    }
    PLEAS_CHECK(p != nullptr, "allocator: out of device memory allocating ", size, " bytes (in use ",
                current_, ", reserved ", reserved_, ")");
    reserved_ += size;
    ++raw_calls_;
  }
  in_use_[p] = size;
  current_ += size;
  if (current_ > peak_) peak_ = current_;
  return p;
}

void CachingAllocator::deallocate(void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = in_use_.find(p);
  PLEAS_CHECK(it != in_use_.end(), "allocator: freeing a pointer it did not allocate");
  current_ -= it->second;
  free_.emplace(it->second, p);
  in_use_.erase(it);
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& kv : free_) { raw_free_(kv.second); reserved_ -= kv.first; }
  free_.clear();
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  peak_ = current_;
}

CachingAllocator::~CachingAllocator() {
  for (auto& kv : free_) raw_free_(kv.second);
}

}  // namespace pleas

// Plain C++ (no CUDA headers): built in every configuration so its bookkeeping is testable on
// machines without a GPU (see the _C test hook in bindings/runtime_bindings.cpp).
#include "cuda/allocator.h"

#include <algorithm>
#include <new>

namespace lamina::cuda {

CachingAllocator::CachingAllocator(RawMalloc raw_malloc, RawFree raw_free)
    : raw_malloc_(std::move(raw_malloc)), raw_free_(std::move(raw_free)) {}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> g(mu_);
  release_cached_locked();
}

int64_t CachingAllocator::round_size(int64_t nbytes) {
  constexpr int64_t kSmallStep = 512, kLargeStep = int64_t(2) << 20, kSmallLimit = int64_t(1) << 20;
  if (nbytes <= 0) return 0;
  const int64_t step = nbytes < kSmallLimit ? kSmallStep : kLargeStep;
  return (nbytes + step - 1) / step * step;
}

void* CachingAllocator::allocate(int64_t nbytes) {
  if (nbytes < 0) throw std::bad_alloc();
  const int64_t size = round_size(nbytes);
  if (size == 0) return nullptr;
  std::lock_guard<std::mutex> g(mu_);
  void* p = nullptr;
  auto it = cached_.find(size);
  if (it != cached_.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
  } else {
    try {
      p = raw_malloc_(size);
    } catch (const std::bad_alloc&) {
      // Cached blocks of other sizes may be what stands between us and the request.
      release_cached_locked();
      p = raw_malloc_(size);  // a second bad_alloc propagates
    }
    stats_.raw_allocs += 1;
    stats_.reserved += size;
  }
  live_.emplace(p, size);
  stats_.allocated += size;
  stats_.peak_allocated = std::max(stats_.peak_allocated, stats_.allocated);
  return p;
}

void CachingAllocator::free(void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> g(mu_);
  auto it = live_.find(p);
  if (it == live_.end()) return;  // not ours (never happens through Storage); ignore rather than corrupt
  const int64_t size = it->second;
  live_.erase(it);
  stats_.allocated -= size;
  cached_[size].push_back(p);
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> g(mu_);
  release_cached_locked();
}

void CachingAllocator::release_cached_locked() {
  for (auto& [size, blocks] : cached_) {
    for (void* p : blocks) {
      raw_free_(p);
      stats_.raw_frees += 1;
      stats_.reserved -= size;
    }
  }
  cached_.clear();
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> g(mu_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> g(mu_);
  stats_.peak_allocated = stats_.allocated;
}

}  // namespace lamina::cuda

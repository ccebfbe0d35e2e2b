#include "core/storage.h"

#include <cstdlib>
#include <iterator>
#include <list>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include <sys/mman.h>

#include "core/cuda_runtime.h"

namespace lamina {

namespace {

constexpr size_t kHuge = size_t(2) << 20;
constexpr size_t kHugeMin = 2 * kHuge;           // blocks this large are huge-page backed
constexpr size_t kCachedMin = size_t(256) << 10;  // blocks this large are cached when freed

// Freed large host blocks kept for reuse. A training step allocates the same big activations
// and gradients every iteration; handing the memory back to the kernel means each new tensor
// faults in and zeroes fresh pages first, which costs as much as an elementwise pass over it.
// Blocks are keyed by their rounded size; a request takes the smallest cached block that is at
// most a quarter larger. The cache is bounded (LAMINA_CPU_CACHE_MB, default 1024; 0 turns it
// off): a block that does not fit evicts the longest-cached ones, so the cache follows the
// current workload. It is emptied before an allocation is allowed to fail.
class HostBlockCache {
 public:
  static HostBlockCache& get() {
    static HostBlockCache* c = new HostBlockCache();  // never destroyed: frees may run at exit
    return *c;
  }

  void* take(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_size_.lower_bound(n);
    if (it == by_size_.end() || it->first > n + n / 4) return nullptr;
    void* p = it->second->p;
    cached_ -= it->first;
    order_.erase(it->second);
    by_size_.erase(it);
    return p;
  }

  // Takes ownership of p (n bytes).
  void give(void* p, size_t n) {
    std::vector<void*> evicted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (n <= limit_) {
        while (cached_ + n > limit_) {
          const Block& old = order_.front();
          evicted.push_back(old.p);
          cached_ -= old.n;
          by_size_.erase(old.where);
          order_.pop_front();
        }
        order_.push_back({p, n, {}});
        order_.back().where = by_size_.emplace(n, std::prev(order_.end()));
        cached_ += n;
        p = nullptr;
      }
    }
    for (void* q : evicted) std::free(q);
    std::free(p);
  }

  void clear() {
    std::list<Block> out;
    {
      std::lock_guard<std::mutex> lock(mu_);
      out.swap(order_);
      by_size_.clear();
      cached_ = 0;
    }
    for (auto& b : out) std::free(b.p);
  }

  size_t cached() {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_;
  }

 private:
  struct Block;
  using BySize = std::multimap<size_t, std::list<Block>::iterator>;
  struct Block {
    void* p;
    size_t n;
    BySize::iterator where;
  };

  HostBlockCache() {
    limit_ = size_t(1024) << 20;
    if (const char* env = std::getenv("LAMINA_CPU_CACHE_MB")) {
      try {
        limit_ = size_t(std::stoull(env)) << 20;
      } catch (const std::exception&) {
        // An unreadable setting keeps the default rather than failing every allocation.
      }
    }
  }

  std::mutex mu_;
  std::list<Block> order_;  // oldest first
  BySize by_size_;
  size_t cached_ = 0;
  size_t limit_ = 0;
};

// Cached blocks are whole pages (huge pages from kHugeMin on), so that a block freed by one
// tensor fits the next of about its size.
size_t rounded_size(int64_t nbytes) {
  const size_t align = size_t(nbytes) >= kHugeMin ? kHuge : size_t(nbytes) >= kCachedMin ? 4096 : 64;
  size_t n = (size_t(nbytes) + align - 1) / align * align;  // aligned_alloc wants a multiple
  return n == 0 ? 64 : n;
}

}  // namespace

void* host_alloc(int64_t nbytes) {
  // Large buffers go on 2 MiB boundaries and ask for transparent huge pages: first touch then
  // faults once per 2 MiB instead of once per 4 KiB (NumPy does the same).
  const size_t n = rounded_size(nbytes);
  const bool huge = n >= kHugeMin, cached = n >= kCachedMin;
  if (cached) {
    if (void* p = HostBlockCache::get().take(n)) return p;
  }
  const size_t align = huge ? kHuge : cached ? 4096 : 64;
  void* p = std::aligned_alloc(align, n);
  if (!p && cached) {
    HostBlockCache::get().clear();
    p = std::aligned_alloc(align, n);
  }
  if (!p) throw std::bad_alloc();
  if (huge) madvise(p, n, MADV_HUGEPAGE);
  return p;
}

void host_free(void* p, int64_t nbytes) {
  if (!p) return;
  const size_t n = rounded_size(nbytes);
  if (n >= kCachedMin) {
    // Only blocks from host_alloc reach here, so a cached block is always aligned as
    // host_alloc aligns a block of its size, and exactly n bytes long.
    HostBlockCache::get().give(p, n);
    return;
  }
  std::free(p);
}

void host_empty_cache() { HostBlockCache::get().clear(); }

int64_t host_cached_bytes() { return int64_t(HostBlockCache::get().cached()); }

std::shared_ptr<Storage> Storage::allocate(int64_t nbytes, Device dev) {
  if (nbytes < 0) throw std::bad_alloc();
  if (dev.is_cuda()) {
    void* p = cuda::device_malloc(nbytes, dev.index);
    return std::make_shared<Storage>(p, nbytes, dev, [idx = dev.index](void* q) { cuda::device_free(q, idx); });
  }
  void* p = host_alloc(nbytes);
  return std::make_shared<Storage>(p, nbytes, dev, [nbytes](void* q) { host_free(q, nbytes); });
}

}  // namespace lamina

// Caching allocator for device memory. Freed blocks go back to a free list per size class and
// are handed out again instead of being returned to the driver, so a training loop that
// allocates the same shapes every step stops calling cudaMalloc/cudaFree after its first step.
// The raw allocation functions are injected: the CUDA runtime passes cudaMalloc/cudaFree, and
// tests drive the same bookkeeping with a fake device that runs out of memory on demand.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace lamina::cuda {

struct AllocatorStats {
  int64_t allocated = 0;      // bytes in blocks handed out (rounded to their size class)
  int64_t peak_allocated = 0; // high-water mark of `allocated` since the last reset
  int64_t reserved = 0;       // bytes held from the driver: handed out plus cached
  int64_t raw_allocs = 0;     // calls to the raw allocator (cache misses)
  int64_t raw_frees = 0;      // calls to the raw free (cache flushes)
};

class CachingAllocator {
 public:
  // `raw_malloc` throws std::bad_alloc when the device is out of memory.
  using RawMalloc = std::function<void*(int64_t nbytes)>;
  using RawFree = std::function<void(void* p)>;

  CachingAllocator(RawMalloc raw_malloc, RawFree raw_free);
  ~CachingAllocator();  // returns cached blocks; blocks still handed out are leaked on purpose
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // Size class of a request: 512-byte steps below 1 MiB, 2 MiB steps above (large buffers
  // come in few distinct sizes, and rounding them coarsely lets neighbours share blocks).
  static int64_t round_size(int64_t nbytes);

  // A block of at least nbytes (nullptr for 0 bytes). On out-of-memory the cache is emptied
  // once and the request retried; a second failure throws std::bad_alloc.
  void* allocate(int64_t nbytes);
  // Back to the cache; p must come from allocate() of this allocator (nullptr is ignored).
  void free(void* p);
  // Returns every cached block to the raw allocator.
  void empty_cache();

  AllocatorStats stats() const;
  void reset_peak();

 private:
  void release_cached_locked();

  RawMalloc raw_malloc_;
  RawFree raw_free_;
  mutable std::mutex mu_;
  std::map<int64_t, std::vector<void*>> cached_;   // size class -> free blocks
  std::unordered_map<void*, int64_t> live_;        // block -> size class
  AllocatorStats stats_;
};

}  // namespace lamina::cuda

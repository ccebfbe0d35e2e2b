// A reference-counted, device-tagged allocation. Storage owns its bytes through a deleter,
// so memory borrowed from NumPy or DLPack producers is released by whoever lent it.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "core/device.h"

namespace lamina {

// 64-byte aligned host memory (huge-page backed when large); release with host_free and the
// same byte count. Throws std::bad_alloc.
void* host_alloc(int64_t nbytes);
void host_free(void* p, int64_t nbytes);
// Large freed blocks are cached for reuse; these report and release that cache.
int64_t host_cached_bytes();
void host_empty_cache();

// An uninitialised array of n T from host_alloc, for a kernel's temporary buffers: large ones
// come from the block cache instead of fresh pages that fault in on every call.
template <class T>
class HostArray {
 public:
  explicit HostArray(int64_t n)
      : bytes_(std::max<int64_t>(n, 1) * int64_t(sizeof(T))), p_(static_cast<T*>(host_alloc(bytes_))) {}
  ~HostArray() { host_free(p_, bytes_); }
  HostArray(HostArray&& o) noexcept : bytes_(o.bytes_), p_(o.p_) { o.p_ = nullptr; }
  HostArray(const HostArray&) = delete;
  HostArray& operator=(const HostArray&) = delete;
  HostArray& operator=(HostArray&&) = delete;
  T* data() { return p_; }
  const T* data() const { return p_; }

 private:
  int64_t bytes_;
  T* p_;
};

class Storage {
 public:
  using Deleter = std::function<void(void*)>;
  Storage(void* data, int64_t nbytes, Device dev, Deleter del)
      : data_(data), nbytes_(nbytes), device_(dev), deleter_(std::move(del)) {}
  ~Storage() { if (deleter_) deleter_(data_); }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  // 64-byte aligned, uninitialised. Throws std::bad_alloc (MemoryError in Python).
  static std::shared_ptr<Storage> allocate(int64_t nbytes, Device dev);

  void* data() const { return data_; }
  int64_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  // Bumped by every in-place write; autograd compares it with the value saved at record time.
  int64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_;
  int64_t nbytes_;
  Device device_;
  Deleter deleter_;
  std::atomic<int64_t> version_{0};
};

}  // namespace lamina

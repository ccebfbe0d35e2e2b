#include "core/storage.h"

#include <cstdlib>
#include <new>

#include <sys/mman.h>

#include "core/cuda_runtime.h"

namespace lamina {

void* host_alloc(int64_t nbytes) {
  // Large buffers go on 2 MiB boundaries and ask for transparent huge pages: first touch then
  // faults once per 2 MiB instead of once per 4 KiB, which is most of the cost of writing a
  // fresh multi-megabyte result (NumPy does the same).
  constexpr size_t kHuge = size_t(2) << 20;
  const bool huge = size_t(nbytes) >= 2 * kHuge;
  const size_t align = huge ? kHuge : 64;
  size_t n = (size_t(nbytes) + align - 1) / align * align;  // aligned_alloc wants a multiple
  if (n == 0) n = 64;
  void* p = std::aligned_alloc(align, n);
  if (!p) throw std::bad_alloc();
  if (huge) madvise(p, n, MADV_HUGEPAGE);
  return p;
}

std::shared_ptr<Storage> Storage::allocate(int64_t nbytes, Device dev) {
  if (nbytes < 0) throw std::bad_alloc();
  if (dev.is_cuda()) {
    void* p = cuda::device_malloc(nbytes, dev.index);
    return std::make_shared<Storage>(p, nbytes, dev, [idx = dev.index](void* q) { cuda::device_free(q, idx); });
  }
  void* p = host_alloc(nbytes);
  return std::make_shared<Storage>(p, nbytes, dev, [](void* q) { std::free(q); });
}

}  // namespace lamina

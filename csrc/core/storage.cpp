#include "core/storage.h"

#include <cstdlib>
#include <new>

#include "core/cuda_runtime.h"

namespace lamina {

std::shared_ptr<Storage> Storage::allocate(int64_t nbytes, Device dev) {
  if (nbytes < 0) throw std::bad_alloc();
  if (dev.is_cuda()) {
    void* p = cuda::device_malloc(nbytes, dev.index);
    return std::make_shared<Storage>(p, nbytes, dev, [idx = dev.index](void* q) { cuda::device_free(q, idx); });
  }
  // Round up so aligned_alloc's size contract holds; at least one cache line for empty tensors.
  size_t n = (size_t(nbytes) + 63) / 64 * 64;
  if (n == 0) n = 64;
  void* p = std::aligned_alloc(64, n);
  if (!p) throw std::bad_alloc();
  return std::make_shared<Storage>(p, nbytes, dev, [](void* q) { std::free(q); });
}

}  // namespace lamina

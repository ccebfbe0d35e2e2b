// Fills n elements of 1, 2, 4 or 8 bytes with one bit pattern: grid-stride loop, one element
// per thread per step. Used by full/zeros/ones on "cuda".
#include <cstring>

#include "cuda/launch.cuh"

namespace lamina::cuda {

namespace {
template <class T>
__global__ void fill_kernel(T* dst, int64_t n, T value) {
  LAMINA_GRID_STRIDE(i, n) dst[i] = value;
}

template <class T>
void launch(void* dst, int64_t n, uint64_t bits, int index) {
  T v;
  static_assert(sizeof(T) <= sizeof(uint64_t));
  std::memcpy(&v, &bits, sizeof(T));
  fill_kernel<T><<<blocks_for(n), kThreads, 0, stream(index)>>>(static_cast<T*>(dst), n, v);
  LAMINA_CUDA_CHECK("fill_kernel", index);
}
}  // namespace

void fill(void* dst, int64_t n, int64_t itemsize, uint64_t bits, int index) {
  if (n == 0) return;
  set_device(index);
  switch (itemsize) {
    case 1: return launch<uint8_t>(dst, n, bits, index);
    case 2: return launch<uint16_t>(dst, n, bits, index);
    case 4: return launch<uint32_t>(dst, n, bits, index);
    default: return launch<uint64_t>(dst, n, bits, index);
  }
}

}  // namespace lamina::cuda

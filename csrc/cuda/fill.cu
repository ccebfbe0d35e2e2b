// Fills n elements of 1, 2, 4 or 8 bytes with one bit pattern: grid-stride loop, one
// element per thread per step. The first CUDA kernel, used by full/zeros/ones on "cuda".
#include <cuda_runtime.h>

#include <cstring>

#include "core/cuda_runtime.h"
#include "core/errors.h"

namespace lamina::cuda {

namespace {
template <class T>
__global__ void fill_kernel(T* dst, int64_t n, T value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = value;
}

template <class T>
void launch(void* dst, int64_t n, uint64_t bits) {
  T v;
  static_assert(sizeof(T) <= sizeof(uint64_t));
  std::memcpy(&v, &bits, sizeof(T));
  int threads = 256;
  int64_t blocks = (n + threads - 1) / threads;
  fill_kernel<T><<<unsigned(blocks < 65535 ? blocks : 65535), threads>>>(static_cast<T*>(dst), n, v);
}
}  // namespace

void fill(void* dst, int64_t n, int64_t itemsize, uint64_t bits, int index) {
  if (n == 0) return;
  cudaSetDevice(index);
  switch (itemsize) {
    case 1: launch<uint8_t>(dst, n, bits); break;
    case 2: launch<uint16_t>(dst, n, bits); break;
    case 4: launch<uint32_t>(dst, n, bits); break;
    default: launch<uint64_t>(dst, n, bits); break;
  }
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) fail<RuntimeError>("[cuda] fill_kernel launch failed: ", cudaGetErrorString(e));
}

}  // namespace lamina::cuda

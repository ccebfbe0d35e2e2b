// The CUDA runtime wrapper: device discovery that never throws without a driver, raw device
// memory, copies and synchronisation. Errors become RuntimeError naming the call; an
// allocation that fails raises std::bad_alloc (MemoryError in Python).
#include <cuda_runtime.h>

#include <new>

#include "core/cuda_runtime.h"
#include "core/errors.h"

namespace lamina::cuda {

namespace {
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls are not poisoned
    fail<RuntimeError>("[cuda] ", what, " failed: ", cudaGetErrorString(e));
  }
}

void use_device(int index) {
  LAMINA_CHECK(index >= 0 && index < device_count(), RuntimeError, "[cuda] invalid device index ", index, " (",
               device_count(), " CUDA devices available)");
  check(cudaSetDevice(index), "cudaSetDevice");
}
}  // namespace

bool compiled() { return true; }

int device_count() {
  static int n = [] {
    int c = 0;
    if (cudaGetDeviceCount(&c) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return c;
  }();
  return n;
}

std::string device_name(int index) {
  use_device(index);
  cudaDeviceProp p;
  check(cudaGetDeviceProperties(&p, index), "cudaGetDeviceProperties");
  return p.name;
}

void* device_malloc(int64_t nbytes, int index) {
  use_device(index);
  void* p = nullptr;
  if (nbytes == 0) return nullptr;
  cudaError_t e = cudaMalloc(&p, size_t(nbytes));
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw std::bad_alloc();
  }
  check(e, "cudaMalloc");
  return p;
}

void device_free(void* p, int index) {
  if (!p) return;
  cudaSetDevice(index);
  cudaFree(p);  // errors here cannot be reported from a destructor
}

void memcpy(void* dst, const void* src, int64_t nbytes, CopyKind kind, int index) {
  use_device(index);
  cudaMemcpyKind k = kind == CopyKind::HostToDevice   ? cudaMemcpyHostToDevice
                     : kind == CopyKind::DeviceToHost ? cudaMemcpyDeviceToHost
                                                      : cudaMemcpyDeviceToDevice;
  check(cudaMemcpy(dst, src, size_t(nbytes), k), "cudaMemcpy");
}

void synchronize(int index) {
  use_device(index);
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

}  // namespace lamina::cuda

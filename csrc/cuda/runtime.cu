// The CUDA runtime wrapper: device discovery that never throws without a driver, the caching
// allocator and stream of each device, copies and synchronisation. Errors become RuntimeError
// naming the call (and the last kernel launched, since faults surface asynchronously); an
// allocation that fails even after emptying the cache raises std::bad_alloc (MemoryError).
#include <cuda_runtime.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "core/errors.h"
#include "cuda/allocator.h"
#include "cuda/launch.cuh"

namespace lamina::cuda {

namespace {

thread_local const char* last_kernel = "none";

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear a non-sticky error so later calls are not poisoned
    fail<RuntimeError>("[cuda] ", what, " failed: ", cudaGetErrorString(e), " (last kernel launched: ", last_kernel,
                       "; run with LAMINA_CUDA_SYNC=1 to check every kernel as it finishes)");
  }
}

bool sync_after_launch() {
  static const bool on = [] {
    const char* e = std::getenv("LAMINA_CUDA_SYNC");
    return e && *e && *e != '0';
  }();
  return on;
}

struct DeviceState {
  cudaStream_t stream = nullptr;
  std::unique_ptr<CachingAllocator> allocator;
};

// Created on first use and never destroyed: tensors freed while the interpreter shuts down
// still find their allocator, and no cudaFree runs after the runtime has unloaded.
DeviceState& state(int index) {
  static std::mutex mu;
  static std::vector<DeviceState*> states(size_t(device_count()), nullptr);
  set_device(index);
  std::lock_guard<std::mutex> g(mu);
  DeviceState*& s = states[size_t(index)];
  if (!s) {
    auto* st = new DeviceState;
    // A blocking stream: it stays ordered with the legacy default stream that other
    // libraries sharing the device may use.
    check(cudaStreamCreate(&st->stream), "cudaStreamCreate");
    st->allocator = std::make_unique<CachingAllocator>(
        [index](int64_t n) {
          set_device(index);
          void* p = nullptr;
          cudaError_t e = cudaMalloc(&p, size_t(n));
          if (e == cudaErrorMemoryAllocation) {
            cudaGetLastError();
            throw std::bad_alloc();
          }
          check(e, "cudaMalloc");
          return p;
        },
        [index](void* p) {
          cudaSetDevice(index);
          cudaFree(p);  // errors here cannot be reported (called while emptying the cache)
        });
    s = st;
  }
  return *s;
}

// Stats queries on a device nobody has allocated on report zeros instead of creating its context.
std::mutex used_mu;
std::vector<bool> used;

CachingAllocator* allocator_if_used(int index) {
  {
    std::lock_guard<std::mutex> g(used_mu);
    if (index < 0 || size_t(index) >= used.size() || !used[size_t(index)]) return nullptr;
  }
  return state(index).allocator.get();
}

CachingAllocator& allocator(int index) {
  CachingAllocator* a = state(index).allocator.get();
  std::lock_guard<std::mutex> g(used_mu);
  if (used.size() < size_t(device_count())) used.resize(size_t(device_count()), false);
  used[size_t(index)] = true;
  return *a;
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

void set_device(int index) {
  LAMINA_CHECK(index >= 0 && index < device_count(), RuntimeError, "[cuda] invalid device index ", index, " (",
               device_count(), " CUDA devices available)");
  check(cudaSetDevice(index), "cudaSetDevice");
}

cudaStream_t stream(int index) { return state(index).stream; }

void check_launch(const char* kernel, int index) {
  last_kernel = kernel;
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) fail<RuntimeError>("[cuda] kernel ", kernel, " failed to launch: ", cudaGetErrorString(e));
  if (sync_after_launch()) {
    e = cudaStreamSynchronize(stream(index));
    if (e != cudaSuccess) {
      cudaGetLastError();
      fail<RuntimeError>("[cuda] kernel ", kernel, " failed: ", cudaGetErrorString(e));
    }
  }
}

std::string device_name(int index) {
  set_device(index);
  cudaDeviceProp p;
  check(cudaGetDeviceProperties(&p, index), "cudaGetDeviceProperties");
  return p.name;
}

void* device_malloc(int64_t nbytes, int index) {
  if (nbytes == 0) return nullptr;
  return allocator(index).allocate(nbytes);
}

void device_free(void* p, int index) {
  if (!p) return;
  // Safe without waiting: the next user of the block is queued on the same stream, after
  // every kernel that could still be reading or writing it.
  allocator(index).free(p);
}

void memcpy(void* dst, const void* src, int64_t nbytes, CopyKind kind, int index) {
  if (nbytes == 0) return;
  cudaStream_t s = stream(index);
  cudaMemcpyKind k = kind == CopyKind::HostToDevice   ? cudaMemcpyHostToDevice
                     : kind == CopyKind::DeviceToHost ? cudaMemcpyDeviceToHost
                                                      : cudaMemcpyDeviceToDevice;
  // From pageable host memory the call returns once the source has been staged, so the
  // caller may free it; to the host we wait, since the caller reads the bytes next.
  check(cudaMemcpyAsync(dst, src, size_t(nbytes), k, s), "cudaMemcpyAsync");
  if (kind == CopyKind::DeviceToHost) check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
}

void synchronize(int index) {
  check(cudaStreamSynchronize(stream(index)), "cudaStreamSynchronize");
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

int64_t memory_allocated(int index) {
  CachingAllocator* a = allocator_if_used(index);
  return a ? a->stats().allocated : 0;
}

int64_t max_memory_allocated(int index) {
  CachingAllocator* a = allocator_if_used(index);
  return a ? a->stats().peak_allocated : 0;
}

int64_t memory_reserved(int index) {
  CachingAllocator* a = allocator_if_used(index);
  return a ? a->stats().reserved : 0;
}

void reset_peak_memory_stats(int index) {
  if (CachingAllocator* a = allocator_if_used(index)) a->reset_peak();
}

void empty_cache() {
  for (int i = 0; i < device_count(); ++i)
    if (CachingAllocator* a = allocator_if_used(i)) {
      // cudaFree waits for the device anyway; doing it first keeps the order explicit.
      check(cudaStreamSynchronize(stream(i)), "cudaStreamSynchronize");
      a->empty_cache();
    }
}

}  // namespace lamina::cuda

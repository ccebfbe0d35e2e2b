// The CUDA runtime when lamina is built without CUDA: no devices, and every use says why.
#include "core/cuda_runtime.h"
#include "core/errors.h"

namespace lamina::cuda {

namespace {
[[noreturn]] void unavailable() {
  fail<RuntimeError>("[cuda] lamina was built without CUDA support (LAMINA_CUDA=OFF or no nvcc at build time)");
}
}  // namespace

bool compiled() { return false; }
int device_count() { return 0; }
std::string device_name(int) { unavailable(); }
void* device_malloc(int64_t, int) { unavailable(); }
void device_free(void*, int) {}
void memcpy(void*, const void*, int64_t, CopyKind, int) { unavailable(); }
void synchronize(int) { unavailable(); }
void fill(void*, int64_t, int64_t, uint64_t, int) { unavailable(); }

}  // namespace lamina::cuda

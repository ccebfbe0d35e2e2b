// The CUDA runtime when lamina is built without CUDA: no devices, and every use says why.
#include "core/cuda_runtime.h"
#include "core/errors.h"
#include "cuda/ops.h"

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
int64_t memory_allocated(int) { return 0; }
int64_t max_memory_allocated(int) { return 0; }
int64_t memory_reserved(int) { return 0; }
void reset_peak_memory_stats(int) {}
void empty_cache() {}

void binary(cpu::BinaryOp, const Tensor&, const Tensor&, const Tensor&, const std::vector<double>&) { unavailable(); }
void unary(cpu::UnaryOp, const Tensor&, const Tensor&, const std::vector<double>&) { unavailable(); }
void copy(const Tensor&, const Tensor&) { unavailable(); }
void where(const Tensor&, const Tensor&, const Tensor&, const Tensor&) { unavailable(); }
void reduce(cpu::ReduceOp, const Tensor&, int64_t, int64_t, int64_t, const Tensor&) { unavailable(); }
void arg_reduce(const Tensor&, int64_t, int64_t, int64_t, const Tensor&, const Tensor&, bool) { unavailable(); }
void sqdev(const Tensor&, int64_t, int64_t, int64_t, const Tensor&, const Tensor&) { unavailable(); }
void row(cpu::RowOp, const Tensor&, int64_t, int64_t, const Tensor&) { unavailable(); }
void row_backward(bool, const Tensor&, const Tensor&, int64_t, int64_t, const Tensor&) { unavailable(); }
void cumsum(const Tensor&, int64_t, int64_t, int64_t, const Tensor&) { unavailable(); }
void gemm(const GemmArgs&) { unavailable(); }

}  // namespace lamina::cuda

// The CUDA runtime as the rest of the core sees it. Built from csrc/cuda/runtime.cu when CUDA
// is compiled in, else from csrc/cuda/runtime_stub.cpp (no devices, every call refuses).
#pragma once
#include <cstdint>
#include <string>

namespace lamina::cuda {

bool compiled();
int device_count();  // 0 without a driver or GPU; never throws
std::string device_name(int index);
void* device_malloc(int64_t nbytes, int index);
void device_free(void* p, int index);
enum class CopyKind { HostToDevice, DeviceToHost, DeviceToDevice };
void memcpy(void* dst, const void* src, int64_t nbytes, CopyKind kind, int index);
void synchronize(int index);
// Writes `value_bits` (itemsize bytes) into n elements: the one kernel of the plumbing.
void fill(void* dst, int64_t n, int64_t itemsize, uint64_t value_bits, int index);

}  // namespace lamina::cuda

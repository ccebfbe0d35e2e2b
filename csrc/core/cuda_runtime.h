// The CUDA runtime as the rest of the core sees it. Built from csrc/cuda/runtime.cu when CUDA
// is compiled in, else from csrc/cuda/runtime_stub.cpp (no devices, every call refuses).
// Device memory comes from a caching allocator per device (csrc/cuda/allocator.h); all work
// of a device is queued on its one stream, and copies to the host wait for that stream.
#pragma once
#include <cstdint>
#include <string>

namespace lamina::cuda {

bool compiled();
int device_count();  // 0 without a driver or GPU; never throws
std::string device_name(int index);
// Cached device memory: throws std::bad_alloc (MemoryError) when the device is out of memory
// even after the cache has been returned to the driver.
void* device_malloc(int64_t nbytes, int index);
void device_free(void* p, int index);
enum class CopyKind { HostToDevice, DeviceToHost, DeviceToDevice };
// Ordered on the device's stream; a copy to the host returns once the bytes have arrived.
void memcpy(void* dst, const void* src, int64_t nbytes, CopyKind kind, int index);
// Waits for all work queued on the device.
void synchronize(int index);
// Writes `value_bits` (itemsize bytes) into n elements.
void fill(void* dst, int64_t n, int64_t itemsize, uint64_t value_bits, int index);

// Allocator statistics in bytes (0 for a device never used, and without CUDA).
int64_t memory_allocated(int index);
int64_t max_memory_allocated(int index);
int64_t memory_reserved(int index);
void reset_peak_memory_stats(int index);
// Returns the cached blocks of every device to the driver.
void empty_cache();

}  // namespace lamina::cuda

// What every CUDA kernel file shares: the per-device stream, launch checking, grid sizing,
// device-side element types and conversions, and the offset calculator that walks strided,
// broadcast operands from a flat element index.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "core/cuda_runtime.h"
#include "core/iterate.h"
#include "core/tensor.h"

namespace lamina::cuda {

// The one stream of a device (created on first use); every kernel and copy of lamina runs on
// it, so work on one device is ordered without events.
cudaStream_t stream(int index);
// Makes `index` the calling thread's current device (invalid index -> RuntimeError).
void set_device(int index);
// Called right after every launch: a launch error becomes a RuntimeError naming the kernel.
// With LAMINA_CUDA_SYNC=1 it also waits for the kernel, so faults name the kernel that caused
// them instead of surfacing at the next synchronisation.
void check_launch(const char* kernel, int index);

#define LAMINA_CUDA_CHECK(kernel, index) ::lamina::cuda::check_launch(kernel, index)

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items: enough to fill any current GPU, never more.
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  return unsigned(b < 1 ? 1 : b > (int64_t(1) << 16) ? (int64_t(1) << 16) : b);
}

#define LAMINA_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

// ---- element types: lamina's bf16/f16 are bit containers; the device uses CUDA's own types.
template <DType D> struct DeviceType;
template <> struct DeviceType<DType::Bool> { using type = bool; };
template <> struct DeviceType<DType::Int32> { using type = int32_t; };
template <> struct DeviceType<DType::Int64> { using type = int64_t; };
template <> struct DeviceType<DType::Float16> { using type = __half; };
template <> struct DeviceType<DType::BFloat16> { using type = __nv_bfloat16; };
template <> struct DeviceType<DType::Float32> { using type = float; };
template <> struct DeviceType<DType::Float64> { using type = double; };

template <class T> constexpr bool is_half_v = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

// Value conversion with the CPU's rules (ops/copy.cpp): float to int saturates and sends NaN
// to 0, anything to bool tests != 0, 16-bit floats go through float32.
template <class D, class S>
__device__ __forceinline__ D convert(S v) {
  if constexpr (std::is_same_v<D, S>) return v;
  else if constexpr (std::is_same_v<S, __half>) return convert<D>(__half2float(v));
  else if constexpr (std::is_same_v<S, __nv_bfloat16>) return convert<D>(__bfloat162float(v));
  else if constexpr (std::is_same_v<D, __half>) return __float2half_rn(float(v));
  else if constexpr (std::is_same_v<D, __nv_bfloat16>) return __float2bfloat16_rn(float(v));
  else if constexpr (std::is_same_v<D, bool>) return v != S(0);
  else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<S>) {
    if (!(v == v)) return D(0);
    if (v >= S(std::numeric_limits<D>::max())) return std::numeric_limits<D>::max();
    if (v <= S(std::numeric_limits<D>::lowest())) return std::numeric_limits<D>::lowest();
    return D(v);
  } else return D(v);
}

// Calls f(T{}) with T the device type of dt (all seven dtypes).
template <class F>
void visit_dtype(DType dt, F&& f) {
  switch (dt) {
    case DType::Bool: return f(bool{});
    case DType::Int32: return f(int32_t{});
    case DType::Int64: return f(int64_t{});
    case DType::Float16: return f(__half{});
    case DType::BFloat16: return f(__nv_bfloat16{});
    case DType::Float32: return f(float{});
    default: return f(double{});
  }
}

// ---- strided operands
constexpr int kMaxDims = 12;

// Byte offsets of K operands for a flat index over a coalesced shape (core/iterate.h merges
// chained dims first, so most tensors arrive as one dim and skip the divisions).
template <int K>
struct OffsetCalc {
  int nd = 0;
  int64_t sizes[kMaxDims];
  int64_t strides[K][kMaxDims];

  __device__ __forceinline__ void get(int64_t i, int64_t (&off)[K]) const {
#pragma unroll
    for (int k = 0; k < K; ++k) off[k] = 0;
    if (nd == 1) {
#pragma unroll
      for (int k = 0; k < K; ++k) off[k] = i * strides[k][0];
      return;
    }
    for (int d = nd - 1; d >= 0; --d) {
      int64_t idx = i % sizes[d];
      i /= sizes[d];
#pragma unroll
      for (int k = 0; k < K; ++k) off[k] += idx * strides[k][d];
    }
  }
};

// Operand k viewed with strides[k] (elements) and elsize[k] bytes per element over `shape`.
template <int K>
OffsetCalc<K> make_offset_calc(const Shape& shape, const std::array<const Shape*, K>& strides,
                               const std::array<int64_t, K>& elsize, const char* op) {
  StridedLayout<K> L = make_layout<K>(shape, strides, elsize);
  LAMINA_CHECK(L.sizes.size() <= size_t(kMaxDims), NotImplementedError, "[", op, "] on CUDA supports at most ",
               kMaxDims, " non-mergeable dims, got shape ", shape);
  OffsetCalc<K> c;
  c.nd = int(L.sizes.size());
  for (int d = 0; d < c.nd; ++d) {
    c.sizes[d] = L.sizes[d];
    for (int k = 0; k < K; ++k) c.strides[k][d] = L.bytes[k][d];
  }
  return c;
}

// Up to four op parameters passed by value (clamp bounds, softplus beta/threshold, ...).
struct Params {
  double v[4] = {0, 0, 0, 0};
};

}  // namespace lamina::cuda

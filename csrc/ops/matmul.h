// Matrix products: validation, batching with broadcast batch dims, dtype handling and cache
// blocking; the GEMM itself is csrc/cpu/gemm_kernels.cpp.
#pragma once
#include "core/tensor.h"

namespace lamina {
namespace cpu { struct GemmArgs; }
enum class Activation : int { None = 0, Relu = 1, Gelu = 2, GeluTanh = 3, Silu = 4 };

// NumPy/PyTorch matmul: 1-D operands are promoted to matrices and the added dim dropped.
Tensor matmul(const Tensor& a, const Tensor& b);
// y = x @ w^T (+ bias) (-> act), bias and activation applied in the GEMM epilogue.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act);
// C (rows ldc apart) = A * B (+ bias per column) (-> act) on the CPU, or C += A * B with
// `accumulate`; operands by pointer and element strides, cache blocking from the detected
// cache sizes.
void cpu_gemm(DType dt, int64_t M, int64_t N, int64_t K, const char* A, int64_t rsa, int64_t csa, const char* B,
              int64_t rsb, int64_t csb, char* C, int64_t ldc, const char* bias, Activation act, bool accumulate,
              int threads);
// Sets g.nc (a KC x NC block of B in a share of L2) and g.mc (rows of A packed per K slice)
// for g.kc, the micro-kernel of dt and the detected cache sizes.
void set_gemm_blocks(cpu::GemmArgs& g, DType dt);
// Measured single-thread float32 FMA throughput of the kernel path in use.
double fma_peak_gflops(double seconds);

}  // namespace lamina

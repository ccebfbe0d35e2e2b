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
// Sets g.mc/kc/nc from the detected cache sizes for the micro-kernel of `dt`.
void set_gemm_blocking(cpu::GemmArgs& g, DType dt);
// Measured single-thread float32 FMA throughput of the kernel path in use.
double fma_peak_gflops(double seconds);

}  // namespace lamina

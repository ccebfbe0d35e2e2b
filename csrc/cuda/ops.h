// CUDA implementations behind the ops of csrc/ops: each op validates, promotes and lays out its
// operands once, then calls the cpu:: loop or the function here by the tensors' device. The
// caller guarantees one device for all operands and the dtypes named below; without CUDA
// compiled in, runtime_stub.cpp provides these (never reached: no CUDA tensor can exist).
#pragma once
#include <vector>

#include "core/tensor.h"
#include "cpu/kernels.h"

namespace lamina::cuda {

// ---- elementwise (csrc/cuda/elementwise.cu). a and b are broadcast views of out's shape in
// the op's compute dtype (float32/float64/int32/int64/bool); out is that dtype, or bool for
// comparisons. TypeError for combinations the CPU table lacks too.
void binary(cpu::BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, const std::vector<double>& params);
void unary(cpu::UnaryOp op, const Tensor& out, const Tensor& a, const std::vector<double>& params);
// dst = src (broadcast to dst's shape), any dtypes and strides, casting like ops/copy.cpp.
void copy(const Tensor& dst, const Tensor& src);
// out = cond ? a : b, all broadcast to out's shape; cond is bool, a and b are out's dtype.
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);

// ---- reductions (csrc/cuda/reduce.cu). x is contiguous, viewed as (A, R, K); out is (A, K).
// dtypes follow cpu/kernels.h: sum/prod widen int32/bool to int64, max/min keep the dtype.
void reduce(cpu::ReduceOp op, const Tensor& x, int64_t A, int64_t R, int64_t K, const Tensor& out);
void arg_reduce(const Tensor& x, int64_t A, int64_t R, int64_t K, const Tensor& values, const Tensor& indices,
                bool is_max);
void sqdev(const Tensor& x, int64_t A, int64_t R, int64_t K, const Tensor& mean, const Tensor& out);
// Rows of n contiguous float32/float64 elements.
void row(cpu::RowOp op, const Tensor& x, int64_t rows, int64_t n, const Tensor& out);
void row_backward(bool log, const Tensor& y, const Tensor& g, int64_t rows, int64_t n, const Tensor& dx);
void cumsum(const Tensor& x, int64_t A, int64_t R, int64_t K, const Tensor& out);

// ---- GEMM (csrc/cuda/gemm.cu). C (M x N, row stride ldc, contiguous rows) = A (M x K) *
// B (K x N) given by element strides (transposed or sliced operands need no copy), then + bias
// (N values or null) and the activation (ops/matmul.h's Activation codes). float32 or float64.
struct GemmArgs {
  DType dtype = DType::Float32;
  int64_t M = 0, N = 0, K = 0;
  const void* A = nullptr; int64_t rsa = 0, csa = 0;
  const void* B = nullptr; int64_t rsb = 0, csb = 0;
  void* C = nullptr; int64_t ldc = 0;
  const void* bias = nullptr;
  int act = 0;
  // Batched: `batch` products, operand i at A + i * batch_a (elements), likewise B and C.
  int64_t batch = 1, batch_a = 0, batch_b = 0, batch_c = 0;
  int device = 0;
};
void gemm(const GemmArgs& g);

}  // namespace lamina::cuda

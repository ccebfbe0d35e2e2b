// The table of CPU inner loops. Each ISA-compiled translation unit (elementwise_kernels.cpp,
// reduce_kernels.cpp, built once per ISA by CMake) fills its part of one table; ops pick the
// table for the CPU they run on through cpu::kernels().
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace lamina::cpu {

enum class BinaryOp : int {
  Add, Sub, Mul, Div, FloorDiv, Mod, Pow, Maximum, Minimum, Atan2,
  Eq, Ne, Lt, Le, Gt, Ge, And, Or, Xor,
  // Gradient helpers: (x, g) -> g * f'(x), or (y, g) for functions whose derivative reads the output.
  ReluGrad, GeluGrad, GeluTanhGrad, SiluGrad, SoftplusGrad, SigmoidGradFromOut, TanhGradFromOut,
  Count
};
enum class UnaryOp : int {
  Neg, Abs, Sign, Exp, Expm1, Log, Log1p, Log2, Sqrt, Rsqrt, Reciprocal, Square,
  Sin, Cos, Tanh, Sigmoid, Relu, Gelu, GeluTanh, Silu, Softplus, LeakyRelu, Erf,
  Floor, Ceil, Round, Trunc, Not, Clamp, PowScalar, AddScalar, MulScalar,
  Count
};

// Strides in bytes. params: op parameters (clamp bounds, softplus beta/threshold, ...).
using BinaryLoop = void (*)(int64_t n, const char* a, int64_t sa, const char* b, int64_t sb, char* out,
                            int64_t so, const double* params);
using UnaryLoop = void (*)(int64_t n, const char* a, int64_t sa, char* out, int64_t so, const double* params);

enum class ReduceOp : int { Sum, Prod, Max, Min, Count };
// Contiguous input viewed as (A, R, K); reduce over R. out is (A, K) in `out_dtype` of the op.
using ReduceLoop = void (*)(int64_t A, int64_t R, int64_t K, const char* in, char* out);
// Same layout; indices (int64) of the max/min over R, first occurrence, NaN wins.
using ArgLoop = void (*)(int64_t A, int64_t R, int64_t K, const char* in, char* values, int64_t* idx, bool is_max);
// Sum of squared deviations from mean (A, K), over R.
using SqDevLoop = void (*)(int64_t A, int64_t R, int64_t K, const char* in, const char* mean, char* out);
// Row-wise along a contiguous last dim: softmax, log_softmax, logsumexp (out has one value per row).
enum class RowOp : int { Softmax, LogSoftmax, LogSumExp, Count };
using RowLoop = void (*)(int64_t rows, int64_t n, const char* in, char* out);
using CumsumLoop = void (*)(int64_t A, int64_t R, int64_t K, const char* in, char* out);

// C (M x N, row stride ldc) = A * B [+ bias per column] [-> act]; strides in elements.
struct GemmArgs {
  int64_t M = 0, N = 0, K = 0;
  const char* A = nullptr; int64_t rsa = 0, csa = 0;
  const char* B = nullptr; int64_t rsb = 0, csb = 0;
  char* C = nullptr; int64_t ldc = 0;
  const char* bias = nullptr;  // N values, or null
  int act = 0;                 // 0 none, 1 relu, 2 gelu, 3 gelu (tanh), 4 silu
  int threads = 1;
  int64_t mc = 0, kc = 0, nc = 0;  // cache blocking
};
using GemmFn = void (*)(const GemmArgs&);

// Layer norm (rms = false) or RMS norm over rows of n contiguous elements. gamma/beta may be
// null. Forward writes y, mean and rstd per row; backward reads x, dy, mean, rstd and writes dx.
struct NormArgs {
  int64_t n = 0;
  bool rms = false;
  double eps = 1e-5;
  const void* x = nullptr;
  const void* gamma = nullptr;
  const void* beta = nullptr;
  void* y = nullptr;
  void* mean = nullptr;
  void* rstd = nullptr;
  const void* dy = nullptr;
  void* dx = nullptr;
};
using NormForward = void (*)(const NormArgs&, int64_t row_begin, int64_t row_end);
// dgamma/dbeta (n values each, may be null) receive this row range's sums, added in.
using NormBackward = void (*)(const NormArgs&, int64_t row_begin, int64_t row_end, double* dgamma, double* dbeta);

struct Kernels {
  BinaryLoop binary[int(BinaryOp::Count)][kNumDTypes] = {};
  UnaryLoop unary[int(UnaryOp::Count)][kNumDTypes] = {};
  ReduceLoop reduce[int(ReduceOp::Count)][kNumDTypes] = {};
  ArgLoop arg[kNumDTypes] = {};
  SqDevLoop sqdev[kNumDTypes] = {};
  RowLoop row[int(RowOp::Count)][kNumDTypes] = {};
  CumsumLoop cumsum[kNumDTypes] = {};
  GemmFn gemm[kNumDTypes] = {};
  int gemm_tile[kNumDTypes][2] = {};  // MR, NR of the micro-kernel
  double (*fma_peak)(double seconds) = nullptr;
  NormForward norm_forward[kNumDTypes] = {};
  NormBackward norm_backward[kNumDTypes] = {};
};

// The table for the ISA in use (detected once; see core/cpu_features.h for the override).
const Kernels& kernels();

#define LAMINA_ISA_CAT_(name, isa) name##_##isa
#define LAMINA_ISA_FN(name, isa) LAMINA_ISA_CAT_(name, isa)
#define LAMINA_DECLARE_ISA(isa)                          \
  void LAMINA_ISA_FN(register_elementwise, isa)(Kernels&); \
  void LAMINA_ISA_FN(register_reduce, isa)(Kernels&); \
  void LAMINA_ISA_FN(register_gemm, isa)(Kernels&); \
  void LAMINA_ISA_FN(register_norm, isa)(Kernels&);
LAMINA_DECLARE_ISA(avx512)
LAMINA_DECLARE_ISA(avx2)
LAMINA_DECLARE_ISA(base)

}  // namespace lamina::cpu

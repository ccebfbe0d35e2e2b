// lamina's C++ API for programs without Python: the library's CPU kernels on raw pointers.
//
// Link the CMake target lamina::kernels (find_package(lamina)); `python -m lamina --cmake-dir`
// prints the folder to hand CMake as lamina_DIR. Every function validates shapes, dtypes and
// strides and throws std::runtime_error (or a subclass) with a message naming the op and the
// shapes; it never writes outside the memory the TensorRefs describe.
#pragma once
#include <cstdint>

namespace lamina::api {

enum class DType : int { Float32 = 0, Float64 = 1 };

// A caller-owned n-d array: `shape` and `strides` (in elements, may be 0 for broadcast inputs)
// hold `ndim` values each. Nothing is copied or kept after a call returns.
struct TensorRef {
  void* data = nullptr;
  DType dtype = DType::Float32;
  int ndim = 0;
  const int64_t* shape = nullptr;
  const int64_t* strides = nullptr;
};

// Threads used by every kernel (OpenMP); 0 or less keeps the current setting.
void set_num_threads(int threads);
int get_num_threads();
// The SIMD path chosen for this CPU: "avx512", "avx2" or "base".
const char* cpu_kernel_path();

// out = a @ b with NumPy/PyTorch semantics (1-D operands, broadcast batch dims). `out` must
// have the result's shape; it may be strided.
void matmul(const TensorRef& a, const TensorRef& b, const TensorRef& out);

// out = x @ w^T + bias (bias may have data == nullptr): x (..., K), w (N, K), out (..., N).
void linear(const TensorRef& x, const TensorRef& w, const TensorRef& bias, const TensorRef& out);

struct Conv2dParams {
  int64_t stride[2] = {1, 1};
  int64_t padding[2] = {0, 0};
  int64_t dilation[2] = {1, 1};
  int64_t groups = 1;
};
// y = conv2d(x, w) + bias over NCHW: x (N, C, H, W), w (O, C/groups, KH, KW), bias (O) or
// data == nullptr, y (N, O, OH, OW).
void conv2d_forward(const TensorRef& x, const TensorRef& w, const TensorRef& bias, const TensorRef& y,
                    const Conv2dParams& p);
// dx (N, C, H, W) = d conv2d / d x applied to dy.
void conv2d_backward_data(const TensorRef& dy, const TensorRef& w, const TensorRef& dx, const Conv2dParams& p);
// dw (O, C/groups, KH, KW) = d conv2d / d w applied to dy.
void conv2d_backward_weight(const TensorRef& x, const TensorRef& dy, const TensorRef& dw, const Conv2dParams& p);

struct AttentionParams {
  bool causal = false;        // query i sees keys j <= i (top-left aligned)
  double scale = 0;           // 0: 1 / sqrt(E)
  bool enable_gqa = false;    // q heads (dim -3) a multiple of k/v heads
};
// out = softmax(q k^T * scale + mask) v, fused (the L x S scores are never stored):
// q (..., L, E), k (..., S, E), v (..., S, Ev), out (..., L, Ev); lse (..., L) receives each
// query's log-sum-exp, which the backward needs. mask: data == nullptr, or an additive mask of
// q's dtype broadcastable to (..., L, S) (-infinity removes a key).
void attention_forward(const TensorRef& q, const TensorRef& k, const TensorRef& v, const TensorRef& mask,
                       const TensorRef& out, const TensorRef& lse, const AttentionParams& p);
// dq, dk, dv from dout and the forward's q, k, v, out and lse (recomputes the score tiles).
void attention_backward(const TensorRef& dout, const TensorRef& q, const TensorRef& k, const TensorRef& v,
                        const TensorRef& mask, const TensorRef& out, const TensorRef& lse, const TensorRef& dq,
                        const TensorRef& dk, const TensorRef& dv, const AttentionParams& p);

}  // namespace lamina::api

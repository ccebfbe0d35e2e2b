// Reductions over (A, R, K) views and row-wise softmax family. K == 1 (reducing contiguous
// rows) gives each row a block whose threads stride the row and combine in shared memory;
// K > 1 gives each output a thread that walks R, so a warp reads 32 neighbouring columns at
// once. float32 sums accumulate in float64 like the CPU loops.
#include <cmath>

#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace lamina::cuda {

namespace {

constexpr int kBlock = 256;

// Combines one value per thread of the block; every thread gets the result.
template <class T, class F>
__device__ T block_reduce(T v, F combine) {
  __shared__ unsigned char raw[kBlock * sizeof(T)];
  T* s = reinterpret_cast<T*>(raw);
  s[threadIdx.x] = v;
  __syncthreads();
  for (int w = kBlock / 2; w > 0; w >>= 1) {
    if (int(threadIdx.x) < w) s[threadIdx.x] = combine(s[threadIdx.x], s[threadIdx.x + w]);
    __syncthreads();
  }
  T r = s[0];
  __syncthreads();  // the buffer may be reused by the caller's next reduction
  return r;
}

template <class T> struct AccOf { using type = T; };
template <> struct AccOf<float> { using type = double; };
template <> struct AccOf<int32_t> { using type = int64_t; };
template <> struct AccOf<bool> { using type = int64_t; };

struct SumR {
  template <class A> __device__ static A init() { return A(0); }
  template <class A> __device__ static A step(A acc, A x) { return A(acc + x); }
};
struct ProdR {
  template <class A> __device__ static A init() { return A(1); }
  template <class A> __device__ static A step(A acc, A x) { return A(acc * x); }
};
struct MaxR {
  template <class A> __device__ static A init() {
    if constexpr (std::numeric_limits<A>::has_infinity) return -std::numeric_limits<A>::infinity();
    else return std::numeric_limits<A>::lowest();
  }
  template <class A> __device__ static A step(A acc, A x) { return (x > acc || x != x) ? x : acc; }
};
struct MinR {
  template <class A> __device__ static A init() {
    if constexpr (std::numeric_limits<A>::has_infinity) return std::numeric_limits<A>::infinity();
    else return std::numeric_limits<A>::max();
  }
  template <class A> __device__ static A step(A acc, A x) { return (x < acc || x != x) ? x : acc; }
};

// K == 1: one block per row (grid-stride over rows). K > 1: one thread per output.
template <class Op, class T, class Acc, class O>
__global__ void reduce_kernel(int64_t A, int64_t R, int64_t K, const T* in, O* out) {
  if (K == 1) {
    for (int64_t a = blockIdx.x; a < A; a += gridDim.x) {
      Acc acc = Op::template init<Acc>();
      for (int64_t r = threadIdx.x; r < R; r += kBlock) acc = Op::step(acc, Acc(in[a * R + r]));
      acc = block_reduce(acc, [](Acc x, Acc y) { return Op::step(x, y); });
      if (threadIdx.x == 0) out[a] = O(acc);
    }
    return;
  }
  LAMINA_GRID_STRIDE(i, A * K) {
    const int64_t a = i / K, k = i % K;
    const T* x = in + a * R * K + k;
    Acc acc = Op::template init<Acc>();
    for (int64_t r = 0; r < R; ++r) acc = Op::step(acc, Acc(x[r * K]));
    out[i] = O(acc);
  }
}

// Sum of squared deviations from mean (A, K) over R.
template <class T>
__global__ void sqdev_kernel(int64_t A, int64_t R, int64_t K, const T* in, const T* mean, T* out) {
  using Acc = typename AccOf<T>::type;
  if (K == 1) {
    for (int64_t a = blockIdx.x; a < A; a += gridDim.x) {
      const Acc m = Acc(mean[a]);
      Acc acc = 0;
      for (int64_t r = threadIdx.x; r < R; r += kBlock) { Acc d = Acc(in[a * R + r]) - m; acc += d * d; }
      acc = block_reduce(acc, [](Acc x, Acc y) { return x + y; });
      if (threadIdx.x == 0) out[a] = T(acc);
    }
    return;
  }
  LAMINA_GRID_STRIDE(i, A * K) {
    const int64_t a = i / K, k = i % K;
    const Acc m = Acc(mean[i]);
    Acc acc = 0;
    for (int64_t r = 0; r < R; ++r) { Acc d = Acc(in[(a * R + r) * K + k]) - m; acc += d * d; }
    out[i] = T(acc);
  }
}

// (value, index) of the max/min: first occurrence wins ties, the first NaN wins everything.
template <class T>
struct ArgPair { T v; int64_t i; };

template <class T>
__device__ __forceinline__ ArgPair<T> arg_better(ArgPair<T> x, ArgPair<T> y, bool is_max) {
  if (y.i < 0) return x;
  if (x.i < 0) return y;
  if constexpr (std::is_floating_point_v<T>) {
    const bool xn = x.v != x.v, yn = y.v != y.v;
    if (xn || yn) return xn && (!yn || x.i < y.i) ? x : y;
  }
  if (x.v == y.v) return x.i < y.i ? x : y;
  return (is_max ? y.v > x.v : y.v < x.v) ? y : x;
}

template <class T>
__global__ void arg_kernel(int64_t A, int64_t R, int64_t K, const T* in, T* values, int64_t* idx, bool is_max) {
  if (K == 1) {
    for (int64_t a = blockIdx.x; a < A; a += gridDim.x) {
      ArgPair<T> best{T(0), -1};
      for (int64_t r = threadIdx.x; r < R; r += kBlock) best = arg_better(best, ArgPair<T>{in[a * R + r], r}, is_max);
      best = block_reduce(best, [is_max](ArgPair<T> x, ArgPair<T> y) { return arg_better(x, y, is_max); });
      if (threadIdx.x == 0) { values[a] = best.v; idx[a] = best.i; }
    }
    return;
  }
  LAMINA_GRID_STRIDE(i, A * K) {
    const int64_t a = i / K, k = i % K;
    const T* x = in + a * R * K + k;
    ArgPair<T> best{x[0], 0};
    for (int64_t r = 1; r < R; ++r) best = arg_better(best, ArgPair<T>{x[r * K], r}, is_max);
    values[i] = best.v;
    idx[i] = best.i;
  }
}

template <class T>
__device__ T row_max(const T* x, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t i = threadIdx.x; i < n; i += kBlock) m = (x[i] > m || x[i] != x[i]) ? x[i] : m;
  return block_reduce(m, [](T a, T b) { return (b > a || b != b) ? b : a; });
}

template <class T>
__device__ T row_sum_exp(const T* x, int64_t n, T m) {
  using Acc = typename AccOf<T>::type;
  Acc s = 0;
  for (int64_t i = threadIdx.x; i < n; i += kBlock) s += Acc(exp(x[i] - m));
  return T(block_reduce(s, [](Acc a, Acc b) { return a + b; }));
}

// Softmax, log_softmax and logsumexp of rows of n elements, one block per row.
template <class T>
__global__ void row_kernel(int op, int64_t rows, int64_t n, const T* in, T* out) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* x = in + r * n;
    T m = row_max(x, n);
    if (op == int(cpu::RowOp::Softmax)) {
      if (m == -INFINITY) m = 0;  // an all -inf row gives 0/0 = NaN like PyTorch
      const T inv = T(1) / row_sum_exp(x, n, m);
      for (int64_t i = threadIdx.x; i < n; i += kBlock) out[r * n + i] = exp(x[i] - m) * inv;
      continue;
    }
    // all -inf gives -inf; any +inf or NaN wins
    const T lse = (isinf(m) || m != m) ? m : m + log(row_sum_exp(x, n, m));
    if (op == int(cpu::RowOp::LogSumExp)) {
      if (threadIdx.x == 0) out[r] = lse;
    } else {
      for (int64_t i = threadIdx.x; i < n; i += kBlock) out[r * n + i] = x[i] - lse;
    }
  }
}

// softmax: dx = y * (g - sum(g * y)); log_softmax (y = log p): dx = g - exp(y) * sum(g).
template <class T>
__global__ void row_backward_kernel(bool log, int64_t rows, int64_t n, const T* y, const T* g, T* dx) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t o = r * n;
    T s = 0;
    for (int64_t i = threadIdx.x; i < n; i += kBlock) s += log ? g[o + i] : g[o + i] * y[o + i];
    s = block_reduce(s, [](T a, T b) { return a + b; });
    for (int64_t i = threadIdx.x; i < n; i += kBlock)
      dx[o + i] = log ? g[o + i] - exp(y[o + i]) * s : y[o + i] * (g[o + i] - s);
  }
}

template <class T, class O>
__global__ void cumsum_kernel(int64_t A, int64_t R, int64_t K, const T* in, O* out) {
  using Acc = typename AccOf<T>::type;
  LAMINA_GRID_STRIDE(i, A * K) {
    const int64_t base = (i / K) * R * K + i % K;
    Acc acc = 0;
    for (int64_t r = 0; r < R; ++r) {
      acc += Acc(in[base + r * K]);
      out[base + r * K] = O(acc);
    }
  }
}

// Grid for (A, R, K): blocks over rows when K == 1, else threads over outputs.
unsigned grid_for(int64_t A, int64_t K) { return K == 1 ? blocks_for(A, 1) : blocks_for(A * K); }

template <class Op, bool widen>
void launch_reduce(const char* name, const Tensor& x, int64_t A, int64_t R, int64_t K, const Tensor& out) {
  const int dev = x.device().index;
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_half_v<T>) {
      fail<TypeError>("[", name, "] CUDA reductions take float32/float64/int/bool; got ", dtype_name(x.dtype()));
    } else {
      using Acc = std::conditional_t<widen, typename AccOf<T>::type, T>;
      using O = std::conditional_t<std::is_floating_point_v<T>, T, Acc>;
      reduce_kernel<Op, T, Acc, O><<<grid_for(A, K), kBlock, 0, stream(dev)>>>(A, R, K, x.data<T>(), out.data<O>());
      LAMINA_CUDA_CHECK(name, dev);
    }
  });
}

// Calls f(T{}) for float32 and float64, TypeError naming `op` otherwise.
template <class F>
void visit_float(DType dt, const char* op, F&& f) {
  if (dt == DType::Float32) return f(float{});
  if (dt == DType::Float64) return f(double{});
  fail<TypeError>("[", op, "] CUDA kernel expects float32 or float64, got ", dtype_name(dt));
}

}  // namespace

void reduce(cpu::ReduceOp op, const Tensor& x, int64_t A, int64_t R, int64_t K, const Tensor& out) {
  if (A * K == 0) return;
  set_device(x.device().index);
  switch (op) {
    case cpu::ReduceOp::Sum: return launch_reduce<SumR, true>("sum_kernel", x, A, R, K, out);
    case cpu::ReduceOp::Prod: return launch_reduce<ProdR, true>("prod_kernel", x, A, R, K, out);
    case cpu::ReduceOp::Max: return launch_reduce<MaxR, false>("amax_kernel", x, A, R, K, out);
    default: return launch_reduce<MinR, false>("amin_kernel", x, A, R, K, out);
  }
}

void arg_reduce(const Tensor& x, int64_t A, int64_t R, int64_t K, const Tensor& values, const Tensor& indices,
                bool is_max) {
  if (A * K == 0) return;
  const int dev = x.device().index;
  set_device(dev);
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_half_v<T>) {
      fail<TypeError>("[argmax] CUDA kernel expects float32/float64/int/bool, got ", dtype_name(x.dtype()));
    } else {
      arg_kernel<T><<<grid_for(A, K), kBlock, 0, stream(dev)>>>(A, R, K, x.data<T>(), values.data<T>(),
                                                               indices.data<int64_t>(), is_max);
      LAMINA_CUDA_CHECK("arg_kernel", dev);
    }
  });
}

void sqdev(const Tensor& x, int64_t A, int64_t R, int64_t K, const Tensor& mean, const Tensor& out) {
  if (A * K == 0) return;
  const int dev = x.device().index;
  set_device(dev);
  visit_float(x.dtype(), "var", [&](auto tag) {
    using T = decltype(tag);
    sqdev_kernel<T><<<grid_for(A, K), kBlock, 0, stream(dev)>>>(A, R, K, x.data<T>(), mean.data<T>(), out.data<T>());
    LAMINA_CUDA_CHECK("sqdev_kernel", dev);
  });
}

void row(cpu::RowOp op, const Tensor& x, int64_t rows, int64_t n, const Tensor& out) {
  if (rows == 0) return;
  const int dev = x.device().index;
  set_device(dev);
  visit_float(x.dtype(), "softmax", [&](auto tag) {
    using T = decltype(tag);
    row_kernel<T><<<blocks_for(rows, 1), kBlock, 0, stream(dev)>>>(int(op), rows, n, x.data<T>(), out.data<T>());
    LAMINA_CUDA_CHECK("row_kernel (softmax/log_softmax/logsumexp)", dev);
  });
}

void row_backward(bool log, const Tensor& y, const Tensor& g, int64_t rows, int64_t n, const Tensor& dx) {
  if (rows == 0) return;
  const int dev = y.device().index;
  set_device(dev);
  visit_float(y.dtype(), "softmax_backward", [&](auto tag) {
    using T = decltype(tag);
    row_backward_kernel<T><<<blocks_for(rows, 1), kBlock, 0, stream(dev)>>>(log, rows, n, y.data<T>(), g.data<T>(),
                                                                           dx.data<T>());
    LAMINA_CUDA_CHECK("row_backward_kernel", dev);
  });
}

void cumsum(const Tensor& x, int64_t A, int64_t R, int64_t K, const Tensor& out) {
  if (A * K == 0 || R == 0) return;
  const int dev = x.device().index;
  set_device(dev);
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_half_v<T>) {
      fail<TypeError>("[cumsum] CUDA kernel expects float32/float64/int/bool, got ", dtype_name(x.dtype()));
    } else {
      using O = std::conditional_t<std::is_floating_point_v<T>, T, int64_t>;
      cumsum_kernel<T, O><<<blocks_for(A * K), kThreads, 0, stream(dev)>>>(A, R, K, x.data<T>(), out.data<O>());
      LAMINA_CUDA_CHECK("cumsum_kernel", dev);
    }
  });
}

}  // namespace lamina::cuda

// Reduction inner loops, compiled once per ISA. Inputs are contiguous and viewed as (A, R, K):
// reduce over R. K == 1 reduces contiguous rows with independent lanes (vectorises without
// reassociation flags); K > 1 accumulates whole rows of K, which vectorises along K.
// float32 sums add float64 totals of short float blocks, so long reductions stay within 1e-6
// relative.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/vec.h"

// Everything here lives in a namespace named after the ISA: inline helpers compiled with
// different -m flags must never be merged by the linker.
namespace lamina::cpu::LAMINA_ISA {
#include "cpu/fast_math.h"
namespace {

template <class T> struct Acc { using type = T; };
template <> struct Acc<float> { using type = double; };
template <> struct Acc<int32_t> { using type = int64_t; };
template <> struct Acc<bool> { using type = int64_t; };

struct SumR {
  template <class A> static A init() { return A(0); }
  template <class A> static A step(A acc, A x) { return acc + x; }
};
struct ProdR {
  template <class A> static A init() { return A(1); }
  template <class A> static A step(A acc, A x) { return acc * x; }
};
struct MaxR {
  template <class A> static A init() {
    if constexpr (std::numeric_limits<A>::has_infinity) return -std::numeric_limits<A>::infinity();
    else return std::numeric_limits<A>::lowest();
  }
  template <class A> static A step(A acc, A x) { return (x > acc || x != x) ? x : acc; }
};
struct MinR {
  template <class A> static A init() {
    if constexpr (std::numeric_limits<A>::has_infinity) return std::numeric_limits<A>::infinity();
    else return std::numeric_limits<A>::max();
  }
  template <class A> static A step(A acc, A x) { return (x < acc || x != x) ? x : acc; }
};

// The L values of v folded into v[0] by halving: log2(L) steps of independent operations
// instead of a chain of L dependent ones.
template <class Op, class A, int L>
inline A fold_lanes(A (&v)[L]) {
  for (int w = L / 2; w > 0; w /= 2)
    for (int l = 0; l < w; ++l) v[l] = Op::step(v[l], v[l + w]);
  return v[0];
}

// The float64 sum of n floats: blocks of kBlock summed in four vectors of float lanes (each lane
// at most kBlock / (4 L) = 16 terms deep, so a block's error stays near that of its largest
// terms), the block totals added in float64: twice the lanes of float64 accumulation, without
// its conversions.
inline double sum_floats(const float* x, int64_t n) {
  using V = LanesT<float>;
  constexpr int L = kLanes<float>;
  constexpr int64_t kBlock = 64 * L;
  double total = 0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    V s0{}, s1{}, s2{}, s3{};
    int64_t i = b;
    for (; i + 4 * L <= e; i += 4 * L) {
      s0 += load_lanes(x + i);
      s1 += load_lanes(x + i + L);
      s2 += load_lanes(x + i + 2 * L);
      s3 += load_lanes(x + i + 3 * L);
    }
    for (; i + L <= e; i += L) s0 += load_lanes(x + i);
    const V s = (s0 + s1) + (s2 + s3);
    float t = hsum<float>(s);
    for (; i < e; ++i) t += x[i];
    total += double(t);
  }
  return total;
}

// R reduced into out (A, K). Output element type O; accumulation type A.
template <class Op, class T, class A, class O>
void reduce_loop(int64_t An, int64_t R, int64_t K, const char* in_, char* out_) {
  const T* in = reinterpret_cast<const T*>(in_);
  O* out = reinterpret_cast<O*>(out_);
  constexpr int L = 16;
  if (K == 1) {
    for (int64_t a = 0; a < An; ++a) {
      const T* x = in + a * R;
      if constexpr (std::is_same_v<Op, SumR> && std::is_same_v<T, float> && std::is_same_v<A, double>) {
        out[a] = O(sum_floats(x, R));
        continue;
      }
      A lanes[L];
      for (int l = 0; l < L; ++l) lanes[l] = Op::template init<A>();
      int64_t i = 0;
      for (; i + L <= R; i += L)
        for (int l = 0; l < L; ++l) lanes[l] = Op::step(lanes[l], A(x[i + l]));
      for (int l = 0; i < R; ++i, ++l) lanes[l] = Op::step(lanes[l], A(x[i]));
      out[a] = O(fold_lanes<Op>(lanes));
    }
    return;
  }
  constexpr int64_t KB = 256;
  A acc[KB];
  for (int64_t a = 0; a < An; ++a) {
    for (int64_t k0 = 0; k0 < K; k0 += KB) {
      int64_t kn = std::min(KB, K - k0);
      for (int64_t k = 0; k < kn; ++k) acc[k] = Op::template init<A>();
      for (int64_t r = 0; r < R; ++r) {
        const T* x = in + (a * R + r) * K + k0;
        for (int64_t k = 0; k < kn; ++k) acc[k] = Op::step(acc[k], A(x[k]));
      }
      for (int64_t k = 0; k < kn; ++k) out[a * K + k0 + k] = O(acc[k]);
    }
  }
}

template <class T>
void arg_loop(int64_t An, int64_t R, int64_t K, const char* in_, char* val_, int64_t* idx, bool is_max) {
  const T* in = reinterpret_cast<const T*>(in_);
  T* val = reinterpret_cast<T*>(val_);
  for (int64_t a = 0; a < An; ++a)
    for (int64_t k = 0; k < K; ++k) {
      const T* x = in + a * R * K + k;
      T best = x[0];
      int64_t bi = 0;
      for (int64_t r = 1; r < R; ++r) {
        T v = x[r * K];
        if constexpr (std::is_floating_point_v<T>) { if (best != best) break; if (v != v) { best = v; bi = r; break; } }
        if (is_max ? v > best : v < best) { best = v; bi = r; }
      }
      val[a * K + k] = best;
      idx[a * K + k] = bi;
    }
}

template <class T>
void sqdev_loop(int64_t An, int64_t R, int64_t K, const char* in_, const char* mean_, char* out_) {
  using A = typename Acc<T>::type;
  const T* in = reinterpret_cast<const T*>(in_);
  const T* mean = reinterpret_cast<const T*>(mean_);
  T* out = reinterpret_cast<T*>(out_);
  constexpr int64_t KB = 256;
  A acc[KB];
  for (int64_t a = 0; a < An; ++a)
    for (int64_t k0 = 0; k0 < K; k0 += KB) {
      int64_t kn = std::min(KB, K - k0);
      for (int64_t k = 0; k < kn; ++k) acc[k] = 0;
      for (int64_t r = 0; r < R; ++r) {
        const T* x = in + (a * R + r) * K + k0;
        const T* m = mean + a * K + k0;
        for (int64_t k = 0; k < kn; ++k) { A d = A(x[k]) - A(m[k]); acc[k] += d * d; }
      }
      for (int64_t k = 0; k < kn; ++k) out[a * K + k0 + k] = T(acc[k]);
    }
}

// Row reductions keep L independent lanes so the loops vectorise without reassociating a
// single running value (which the compiler may not do without -ffast-math).
constexpr int kLanes = 16;

template <class T>
T row_max(const T* x, int64_t n) {
  T lanes[kLanes];
  for (int l = 0; l < kLanes; ++l) lanes[l] = -std::numeric_limits<T>::infinity();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) lanes[l] = (x[i + l] > lanes[l] || x[i + l] != x[i + l]) ? x[i + l] : lanes[l];
  T m = -std::numeric_limits<T>::infinity();
  for (; i < n; ++i) m = (x[i] > m || x[i] != x[i]) ? x[i] : m;
  for (int l = 0; l < kLanes; ++l) m = (lanes[l] > m || lanes[l] != lanes[l]) ? lanes[l] : m;
  return m;
}

// Sum of exp(x - m) over the row, accumulated in Acc<T>; writes each exp to y when y != null.
template <class T>
typename Acc<T>::type row_sum_exp(const T* x, T m, T* y, int64_t n) {
  using A = typename Acc<T>::type;
  A lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      T e = vexp(T(x[i + l] - m));
      if (y) y[i + l] = e;
      lanes[l] += A(e);
    }
  A s = 0;
  for (; i < n; ++i) {
    T e = vexp(T(x[i] - m));
    if (y) y[i] = e;
    s += A(e);
  }
  for (int l = 0; l < kLanes; ++l) s += lanes[l];
  return s;
}

template <class T>
void softmax_rows(int64_t rows, int64_t n, const char* in_, char* out_) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* x = reinterpret_cast<const T*>(in_) + r * n;
    T* y = reinterpret_cast<T*>(out_) + r * n;
    T m = row_max(x, n);
    if (m == -std::numeric_limits<T>::infinity()) m = 0;  // all -inf: exp gives 0/0 = NaN like PyTorch
    T inv = T(1 / row_sum_exp(x, m, y, n));
    for (int64_t i = 0; i < n; ++i) y[i] *= inv;
  }
}

template <class T>
T row_lse(const T* x, int64_t n) {
  T m = row_max(x, n);
  if (std::isinf(m) || m != m) return m;  // all -inf gives -inf; any +inf or NaN wins
  return T(m + T(std::log(row_sum_exp<T>(x, m, nullptr, n))));
}

template <class T>
void log_softmax_rows(int64_t rows, int64_t n, const char* in_, char* out_) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* x = reinterpret_cast<const T*>(in_) + r * n;
    T* y = reinterpret_cast<T*>(out_) + r * n;
    T lse = row_lse(x, n);
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] - lse;
  }
}

template <class T>
void logsumexp_rows(int64_t rows, int64_t n, const char* in_, char* out_) {
  for (int64_t r = 0; r < rows; ++r)
    reinterpret_cast<T*>(out_)[r] = row_lse(reinterpret_cast<const T*>(in_) + r * n, n);
}

// softmax: dx = y * (g - sum(g * y)); log_softmax (y = log p): dx = g - exp(y) * sum(g).
template <class T, bool log>
void softmax_backward_rows(int64_t rows, int64_t n, const char* y_, const char* g_, char* dx_) {
  constexpr int L = kLanes;
  for (int64_t r = 0; r < rows; ++r) {
    const T* y = reinterpret_cast<const T*>(y_) + r * n;
    const T* g = reinterpret_cast<const T*>(g_) + r * n;
    T* dx = reinterpret_cast<T*>(dx_) + r * n;
    T lanes[L] = {};
    int64_t i = 0;
    for (; i + L <= n; i += L)
      for (int l = 0; l < L; ++l) lanes[l] += log ? g[i + l] : g[i + l] * y[i + l];
    T s = 0;
    for (; i < n; ++i) s += log ? g[i] : g[i] * y[i];
    for (int l = 0; l < L; ++l) s += lanes[l];
    if (log)
      for (i = 0; i < n; ++i) dx[i] = g[i] - vexp(y[i]) * s;
    else
      for (i = 0; i < n; ++i) dx[i] = y[i] * (g[i] - s);
  }
}

template <class T, class O>
void cumsum_loop(int64_t An, int64_t R, int64_t K, const char* in_, char* out_) {
  using A = typename Acc<T>::type;
  const T* in = reinterpret_cast<const T*>(in_);
  O* out = reinterpret_cast<O*>(out_);
  constexpr int64_t KB = 256;
  A acc[KB];
  for (int64_t a = 0; a < An; ++a)
    for (int64_t k0 = 0; k0 < K; k0 += KB) {
      int64_t kn = std::min(KB, K - k0);
      for (int64_t k = 0; k < kn; ++k) acc[k] = 0;
      for (int64_t r = 0; r < R; ++r) {
        int64_t base = (a * R + r) * K + k0;
        for (int64_t k = 0; k < kn; ++k) { acc[k] += A(in[base + k]); out[base + k] = O(acc[k]); }
      }
    }
}

constexpr int F32 = int(DType::Float32), F64 = int(DType::Float64), I32 = int(DType::Int32),
              I64 = int(DType::Int64), B = int(DType::Bool);

// With `widen`, float32 accumulates in float64 and integers and bools produce int64 (sum and
// prod, like PyTorch); otherwise every type reduces in itself (max and min).
template <class Op, bool widen>
void register_op(ReduceLoop* t) {
  using F32Acc = std::conditional_t<widen, double, float>;
  using I32Out = std::conditional_t<widen, int64_t, int32_t>;
  using BoolOut = std::conditional_t<widen, int64_t, bool>;
  t[F32] = reduce_loop<Op, float, F32Acc, float>;
  t[F64] = reduce_loop<Op, double, double, double>;
  t[I32] = reduce_loop<Op, int32_t, I32Out, I32Out>;
  t[I64] = reduce_loop<Op, int64_t, int64_t, int64_t>;
  t[B] = reduce_loop<Op, bool, BoolOut, BoolOut>;
}

}  // namespace
}  // namespace lamina::cpu::LAMINA_ISA

namespace lamina::cpu {

void LAMINA_ISA_FN(register_reduce, LAMINA_ISA)(Kernels& k) {
  using namespace LAMINA_ISA;
  register_op<SumR, true>(k.reduce[int(ReduceOp::Sum)]);
  register_op<ProdR, true>(k.reduce[int(ReduceOp::Prod)]);
  register_op<MaxR, false>(k.reduce[int(ReduceOp::Max)]);
  register_op<MinR, false>(k.reduce[int(ReduceOp::Min)]);
  k.arg[F32] = arg_loop<float>; k.arg[F64] = arg_loop<double>;
  k.arg[I32] = arg_loop<int32_t>; k.arg[I64] = arg_loop<int64_t>; k.arg[B] = arg_loop<bool>;
  k.sqdev[F32] = sqdev_loop<float>; k.sqdev[F64] = sqdev_loop<double>;
  k.row[int(RowOp::Softmax)][F32] = softmax_rows<float>;
  k.row[int(RowOp::Softmax)][F64] = softmax_rows<double>;
  k.row[int(RowOp::LogSoftmax)][F32] = log_softmax_rows<float>;
  k.row[int(RowOp::LogSoftmax)][F64] = log_softmax_rows<double>;
  k.row[int(RowOp::LogSumExp)][F32] = logsumexp_rows<float>;
  k.row[int(RowOp::LogSumExp)][F64] = logsumexp_rows<double>;
  k.row_backward[0][F32] = softmax_backward_rows<float, false>;
  k.row_backward[0][F64] = softmax_backward_rows<double, false>;
  k.row_backward[1][F32] = softmax_backward_rows<float, true>;
  k.row_backward[1][F64] = softmax_backward_rows<double, true>;
  k.cumsum[F32] = cumsum_loop<float, float>;
  k.cumsum[F64] = cumsum_loop<double, double>;
  k.cumsum[I32] = cumsum_loop<int32_t, int64_t>;
  k.cumsum[I64] = cumsum_loop<int64_t, int64_t>;
  k.cumsum[B] = cumsum_loop<bool, int64_t>;
}

}  // namespace lamina::cpu

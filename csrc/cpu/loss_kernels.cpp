// Cross entropy over rows of C contiguous logits, forward and backward, compiled once per ISA
// (see CMakeLists.txt). The forward reads each row twice (max, then the sums behind the
// log-sum-exp and the loss) and keeps only the loss and the log-sum-exp; the backward rebuilds
// softmax from the saved log-sum-exp in the same pass that writes the gradient, so the
// probabilities never exist as a tensor. Sums use 16 independent lanes so the loops vectorise
// without reassociation flags.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "cpu/kernels.h"

namespace lamina::cpu::LAMINA_ISA {
#include "cpu/fast_math.h"
namespace {

constexpr int kLanes = 16;

template <class T, class F>
T lane_sum(int64_t n, const F& f) {
  T acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += f(i + l);
  T s = 0;
  for (; i < n; ++i) s += f(i);
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

template <class T>
T lane_max(const T* x, int64_t n) {
  T acc[kLanes];
  for (int l = 0; l < kLanes; ++l) acc[l] = -std::numeric_limits<T>::infinity();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] = x[i + l] > acc[l] ? x[i + l] : acc[l];
  T m = -std::numeric_limits<T>::infinity();
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  for (int l = 0; l < kLanes; ++l) m = acc[l] > m ? acc[l] : m;
  return m;
}

template <class T>
T row_lse(const T* x, int64_t n) {
  const T m = lane_max(x, n);
  if (std::isinf(m)) return m;
  return m + T(std::log(lane_sum<T>(n, [&](int64_t i) { return vexp(T(x[i] - m)); })));
}

// The row's target distribution a (before the softmax term): a_c = (1 - eps) * w_t * [c == t]
// + eps / C * w_c for class indices, w_c * ((1 - eps) * y_c + eps / C) for probabilities.
template <class T>
struct Row {
  const CrossEntropyArgs& a;
  const T* w;
  T keep, spread;  // 1 - eps, eps / C

  explicit Row(const CrossEntropyArgs& args)
      : a(args), w(static_cast<const T*>(a.weight)), keep(T(1 - a.smoothing)), spread(T(a.smoothing / double(a.C))) {}

  T weight(int64_t c) const { return w ? w[c] : T(1); }
  const T* prob(int64_t r) const { return static_cast<const T*>(a.prob) + r * a.C; }
  bool ignored(int64_t r) const { return !a.prob && a.target[r] == a.ignore_index; }

  // Sum over c of a_c * f(c).
  template <class F>
  T weighted(int64_t r, const F& f) const {
    const int64_t C = a.C;
    if (a.prob) {
      const T* y = prob(r);
      if (w) return lane_sum<T>(C, [&](int64_t c) { return w[c] * (keep * y[c] + spread) * f(c); });
      return lane_sum<T>(C, [&](int64_t c) { return (keep * y[c] + spread) * f(c); });
    }
    const int64_t t = a.target[r];
    T s = keep * weight(t) * f(t);
    if (spread != T(0))
      s += spread * (w ? lane_sum<T>(C, [&](int64_t c) { return w[c] * f(c); })
                       : lane_sum<T>(C, [&](int64_t c) { return f(c); }));
    return s;
  }
};

template <class T>
void ce_forward(const CrossEntropyArgs& a, int64_t r0, int64_t r1) {
  Row<T> row(a);
  for (int64_t r = r0; r < r1; ++r) {
    T* loss = static_cast<T*>(a.loss) + r;
    T* lse = static_cast<T*>(a.lse) + r;
    if (row.ignored(r)) {
      *loss = 0;
      *lse = 0;
      continue;
    }
    const T* x = static_cast<const T*>(a.x) + r * a.C;
    const T l = row_lse(x, a.C);
    *lse = l;
    *loss = -row.weighted(r, [&](int64_t c) { return x[c] - l; });
  }
}

template <class T>
void ce_backward(const CrossEntropyArgs& a, int64_t r0, int64_t r1) {
  Row<T> row(a);
  const int64_t C = a.C;
  for (int64_t r = r0; r < r1; ++r) {
    T* dx = static_cast<T*>(a.dx) + r * C;
    if (row.ignored(r)) {
      std::memset(dx, 0, size_t(C) * sizeof(T));
      continue;
    }
    const T* x = static_cast<const T*>(a.x) + r * C;
    const T l = static_cast<const T*>(a.lse)[r], g = static_cast<const T*>(a.grad)[r * a.grad_stride];
    const T total = row.weighted(r, [](int64_t) { return T(1); });
    const T gs = g * total, gk = g * row.keep, gp = g * row.spread;
    const T* w = row.w;
    if (a.prob) {
      const T* y = row.prob(r);
      for (int64_t c = 0; c < C; ++c)
        dx[c] = gs * vexp(T(x[c] - l)) - (gk * y[c] + gp) * (w ? w[c] : T(1));
      continue;
    }
    if (w)
      for (int64_t c = 0; c < C; ++c) dx[c] = gs * vexp(T(x[c] - l)) - gp * w[c];
    else
      for (int64_t c = 0; c < C; ++c) dx[c] = gs * vexp(T(x[c] - l)) - gp;
    dx[a.target[r]] -= gk * row.weight(a.target[r]);
  }
}

}  // namespace
}  // namespace lamina::cpu::LAMINA_ISA

namespace lamina::cpu {

void LAMINA_ISA_FN(register_loss, LAMINA_ISA)(Kernels& k) {
  using namespace LAMINA_ISA;
  constexpr int F32 = int(DType::Float32), F64 = int(DType::Float64);
  k.cross_entropy_forward[F32] = ce_forward<float>;
  k.cross_entropy_forward[F64] = ce_forward<double>;
  k.cross_entropy_backward[F32] = ce_backward<float>;
  k.cross_entropy_backward[F64] = ce_backward<double>;
}

}  // namespace lamina::cpu

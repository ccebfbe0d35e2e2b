// Fused optimiser updates: SGD, Adam/AdamW, RMSprop and Adagrad each read the gradient and their
// state once and write the parameter and state once, per element, with no temporaries. The
// arithmetic keeps torch.optim's single-tensor order (scalars rounded to the tensor's dtype first,
// lerp's two-sided formula, division by the bias correction rather than a reciprocal), so float32
// runs track PyTorch's to rounding. Options that change the per-element work become template
// flags, so every loop body is branch-free and vectorises. Also the float64 |x|^p sums behind
// clip_grad_norm_. Compiled once per ISA (see CMakeLists.txt).
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "cpu/kernels.h"

namespace lamina::cpu::LAMINA_ISA {
namespace {

// Calls f with one std::bool_constant per runtime flag, in order, so each combination of
// options gets its own loop.
template <class F>
void with_flags(F&& f) {
  f();
}
template <class F, class... Rest>
void with_flags(F&& f, bool flag, Rest... rest) {
  if (flag)
    with_flags([&](auto... c) { f(std::true_type{}, c...); }, rest...);
  else
    with_flags([&](auto... c) { f(std::false_type{}, c...); }, rest...);
}

// torch.lerp: a + w (b - a) for w < 0.5, b - (b - a)(1 - w) otherwise (exact at w = 1).
template <class T>
inline T lerp(T a, T b, T w) {
  return w < T(0.5) ? a + w * (b - a) : b - (b - a) * (T(1) - w);
}

// torch.maximum: NaN in either operand wins.
template <class T>
inline T nan_max(T a, T b) {
  return (a != a || a > b) ? a : b;
}

template <class T>
void sgd(const SgdArgs& a, int64_t lo, int64_t hi) {
  T* p = static_cast<T*>(a.param);
  const T* g = static_cast<const T*>(a.grad);
  T* buf = static_cast<T*>(a.momentum_buffer);
  const T sign = a.maximize ? T(-1) : T(1), wd = T(a.weight_decay), mom = T(a.momentum);
  const T keep = T(1 - a.dampening), neg_lr = T(-a.lr);
  with_flags([&](auto decay, auto momentum, auto nesterov, auto first) {
    for (int64_t i = lo; i < hi; ++i) {
      T d = sign * g[i];
      if constexpr (decltype(decay)::value) d = d + wd * p[i];
      if constexpr (decltype(momentum)::value) {
        T b;
        if constexpr (decltype(first)::value) b = d;
        else b = buf[i] * mom + keep * d;
        buf[i] = b;
        if constexpr (decltype(nesterov)::value) d = d + mom * b;
        else d = b;
      }
      p[i] = p[i] + neg_lr * d;
    }
  }, a.weight_decay != 0, buf != nullptr, a.nesterov, a.first);
}

template <class T>
void adam(const AdamArgs& a, int64_t lo, int64_t hi) {
  T* p = static_cast<T*>(a.param);
  const T* g = static_cast<const T*>(a.grad);
  T* m = static_cast<T*>(a.exp_avg);
  T* v = static_cast<T*>(a.exp_avg_sq);
  T* vmax = static_cast<T*>(a.max_exp_avg_sq);
  const T sign = a.maximize ? T(-1) : T(1), wd = T(a.weight_decay), shrink = T(1 - a.lr * a.weight_decay);
  const T w1 = T(1 - a.beta1), b2 = T(a.beta2), w2 = T(1 - a.beta2), eps = T(a.eps);
  const T bc2 = T(a.bias_correction2_sqrt), neg_step = T(-a.step_size);
  with_flags([&](auto decay, auto decoupled, auto amsgrad) {
    for (int64_t i = lo; i < hi; ++i) {
      T gi = sign * g[i], pi = p[i];
      if constexpr (decltype(decoupled)::value) pi = pi * shrink;
      if constexpr (decltype(decay)::value) gi = gi + wd * pi;
      const T mi = lerp(m[i], gi, w1);
      T vi = v[i] * b2 + w2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      if constexpr (decltype(amsgrad)::value) vmax[i] = vi = nan_max(vmax[i], vi);
      const T denom = std::sqrt(vi) / bc2 + eps;
      p[i] = pi + neg_step * (mi / denom);
    }
  }, a.weight_decay != 0 && !a.decoupled, a.weight_decay != 0 && a.decoupled, vmax != nullptr);
}

template <class T>
void rmsprop(const RmspropArgs& a, int64_t lo, int64_t hi) {
  T* p = static_cast<T*>(a.param);
  const T* g = static_cast<const T*>(a.grad);
  T* sq = static_cast<T*>(a.square_avg);
  T* ga = static_cast<T*>(a.grad_avg);
  T* buf = static_cast<T*>(a.momentum_buffer);
  const T sign = a.maximize ? T(-1) : T(1), wd = T(a.weight_decay), alpha = T(a.alpha), w = T(1 - a.alpha);
  const T eps = T(a.eps), mom = T(a.momentum), neg_lr = T(-a.lr);
  with_flags([&](auto decay, auto centered, auto momentum) {
    for (int64_t i = lo; i < hi; ++i) {
      T gi = sign * g[i];
      if constexpr (decltype(decay)::value) gi = gi + wd * p[i];
      const T s = sq[i] * alpha + w * gi * gi;
      sq[i] = s;
      T avg;
      if constexpr (decltype(centered)::value) {
        const T c = lerp(ga[i], gi, w);
        ga[i] = c;
        avg = std::sqrt(s + T(-1) * c * c);
      } else {
        avg = std::sqrt(s);
      }
      avg = avg + eps;
      if constexpr (decltype(momentum)::value) {
        const T b = buf[i] * mom + gi / avg;
        buf[i] = b;
        p[i] = p[i] + neg_lr * b;
      } else {
        p[i] = p[i] + neg_lr * (gi / avg);
      }
    }
  }, a.weight_decay != 0, ga != nullptr, buf != nullptr);
}

template <class T>
void adagrad(const AdagradArgs& a, int64_t lo, int64_t hi) {
  T* p = static_cast<T*>(a.param);
  const T* g = static_cast<const T*>(a.grad);
  T* sum = static_cast<T*>(a.sum);
  const T sign = a.maximize ? T(-1) : T(1), wd = T(a.weight_decay), eps = T(a.eps), neg_clr = T(-a.clr);
  with_flags([&](auto decay) {
    for (int64_t i = lo; i < hi; ++i) {
      T gi = sign * g[i];
      if constexpr (decltype(decay)::value) gi = gi + wd * p[i];
      const T s = sum[i] + gi * gi;
      sum[i] = s;
      p[i] = p[i] + neg_clr * (gi / (std::sqrt(s) + eps));
    }
  }, a.weight_decay != 0);
}

// Independent float64 lanes let the sums vectorise without reassociation flags.
template <class T, class F>
double lane_sum(const T* x, int64_t n, const F& f) {
  constexpr int L = 8;
  double acc[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int l = 0; l < L; ++l) acc[l] += f(double(x[i + l]));
  double s = 0;
  for (; i < n; ++i) s += f(double(x[i]));
  for (int l = 0; l < L; ++l) s += acc[l];
  return s;
}

template <class T>
double pow_sum(const void* data, int64_t n, double p) {
  const T* x = static_cast<const T*>(data);
  if (std::isinf(p)) {
    T m = T(0);
    for (int64_t i = 0; i < n; ++i) m = nan_max(m, std::abs(x[i]));
    return double(m);
  }
  if (p == 2) return lane_sum(x, n, [](double v) { return v * v; });
  if (p == 1) return lane_sum(x, n, [](double v) { return std::abs(v); });
  return lane_sum(x, n, [p](double v) { return std::pow(std::abs(v), p); });
}

}  // namespace
}  // namespace lamina::cpu::LAMINA_ISA

namespace lamina::cpu {

void LAMINA_ISA_FN(register_optim, LAMINA_ISA)(Kernels& k) {
  using namespace LAMINA_ISA;
  k.sgd[int(DType::Float32)] = sgd<float>;
  k.sgd[int(DType::Float64)] = sgd<double>;
  k.adam[int(DType::Float32)] = adam<float>;
  k.adam[int(DType::Float64)] = adam<double>;
  k.rmsprop[int(DType::Float32)] = rmsprop<float>;
  k.rmsprop[int(DType::Float64)] = rmsprop<double>;
  k.adagrad[int(DType::Float32)] = adagrad<float>;
  k.adagrad[int(DType::Float64)] = adagrad<double>;
  k.pow_sum[int(DType::Float32)] = pow_sum<float>;
  k.pow_sum[int(DType::Float64)] = pow_sum<double>;
}

}  // namespace lamina::cpu

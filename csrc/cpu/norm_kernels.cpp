// Layer norm and RMS norm over the last n elements of each row, forward and backward, fused:
// one pass computes the row's sum and sum of squares (in float64 for float32 rows, so long rows
// stay accurate), a second writes the normalised, scaled and shifted row. The backward recomputes
// x-hat from the saved mean and 1/std, writes dx row by row, and accumulates dgamma/dbeta
// into per-caller partial sums (ops/norm.cpp gives each thread its own and adds them).
// Compiled once per ISA (see CMakeLists.txt).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "cpu/kernels.h"

namespace lamina::cpu::LAMINA_ISA {
namespace {

// Sums f(i) and h(i) for i < n in float64 in one pass, with independent lanes so the loop
// vectorises without reassociation flags.
template <class F, class H>
inline void lane_sums(int64_t n, const F& f, const H& h, double& sf, double& sh) {
  constexpr int L = 8;
  double a[L] = {}, b[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int l = 0; l < L; ++l) {
      a[l] += f(i + l);
      b[l] += h(i + l);
    }
  sf = 0;
  sh = 0;
  for (; i < n; ++i) {
    sf += f(i);
    sh += h(i);
  }
  for (int l = 0; l < L; ++l) {
    sf += a[l];
    sh += b[l];
  }
}

template <class T>
void norm_forward(const NormArgs& a, int64_t r0, int64_t r1) {
  const int64_t n = a.n;
  const T* gamma = static_cast<const T*>(a.gamma);
  const T* beta = static_cast<const T*>(a.beta);
  for (int64_t r = r0; r < r1; ++r) {
    const T* x = static_cast<const T*>(a.x) + r * n;
    T* y = static_cast<T*>(a.y) + r * n;
    // One pass for sum and sum of squares; float64 keeps E[x^2] - E[x]^2 accurate for float32 rows.
    double sum, sumsq;
    lane_sums(n, [&](int64_t i) { return double(x[i]); }, [&](int64_t i) { return double(x[i]) * double(x[i]); },
              sum, sumsq);
    const double mean = a.rms ? 0.0 : sum / double(n);
    const double var = std::max(0.0, sumsq / double(n) - mean * mean);
    const double rstd = 1.0 / std::sqrt(var + a.eps);
    const T m = T(mean), s = T(rstd);
    if (gamma && beta)
      for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) * s * gamma[i] + beta[i];
    else if (gamma)
      for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) * s * gamma[i];
    else if (beta)
      for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) * s + beta[i];
    else
      for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) * s;
    static_cast<T*>(a.mean)[r] = m;
    static_cast<T*>(a.rstd)[r] = s;
  }
}

template <class T>
void norm_backward(const NormArgs& a, int64_t r0, int64_t r1, double* dgamma, double* dbeta) {
  const int64_t n = a.n;
  const T* gamma = static_cast<const T*>(a.gamma);
  for (int64_t r = r0; r < r1; ++r) {
    const T* x = static_cast<const T*>(a.x) + r * n;
    const T* g = static_cast<const T*>(a.dy) + r * n;
    T* dx = static_cast<T*>(a.dx) + r * n;
    const T m = static_cast<const T*>(a.mean)[r], s = static_cast<const T*>(a.rstd)[r];
    // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)); RMS norm drops mean(dxhat).
    auto dxhat = [&](int64_t i) { return gamma ? g[i] * gamma[i] : g[i]; };
    double sum_d, sum_dx;
    lane_sums(n, [&](int64_t i) { return double(dxhat(i)); },
              [&](int64_t i) { return double(dxhat(i)) * double((x[i] - m) * s); }, sum_d, sum_dx);
    if (dgamma && dbeta)
      for (int64_t i = 0; i < n; ++i) {
        dgamma[i] += double(g[i]) * double((x[i] - m) * s);
        dbeta[i] += double(g[i]);
      }
    else if (dgamma)
      for (int64_t i = 0; i < n; ++i) dgamma[i] += double(g[i]) * double((x[i] - m) * s);
    else if (dbeta)
      for (int64_t i = 0; i < n; ++i) dbeta[i] += double(g[i]);
    const T c1 = a.rms ? T(0) : T(sum_d / double(n)), c2 = T(sum_dx / double(n));  // rms: no mean term
    for (int64_t i = 0; i < n; ++i) dx[i] = s * (dxhat(i) - c1 - (x[i] - m) * s * c2);
  }
}

}  // namespace
}  // namespace lamina::cpu::LAMINA_ISA

namespace lamina::cpu {

void LAMINA_ISA_FN(register_norm, LAMINA_ISA)(Kernels& k) {
  using namespace LAMINA_ISA;
  k.norm_forward[int(DType::Float32)] = norm_forward<float>;
  k.norm_forward[int(DType::Float64)] = norm_forward<double>;
  k.norm_backward[int(DType::Float32)] = norm_backward<float>;
  k.norm_backward[int(DType::Float64)] = norm_backward<double>;
}

}  // namespace lamina::cpu

// Layer norm and RMS norm over the last n elements of each row, forward and backward, fused.
// The forward sums x - x[0] and its square in one pass (shifted by a sample of the row, the
// variance does not cancel badly), then writes the normalised, scaled and shifted row. The
// backward recomputes x-hat from the saved mean and 1/std: one pass sums dxhat and dxhat * xhat
// and adds this row's dgamma/dbeta terms into the thread's running sums, a second writes dx.
// Vector sums run in the element type and are folded into float64 every kChunk elements, and
// dgamma/dbeta every kRowsPerFlush rows, so long rows and many rows stay accurate.
// Compiled once per ISA (see CMakeLists.txt).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/vec.h"

namespace lamina::cpu::LAMINA_ISA {
namespace {

constexpr int64_t kChunk = 4096;
constexpr int64_t kRowsPerFlush = 16;

// Sums of d and d * d over a row, d = x[i] - shift, in four vector accumulators each.
template <class T>
void shifted_sums(const T* x, int64_t n, T shift, double& sum, double& sumsq) {
  using V = LanesT<T>;
  constexpr int W = kLanes<T>, U = 4;
  sum = sumsq = 0;
  for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
    const int64_t c1 = std::min(n, c0 + kChunk);
    V a[U] = {}, b[U] = {};
    int64_t i = c0;
    for (; i + U * W <= c1; i += U * W)
      for (int u = 0; u < U; ++u) {
        const V d = load_lanes(x + i + u * W) - shift;
        a[u] += d;
        b[u] += d * d;
      }
    for (; i + W <= c1; i += W) {
      const V d = load_lanes(x + i) - shift;
      a[0] += d;
      b[0] += d * d;
    }
    T s = hsum<T>((a[0] + a[1]) + (a[2] + a[3])), q = hsum<T>((b[0] + b[1]) + (b[2] + b[3]));
    for (; i < c1; ++i) {
      const T d = x[i] - shift;
      s += d;
      q += d * d;
    }
    sum += double(s);
    sumsq += double(q);
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
    // Shifted by a sample of the row, the sums never cancel badly however far x sits from zero.
    const T shift = a.rms || n == 0 ? T(0) : x[0];
    double sum, sumsq;
    shifted_sums(x, n, shift, sum, sumsq);
    const double dm = a.rms ? 0.0 : sum / double(n);
    const double var = std::max(0.0, sumsq / double(n) - dm * dm);
    // x - shift - dm rather than x - mean: the mean rounded to T would be off by up to half
    // an ulp of its magnitude, which is large against the spread of data far from zero.
    const T d = T(dm), s = T(1.0 / std::sqrt(var + a.eps));
    if (gamma && beta)
      for (int64_t i = 0; i < n; ++i) y[i] = ((x[i] - shift) - d) * s * gamma[i] + beta[i];
    else if (gamma)
      for (int64_t i = 0; i < n; ++i) y[i] = ((x[i] - shift) - d) * s * gamma[i];
    else if (beta)
      for (int64_t i = 0; i < n; ++i) y[i] = ((x[i] - shift) - d) * s + beta[i];
    else
      for (int64_t i = 0; i < n; ++i) y[i] = ((x[i] - shift) - d) * s;
    static_cast<T*>(a.mean)[r] = T(double(shift) + dm);
    static_cast<T*>(a.rstd)[r] = s;
  }
}

// One row's sums of dxhat (= dy * gamma) and dxhat * xhat, adding dy * xhat and dy into
// dg/db (each may be null) on the way.
template <class T>
void backward_sums(const T* x, const T* g, const T* gamma, int64_t n, T m, T s, T* dg, T* db, double& sum_d,
                   double& sum_dx) {
  using V = LanesT<T>;
  constexpr int W = kLanes<T>;
  sum_d = sum_dx = 0;
  for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
    const int64_t c1 = std::min(n, c0 + kChunk);
    V ad = {}, adx = {};
    int64_t i = c0;
    for (; i + W <= c1; i += W) {
      const V gv = load_lanes(g + i), xh = (load_lanes(x + i) - m) * s;
      const V d = gamma ? gv * load_lanes(gamma + i) : gv;
      ad += d;
      adx += d * xh;
      if (dg) store_lanes(dg + i, load_lanes(dg + i) + gv * xh);
      if (db) store_lanes(db + i, load_lanes(db + i) + gv);
    }
    T sd = hsum<T>(ad), sdx = hsum<T>(adx);
    for (; i < c1; ++i) {
      const T xh = (x[i] - m) * s, d = gamma ? g[i] * gamma[i] : g[i];
      sd += d;
      sdx += d * xh;
      if (dg) dg[i] += g[i] * xh;
      if (db) db[i] += g[i];
    }
    sum_d += double(sd);
    sum_dx += double(sdx);
  }
}

template <class T>
void norm_backward(const NormArgs& a, int64_t r0, int64_t r1, double* dgamma, double* dbeta) {
  const int64_t n = a.n;
  const T* gamma = static_cast<const T*>(a.gamma);
  // This range's dgamma/dbeta run in T for up to kRowsPerFlush rows, then go into the float64 sums.
  std::vector<T> dg(dgamma ? size_t(n) : 0), db(dbeta ? size_t(n) : 0);
  auto flush = [&] {
    for (int64_t i = 0; i < (dgamma ? n : 0); ++i) dgamma[i] += double(dg[i]), dg[i] = 0;
    for (int64_t i = 0; i < (dbeta ? n : 0); ++i) dbeta[i] += double(db[i]), db[i] = 0;
  };
  for (int64_t r = r0; r < r1; ++r) {
    const T* x = static_cast<const T*>(a.x) + r * n;
    const T* g = static_cast<const T*>(a.dy) + r * n;
    T* dx = static_cast<T*>(a.dx) + r * n;
    const T m = static_cast<const T*>(a.mean)[r], s = static_cast<const T*>(a.rstd)[r];
    // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)); RMS norm drops mean(dxhat).
    double sum_d, sum_dx;
    backward_sums(x, g, gamma, n, m, s, dgamma ? dg.data() : nullptr, dbeta ? db.data() : nullptr, sum_d, sum_dx);
    if ((r - r0) % kRowsPerFlush == kRowsPerFlush - 1) flush();
    const T c1 = a.rms ? T(0) : T(sum_d / double(n)), c2 = T(sum_dx / double(n));
    if (gamma)
      for (int64_t i = 0; i < n; ++i) dx[i] = s * (g[i] * gamma[i] - c1 - (x[i] - m) * s * c2);
    else
      for (int64_t i = 0; i < n; ++i) dx[i] = s * (g[i] - c1 - (x[i] - m) * s * c2);
  }
  flush();
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

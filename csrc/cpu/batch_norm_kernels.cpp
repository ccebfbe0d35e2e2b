// Batch norm's two passes over a contiguous x viewed as (N, C, HW), shared by the forward and
// the backward (ops/batch_norm.cpp picks the coefficients):
//   stats: per channel, float64 sums of u and u * (x - shift) (u = x - shift forward, dy backward);
//          the shift is a sample of the channel (forward) or its mean (backward), so the sums
//          never cancel badly however far the data sit from zero;
//   apply: out = (x - shift) * p + q + dy * r per element with per-channel p, q, r.
// Rows (HW > 1) are read in memory order, each summed in float64 vector lanes and folded into
// its channel's totals; HW == 1 (ops fold small spatial sizes into C) vectorises across
// channels instead.
// Compiled once per ISA (see CMakeLists.txt).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu/kernels.h"
#include "cpu/vec.h"

namespace lamina::cpu::LAMINA_ISA {
namespace {

// float64 vectors as wide as the ISA's registers (GCC vector extensions: plain loops with
// array accumulators get unrolled into scalars before the vectoriser sees them).
constexpr int kWidth = kVecBytes == 64 ? 8 : 4;
using dvec = double __attribute__((vector_size(kWidth * sizeof(double))));
// Independent accumulators per sum, enough to cover the add latency.
constexpr int kUnroll = 4;
constexpr int64_t kStep = kWidth * kUnroll;

// Loads kWidth elements as float64 (an out-parameter: vector return values trip GCC's ABI
// warning in the portable build).
template <class T>
inline void load(const T* p, dvec& out) {
  if constexpr (std::is_same_v<T, double>) {
    std::memcpy(&out, p, sizeof out);
  } else {
    using fvec = float __attribute__((vector_size(kWidth * sizeof(float))));
    fvec v;
    std::memcpy(&v, p, sizeof v);
    out = __builtin_convertvector(v, dvec);
  }
}

inline double hsum(const dvec (&v)[kUnroll]) {
  double s = 0;
  for (int u = 0; u < kUnroll; ++u)
    for (int l = 0; l < kWidth; ++l) s += v[u][l];
  return s;
}

// Rows in memory order (sample by sample, so the hardware prefetcher sees one stream); each
// row's vector sums are folded into its channel's float64 totals.
template <class T, bool kGrad>
void stats_rows(const BatchNormArgs& a, int64_t n0, int64_t n1, int64_t c0, int64_t c1, double* s1, double* s2) {
  const int64_t HW = a.HW, body = HW - HW % kStep;
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t c = c0; c < c1; ++c) {
      const double k = a.shift[c];
      const dvec kv = dvec{} + k;
      dvec su[kUnroll] = {}, sd[kUnroll] = {};
      double tu = 0, td = 0;
      const int64_t off = (n * a.C + c) * HW;
      const T* x = static_cast<const T*>(a.x) + off;
      const T* g = kGrad ? static_cast<const T*>(a.dy) + off : nullptr;
      for (int64_t i = 0; i < body; i += kStep)
        for (int u = 0; u < kUnroll; ++u) {
          dvec d, v;
          load(x + i + u * kWidth, d);
          d -= kv;
          if constexpr (kGrad) load(g + i + u * kWidth, v);
          else v = d;
          su[u] += v;
          sd[u] += v * d;
        }
      for (int64_t i = body; i < HW; ++i) {
        const double d = double(x[i]) - k;
        const double v = kGrad ? double(g[i]) : d;
        tu += v;
        td += v * d;
      }
      s1[c] += tu + hsum(su);
      s2[c] += td + hsum(sd);
    }
}

template <class T, bool kGrad>
void stats_cols(const BatchNormArgs& a, int64_t n0, int64_t n1, int64_t c0, int64_t c1, double* __restrict s1,
                double* __restrict s2) {
  const double* __restrict k = a.shift;
  for (int64_t n = n0; n < n1; ++n) {
    const T* __restrict x = static_cast<const T*>(a.x) + n * a.C;
    const T* __restrict g = kGrad ? static_cast<const T*>(a.dy) + n * a.C : nullptr;
    for (int64_t c = c0; c < c1; ++c) {
      const double d = double(x[c]) - k[c];
      const double u = kGrad ? double(g[c]) : d;
      s1[c] += u;
      s2[c] += u * d;
    }
  }
}

template <class T>
void batch_norm_stats(const BatchNormArgs& a, int64_t n0, int64_t n1, int64_t c0, int64_t c1, double* s1,
                      double* s2) {
  if (a.HW == 1)
    (a.dy ? stats_cols<T, true> : stats_cols<T, false>)(a, n0, n1, c0, c1, s1, s2);
  else
    (a.dy ? stats_rows<T, true> : stats_rows<T, false>)(a, n0, n1, c0, c1, s1, s2);
}

template <class T, bool kX, bool kDy>
void apply_rows(const BatchNormArgs& a, int64_t r0, int64_t r1) {
  const int64_t HW = a.HW;
  for (int64_t r = r0, c = r0 % a.C; r < r1; ++r, c = c + 1 == a.C ? 0 : c + 1) {
    // The shift in two parts, so x - shift stays exact to T's precision even when the shift
    // (a mean far from zero) does not fit in T.
    const T khi = T(a.shift[c]), klo = T(a.shift[c] - double(khi));
    const T p = T(a.p[c]), q = T(a.q[c]), rr = T(a.r[c]);
    const T* __restrict x = kX ? static_cast<const T*>(a.x) + r * HW : nullptr;
    const T* __restrict g = kDy ? static_cast<const T*>(a.dy) + r * HW : nullptr;
    T* __restrict o = static_cast<T*>(a.out) + r * HW;
    for (int64_t i = 0; i < HW; ++i) {
      T v = q;
      if constexpr (kX) v += (x[i] - khi - klo) * p;
      if constexpr (kDy) v += g[i] * rr;
      o[i] = v;
    }
  }
}

// HW == 1: rows are single elements, so each sample's run of channels is one vector loop.
template <class T, bool kX, bool kDy>
void apply_cols(const BatchNormArgs& a, int64_t r0, int64_t r1) {
  const double* __restrict k = a.shift;
  const double* __restrict p = a.p;
  const double* __restrict q = a.q;
  const double* __restrict rr = a.r;
  for (int64_t r = r0; r < r1;) {
    const int64_t c0 = r % a.C, len = std::min(a.C - c0, r1 - r);
    const T* __restrict x = kX ? static_cast<const T*>(a.x) + r - c0 : nullptr;
    const T* __restrict g = kDy ? static_cast<const T*>(a.dy) + r - c0 : nullptr;
    T* __restrict o = static_cast<T*>(a.out) + r - c0;
    for (int64_t c = c0; c < c0 + len; ++c) {
      double v = q[c];
      if constexpr (kX) v += (double(x[c]) - k[c]) * p[c];
      if constexpr (kDy) v += double(g[c]) * rr[c];
      o[c] = T(v);
    }
    r += len;
  }
}

template <class T, bool kX, bool kDy>
void apply_any(const BatchNormArgs& a, int64_t r0, int64_t r1) {
  (a.HW == 1 ? apply_cols<T, kX, kDy> : apply_rows<T, kX, kDy>)(a, r0, r1);
}

template <class T>
void batch_norm_apply(const BatchNormArgs& a, int64_t r0, int64_t r1) {
  if (a.x)
    (a.dy ? apply_any<T, true, true> : apply_any<T, true, false>)(a, r0, r1);
  else
    (a.dy ? apply_any<T, false, true> : apply_any<T, false, false>)(a, r0, r1);
}

}  // namespace
}  // namespace lamina::cpu::LAMINA_ISA

namespace lamina::cpu {

void LAMINA_ISA_FN(register_batch_norm, LAMINA_ISA)(Kernels& k) {
  using namespace LAMINA_ISA;
  k.batch_norm_stats[int(DType::Float32)] = batch_norm_stats<float>;
  k.batch_norm_stats[int(DType::Float64)] = batch_norm_stats<double>;
  k.batch_norm_apply[int(DType::Float32)] = batch_norm_apply<float>;
  k.batch_norm_apply[int(DType::Float64)] = batch_norm_apply<double>;
}

}  // namespace lamina::cpu

// Convolution inner loops, compiled once per ISA (see CMakeLists.txt): the patch-matrix copies
// that feed the GEMM (im2col, and col2im for the data gradient) and the direct loops of a
// depthwise convolution, one input plane against one small filter. Every loop walks output
// pixels a row at a time and splits each row, per tap, into the columns that fall inside the
// image and those that fall into the padding, so the inner loops carry no bounds checks and
// become unit-stride vector code when the stride is 1.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "cpu/kernels.h"

namespace lamina::cpu::LAMINA_ISA {
namespace {

// Output columns [a, b) within [ox, ox + run) whose input column ox * s + off lies in [0, W).
struct Span { int64_t a, b; };
inline Span inside(int64_t off, int64_t s, int64_t W, int64_t ox, int64_t run) {
  const int64_t lo = off >= 0 ? 0 : (-off + s - 1) / s;
  const int64_t hi = off >= W ? 0 : (W - 1 - off) / s + 1;
  const int64_t a = std::clamp<int64_t>(lo - ox, 0, run), b = std::clamp<int64_t>(hi - ox, 0, run);
  return {a, std::max(a, b)};
}

// Calls f(oy, ox, j, run) for each row segment of output pixels [p0, p0 + np): `run` pixels of
// output row oy starting at column ox, which are columns j.. of the patch matrix.
template <class F>
inline void for_rows(const ConvGeom& g, int64_t p0, int64_t np, const F& f) {
  int64_t oy = p0 / g.OW, ox = p0 % g.OW;
  for (int64_t j = 0; j < np; ox = 0, ++oy) {
    const int64_t run = std::min(g.OW - ox, np - j);
    f(oy, ox, j, run);
    j += run;
  }
}

template <class T>
void im2col(const ConvGeom& g, const void* xv, int64_t p0, int64_t np, void* colv) {
  const T* x = static_cast<const T*>(xv);
  T* col = static_cast<T*>(colv);
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t ky = 0; ky < g.KH; ++ky)
      for (int64_t kx = 0; kx < g.KW; ++kx) {
        T* dst = col + ((c * g.KH + ky) * g.KW + kx) * np;
        const int64_t off = kx * g.dw - g.pl;
        for_rows(g, p0, np, [&](int64_t oy, int64_t ox, int64_t j, int64_t run) {
          T* d = dst + j;
          const int64_t iy = oy * g.sh - g.pt + ky * g.dh;
          if (iy < 0 || iy >= g.H) {
            std::fill(d, d + run, T(0));
            return;
          }
          const T* row = x + (c * g.H + iy) * g.W + off;
          const Span s = inside(off, g.sw, g.W, ox, run);
          std::fill(d, d + s.a, T(0));
          if (g.sw == 1)
            std::memcpy(d + s.a, row + ox + s.a, size_t(s.b - s.a) * sizeof(T));
          else
            for (int64_t t = s.a; t < s.b; ++t) d[t] = row[(ox + t) * g.sw];
          std::fill(d + s.b, d + run, T(0));
        });
      }
}

// Short copies and fills, in fixed-size pieces the compiler turns into register moves (a
// library call per patch row segment would cost more than the copy).
template <class T>
inline void copy_short(T* __restrict d, const T* __restrict s, int64_t n) {
  int64_t t = 0;
  for (; t + 8 <= n; t += 8) std::memcpy(d + t, s + t, 8 * sizeof(T));
  if (n & 4) { std::memcpy(d + t, s + t, 4 * sizeof(T)); t += 4; }
  if (n & 2) { std::memcpy(d + t, s + t, 2 * sizeof(T)); t += 2; }
  if (n & 1) d[t] = s[t];
}
template <class T>
inline void zero_short(T* d, int64_t n) {
  static constexpr T zeros[8] = {};
  int64_t t = 0;
  for (; t + 8 <= n; t += 8) std::memcpy(d + t, zeros, 8 * sizeof(T));
  for (; t < n; ++t) d[t] = T(0);
}

// Writes d[t] for t in [t0, t1): zero outside [a, b) (the padding), src[t * s] inside.
template <class T>
inline void copy_span(T* d, const T* src, int64_t s, int64_t t0, int64_t t1, int64_t a, int64_t b) {
  const int64_t m0 = std::clamp(a, t0, t1), m1 = std::clamp(b, m0, t1);
  zero_short(d + t0, m0 - t0);
  if (s == 1)
    copy_short(d + m0, src + m0, m1 - m0);
  else
    for (int64_t t = m0; t < m1; ++t) d[t] = src[t * s];
  zero_short(d + m1, t1 - m1);
}

template <class T>
void im2col_panels(const ConvGeom& g, const void* xv, int64_t p0, int64_t np, int64_t nr, void* outv) {
  const T* x = static_cast<const T*>(xv);
  T* out = static_cast<T*>(outv);
  const int64_t K = g.C * g.KH * g.KW, panel = K * nr;
  const int shift = __builtin_ctzll(uint64_t(nr));  // nr is a power of two
  if (np % nr)
    for (int64_t k = 0; k < K; ++k) zero_short(out + np / nr * panel + k * nr + np % nr, nr - np % nr);
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t ky = 0; ky < g.KH; ++ky)
      for (int64_t kx = 0; kx < g.KW; ++kx) {
        T* dst = out + ((c * g.KH + ky) * g.KW + kx) * nr;
        const int64_t off = kx * g.dw - g.pl;
        const Span whole = inside(off, g.sw, g.W, 0, g.OW);  // the span of every full output row
        for_rows(g, p0, np, [&](int64_t oy, int64_t ox, int64_t j, int64_t run) {
          const int64_t iy = oy * g.sh - g.pt + ky * g.dh;
          const bool row_in = iy >= 0 && iy < g.H;
          const T* src = x + (c * g.H + (row_in ? iy : 0)) * g.W + off + ox * g.sw;
          const Span s = !row_in ? Span{0, 0} : run == g.OW ? whole : inside(off, g.sw, g.W, ox, run);
          // The segment crosses a panel boundary every nr columns; d is offset so that d[t] is column j + t.
          for (int64_t t = 0, q = j >> shift, r = j & (nr - 1); t < run; ++q, r = 0) {
            const int64_t len = std::min(nr - r, run - t);
            copy_span(dst + q * panel + r - t, src, g.sw, t, t + len, s.a, s.b);
            t += len;
          }
        });
      }
}

template <class T>
void col2im(const ConvGeom& g, const void* colv, int64_t p0, int64_t np, void* dxv) {
  const T* col = static_cast<const T*>(colv);
  T* dx = static_cast<T*>(dxv);
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t ky = 0; ky < g.KH; ++ky)
      for (int64_t kx = 0; kx < g.KW; ++kx) {
        const T* src = col + ((c * g.KH + ky) * g.KW + kx) * np;
        const int64_t off = kx * g.dw - g.pl;
        for_rows(g, p0, np, [&](int64_t oy, int64_t ox, int64_t j, int64_t run) {
          const int64_t iy = oy * g.sh - g.pt + ky * g.dh;
          if (iy < 0 || iy >= g.H) return;
          T* row = dx + (c * g.H + iy) * g.W + off;
          const T* s_ = src + j;
          const Span s = inside(off, g.sw, g.W, ox, run);
          if (g.sw == 1)
            for (int64_t t = s.a; t < s.b; ++t) row[ox + t] += s_[t];
          else
            for (int64_t t = s.a; t < s.b; ++t) row[(ox + t) * g.sw] += s_[t];
        });
      }
}

// Calls f(out_row, in_row, w_tap, a, b) for every output row and tap whose input row exists:
// out_row[ox] pairs with in_row[ox * sw] (in_row already offset by the tap's column) for ox in [a, b).
template <class F>
inline void for_taps(const ConvGeom& g, const F& f) {
  for (int64_t oy = 0; oy < g.OH; ++oy)
    for (int64_t ky = 0; ky < g.KH; ++ky) {
      const int64_t iy = oy * g.sh - g.pt + ky * g.dh;
      if (iy < 0 || iy >= g.H) continue;
      for (int64_t kx = 0; kx < g.KW; ++kx) {
        const int64_t off = kx * g.dw - g.pl;
        const Span s = inside(off, g.sw, g.W, 0, g.OW);
        if (s.a < s.b) f(oy * g.OW, iy * g.W + off, ky * g.KW + kx, s.a, s.b);
      }
    }
}

// Depthwise forward for 3 taps per row at stride 1: each output vector gathers its three taps
// in registers, one store per output row and filter row instead of one per tap.
template <class T>
bool plane_conv_3wide(const ConvGeom& g, const T* x, const T* w, T* y) {
  if (g.KW != 3 || g.sw != 1 || g.OW < 3) return false;
  for (int64_t oy = 0; oy < g.OH; ++oy) {
    T* yr = y + oy * g.OW;
    for (int64_t ky = 0; ky < g.KH; ++ky) {
      const int64_t iy = oy * g.sh - g.pt + ky * g.dh;
      if (iy < 0 || iy >= g.H) continue;
      const T* r = x + iy * g.W - g.pl;
      const T w0 = w[ky * 3], w1 = w[ky * 3 + 1], w2 = w[ky * 3 + 2];
      const int64_t d = g.dw;
      // Columns where all three taps are inside the row, then the ragged edges tap by tap.
      const Span s0 = inside(-g.pl, 1, g.W, 0, g.OW), s2 = inside(2 * d - g.pl, 1, g.W, 0, g.OW);
      const int64_t a = std::max(s0.a, s2.a), b = std::min(s0.b, s2.b);
      for (int64_t ox = a; ox < b; ++ox) yr[ox] += w0 * r[ox] + w1 * r[ox + d] + w2 * r[ox + 2 * d];
      for (int64_t kx = 0; kx < 3; ++kx) {
        const Span s = inside(kx * d - g.pl, 1, g.W, 0, g.OW);
        const T wv = w[ky * 3 + kx];
        for (int64_t ox = s.a; ox < std::min(s.b, a); ++ox) yr[ox] += wv * r[ox + kx * d];
        for (int64_t ox = std::max(s.a, std::max(a, b)); ox < s.b; ++ox) yr[ox] += wv * r[ox + kx * d];
      }
    }
  }
  return true;
}

template <class T>
void plane_conv(const ConvGeom& g, const void* xv, const void* wv, void* yv) {
  const T* x = static_cast<const T*>(xv);
  const T* w = static_cast<const T*>(wv);
  T* y = static_cast<T*>(yv);
  if (plane_conv_3wide(g, x, w, y)) return;
  const int64_t s = g.sw;
  for_taps(g, [&](int64_t yo, int64_t xo, int64_t k, int64_t a, int64_t b) {
    T* yr = y + yo;
    const T* xr = x + xo;
    const T wk = w[k];
    if (s == 1)
      for (int64_t ox = a; ox < b; ++ox) yr[ox] += wk * xr[ox];
    else
      for (int64_t ox = a; ox < b; ++ox) yr[ox] += wk * xr[ox * s];
  });
}

template <class T>
void plane_conv_data(const ConvGeom& g, const void* dyv, const void* wv, void* dxv) {
  const T* dy = static_cast<const T*>(dyv);
  const T* w = static_cast<const T*>(wv);
  T* dx = static_cast<T*>(dxv);
  const int64_t s = g.sw;
  for_taps(g, [&](int64_t yo, int64_t xo, int64_t k, int64_t a, int64_t b) {
    const T* gr = dy + yo;
    T* xr = dx + xo;
    const T wk = w[k];
    if (s == 1)
      for (int64_t ox = a; ox < b; ++ox) xr[ox] += wk * gr[ox];
    else
      for (int64_t ox = a; ox < b; ++ox) xr[ox * s] += wk * gr[ox];
  });
}

template <class T>
void plane_conv_weight(const ConvGeom& g, const void* xv, const void* dyv, void* dwv) {
  const T* x = static_cast<const T*>(xv);
  const T* dy = static_cast<const T*>(dyv);
  T* dw = static_cast<T*>(dwv);
  const int64_t s = g.sw;
  for_taps(g, [&](int64_t yo, int64_t xo, int64_t k, int64_t a, int64_t b) {
    const T* gr = dy + yo;
    const T* xr = x + xo;
    // Independent lanes let the dot product vectorise without reassociation flags.
    constexpr int L = 8;
    T lanes[L] = {};
    int64_t ox = a;
    if (s == 1)
      for (; ox + L <= b; ox += L)
        for (int l = 0; l < L; ++l) lanes[l] += gr[ox + l] * xr[ox + l];
    T acc = 0;
    for (; ox < b; ++ox) acc += gr[ox] * xr[ox * s];
    for (int l = 0; l < L; ++l) acc += lanes[l];
    dw[k] += acc;
  });
}

}  // namespace
}  // namespace lamina::cpu::LAMINA_ISA

namespace lamina::cpu {

void LAMINA_ISA_FN(register_conv, LAMINA_ISA)(Kernels& k) {
  using namespace LAMINA_ISA;
  k.im2col[int(DType::Float32)] = im2col<float>;
  k.im2col[int(DType::Float64)] = im2col<double>;
  k.col2im[int(DType::Float32)] = col2im<float>;
  k.col2im[int(DType::Float64)] = col2im<double>;
  k.im2col_panels[int(DType::Float32)] = im2col_panels<float>;
  k.im2col_panels[int(DType::Float64)] = im2col_panels<double>;
  k.plane_conv[int(DType::Float32)] = plane_conv<float>;
  k.plane_conv[int(DType::Float64)] = plane_conv<double>;
  k.plane_conv_data[int(DType::Float32)] = plane_conv_data<float>;
  k.plane_conv_data[int(DType::Float64)] = plane_conv_data<double>;
  k.plane_conv_weight[int(DType::Float32)] = plane_conv_weight<float>;
  k.plane_conv_weight[int(DType::Float64)] = plane_conv_weight<double>;
}

}  // namespace lamina::cpu

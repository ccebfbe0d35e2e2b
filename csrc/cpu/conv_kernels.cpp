// Convolution inner loops, compiled once per ISA (see CMakeLists.txt): the direct convolution
// (the GEMM's register tile over padded input planes, no patch copies), the direct weight
// gradient (the same tile over a channels-last copy of the input, and that copy), the
// patch-matrix copies that feed the weight gradient's GEMM where channels are few (im2col, and
// col2im for the strided data gradient) and the direct loops of a depthwise convolution, one
// input plane against one small filter. The
// plane loops walk output pixels a row at a time and split each row, per tap, into the columns
// that fall inside the image and those that fall into the padding, so the inner loops carry no
// bounds checks and become unit-stride vector code when the stride is 1.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "cpu/gemm_tile.h"
#include "cpu/kernels.h"
#include "cpu/vec.h"

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

// Short copies and fills, in fixed-size pieces the compiler turns into register moves (a
// library call per row segment of a patch panel would cost more than the copy).
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
  if (n & 4) { std::memcpy(d + t, zeros, 4 * sizeof(T)); t += 4; }
  if (n & 2) { std::memcpy(d + t, zeros, 2 * sizeof(T)); t += 2; }
  if (n & 1) d[t] = T(0);
}

template <class T>
void im2col_panels(const ConvGeom& g, const void* xv, int64_t p0, int64_t np, int64_t nr, void* outv) {
  const T* x = static_cast<const T*>(xv);
  T* out = static_cast<T*>(outv);
  const int64_t K = g.C * g.KH * g.KW;
  // A panel's pixels form a few runs along output rows; each run reads one input row segment per tap.
  struct Run { int64_t j, len, at; };
  std::vector<Run> runs;
  runs.reserve(size_t(std::min(nr, np) / std::max<int64_t>(g.OW, 1) + 2));
  // Where tap column kx starts within a row (column phases: ConvGeom::phase).
  std::vector<int64_t> cols(size_t(g.KW));
  for (int64_t kx = 0; kx < g.KW; ++kx) {
    const int64_t off = kx * g.dw;
    cols[size_t(kx)] = g.phase ? off % g.sw * g.phase + off / g.sw : off;
  }
  for (int64_t j0 = 0; j0 < np; j0 += nr) {
    const int64_t n = std::min(nr, np - j0);
    T* dst = out + j0 * K;
    runs.clear();
    for_rows(g, p0 + j0, n, [&](int64_t oy, int64_t ox, int64_t j, int64_t run) {
      runs.push_back({j, run, oy * g.sh * g.W + (g.phase ? ox : ox * g.sw)});
    });
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t ky = 0; ky < g.KH; ++ky)
        for (int64_t kx = 0; kx < g.KW; ++kx, dst += nr) {
          const T* src = x + (c * g.H + ky * g.dh) * g.W + cols[size_t(kx)];
          for (const Run& u : runs) copy_short(dst + u.j, src + u.at, u.len);
          zero_short(dst + n, nr - n);
        }
  }
}

// a[i] = s[2i], b[i] = s[2i + 1] over the n values at s: two vectors in, their even and odd
// lanes out (the tail through a zero-filled copy).
template <class T, std::size_t... I>
inline void deinterleave(const T* s, int64_t n, T* a, T* b, std::index_sequence<I...>) {
  using V = LanesT<T>;
  constexpr int64_t L = kLanes<T>;
  auto split = [&](const T* p, T* ea, T* ob, int64_t m) __attribute__((always_inline)) {
    const V lo = load_lanes(p), hi = load_lanes(p + L);
    const V even = __builtin_shufflevector(lo, hi, (2 * int(I))...), odd = __builtin_shufflevector(lo, hi, (2 * int(I) + 1)...);
    if (m == 2 * L) {
      store_lanes(ea, even);
      store_lanes(ob, odd);
    } else {
      std::memcpy(ea, &even, sizeof(T) * size_t((m + 1) / 2));
      std::memcpy(ob, &odd, sizeof(T) * size_t(m / 2));
    }
  };
  int64_t i = 0;
  for (; 2 * (i + L) <= n; i += L) split(s + 2 * i, a + i, b + i, 2 * L);
  if (const int64_t m = n - 2 * i; m > 0) {
    T buf[2 * L] = {};
    std::memcpy(buf, s + 2 * i, sizeof(T) * size_t(m));
    split(buf, a + i, b + i, m);
  }
}

template <class T>
void split_columns(const void* srcv, int64_t lds, int64_t W, int64_t rows, int64_t pl, void* evenv, void* oddv,
                   int64_t ldd) {
  const T* src = static_cast<const T*>(srcv);
  // Columns 0, 2, 4, ... land in the phase of pl's parity, from (pl / 2) on; 1, 3, ... in the other.
  T* first = static_cast<T*>(pl & 1 ? oddv : evenv) + pl / 2;
  T* second = static_cast<T*>(pl & 1 ? evenv : oddv) + (pl + 1) / 2;
  for (int64_t r = 0; r < rows; ++r)
    deinterleave(src + r * lds, W, first + r * ldd, second + r * ldd, std::make_index_sequence<kLanes<T>>{});
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

// NV vectors of outputs, the v-th reading the padded plane from x + ox[v] (element offsets, taps
// added on top): acc[v] + every tap. The vectors are independent chains, so the FMA latency
// overlaps; NV and unit stride are compile-time, so the loop carries no lane or stride tests.
template <class T, int NV, bool kUnit>
inline void taps_vectors(const ConvGeom& g, const T* x, const T* w, const int64_t* ox, LanesT<T>* acc) {
  LanesT<T> a[NV];
  for (int v = 0; v < NV; ++v) a[v] = acc[v];
  for (int64_t ky = 0; ky < g.KH; ++ky) {
    const T* rk = x + ky * g.dh * g.W;
    for (int64_t kx = 0; kx < g.KW; ++kx) {
      const T wt = w[ky * g.KW + kx];
      const T* r = rk + kx * g.dw;
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) a[v] += wt * (kUnit ? load_lanes(r + ox[v]) : load_lanes(r + ox[v], g.sw));
    }
  }
  for (int v = 0; v < NV; ++v) acc[v] = a[v];
}

// Independent chains a depthwise group keeps in flight: enough to cover the FMA latency on
// both ports, whatever the width of a row.
constexpr int kPlaneVectors = 8;

template <class T, bool kUnit>
inline void taps_vectors(const ConvGeom& g, const T* x, const T* w, const int64_t* ox, int nv, LanesT<T>* acc) {
  switch (nv) {
    case 8: taps_vectors<T, 8, kUnit>(g, x, w, ox, acc); break;
    case 7: taps_vectors<T, 7, kUnit>(g, x, w, ox, acc); break;
    case 6: taps_vectors<T, 6, kUnit>(g, x, w, ox, acc); break;
    case 5: taps_vectors<T, 5, kUnit>(g, x, w, ox, acc); break;
    case 4: taps_vectors<T, 4, kUnit>(g, x, w, ox, acc); break;
    case 3: taps_vectors<T, 3, kUnit>(g, x, w, ox, acc); break;
    case 2: taps_vectors<T, 2, kUnit>(g, x, w, ox, acc); break;
    default: taps_vectors<T, 1, kUnit>(g, x, w, ox, acc); break;
  }
}

// Depthwise forward over a padded plane: vectors of outputs sum all taps in registers and are
// stored once; the plane's vectors, row after row, go in groups of kPlaneVectors chains, so a
// narrow plane (two vectors a row at 28 columns) still fills the FMA pipeline. A row's ragged
// end is one more vector overlapping the row's first full one, storing only the lanes no full
// vector covers.
template <class T>
void plane_conv(const ConvGeom& g, const void* xv, const void* wv, const void* bv, void* yv) {
  const T* x = static_cast<const T*>(xv);
  const T* w = static_cast<const T*>(wv);
  const T b = bv ? *static_cast<const T*>(bv) : T(0);
  T* y = static_cast<T*>(yv);
  constexpr int L = kLanes<T>;
  const int64_t rem = g.OW % L, shift = rem ? 1 : 0;
  const int64_t nvec = g.OW >= L ? g.OW / L + shift : 0, total = g.OH * nvec;
  for (int64_t v0 = 0; v0 < total; v0 += kPlaneVectors) {
    const int nv = int(std::min<int64_t>(kPlaneVectors, total - v0));
    int64_t xo[kPlaneVectors], yo[kPlaneVectors];
    bool ragged[kPlaneVectors];
    LanesT<T> acc[kPlaneVectors];
    for (int v = 0; v < nv; ++v) {
      const int64_t oy = (v0 + v) / nvec, c = (v0 + v) % nvec;
      ragged[v] = rem && c == 0;
      const int64_t col = ragged[v] ? g.OW - L : (c - shift) * L;
      xo[v] = oy * g.sh * g.W + col * g.sw;
      yo[v] = oy * g.OW + col;
      acc[v] = LanesT<T>{} + b;
    }
    if (g.sw == 1)
      taps_vectors<T, true>(g, x, w, xo, nv, acc);
    else
      taps_vectors<T, false>(g, x, w, xo, nv, acc);
    for (int v = 0; v < nv; ++v) {
      if (ragged[v])
        for (int l = L - int(rem); l < L; ++l) y[yo[v] + l] = acc[v][l];
      else
        store_lanes(y + yo[v], acc[v]);
    }
  }
  for (int64_t oy = 0; oy < g.OH && nvec == 0; ++oy)
    for (int64_t ox = 0; ox < g.OW; ++ox) {
      const T* xr = x + oy * g.sh * g.W;
      T acc = b;
      for (int64_t ky = 0; ky < g.KH; ++ky)
        for (int64_t kx = 0; kx < g.KW; ++kx) acc += w[ky * g.KW + kx] * xr[ky * g.dh * g.W + kx * g.dw + ox * g.sw];
      y[oy * g.OW + ox] = acc;
    }
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

// Depthwise weight gradient over a padded plane: one tap at a time, its dot product of dy with
// the shifted input kept in vector lanes of independent sums over the whole plane.
template <class T>
void plane_conv_weight(const ConvGeom& g, const void* xv, const void* dyv, void* dwv) {
  const T* x = static_cast<const T*>(xv);
  const T* dy = static_cast<const T*>(dyv);
  T* dw = static_cast<T*>(dwv);
  const int64_t s = g.sw;
  // Lanes of the ragged end that the last full vector already counted are masked off.
  LanesT<T> mask{};
  const int64_t skip = g.OW >= kLanes<T> ? g.OW / kLanes<T> * kLanes<T> - (g.OW - kLanes<T>) : 0;
  for (int l = 0; l < kLanes<T>; ++l) mask[l] = l >= skip ? T(1) : T(0);
  for (int64_t t = 0; t < g.KH * g.KW; ++t) {
    const T* xt = x + (t / g.KW) * g.dh * g.W + (t % g.KW) * g.dw;
    LanesT<T> lanes{};
    T acc = 0;
    for (int64_t oy = 0; oy < g.OH; ++oy) {
      const T* gr = dy + oy * g.OW;
      const T* xr = xt + oy * g.sh * g.W;
      int64_t ox = 0;
      for (; ox + kLanes<T> <= g.OW; ox += kLanes<T>) lanes += load_lanes(gr + ox, 1) * load_lanes(xr + ox * s, s);
      if (ox < g.OW && g.OW >= kLanes<T>) {
        const int64_t o = g.OW - kLanes<T>;
        lanes += load_lanes(gr + o, 1) * mask * load_lanes(xr + o * s, s);
      } else {
        for (; ox < g.OW; ++ox) acc += gr[ox] * xr[ox * s];
      }
    }
    for (int l = 0; l < kLanes<T>; ++l) acc += lanes[l];
    dw[t] += acc;
  }
}

// Direct convolution: each tap is one offset into the padded (or phase-split) planes, so B row
// k of the GEMM tile (NR consecutive wide pixels) is read in place and no patch panel is built;
// with pixel_rows the input row segment is the tile's broadcast operand instead.
template <class T>
void conv_direct(const DirectConvArgs& a, int64_t m0, int64_t m1, int64_t oy0, int64_t oy1) {
  using S = Tile<T>;
  constexpr int MR = S::MR, NR = S::NR, NV = S::NV;
  const ConvGeom& g = a.geom;
  const int64_t K = g.C * g.KH * g.KW, Wp = g.W, P = g.OH * g.OW;
  // Tap (ky, kx) of a phased input reads phase plane (dy % sh, dx % sw) from (dy / sh, dx / sw) on.
  const int64_t sh = a.phased ? g.sh : 1, sw = a.phased ? g.sw : 1, sub = g.H * g.W;
  std::vector<int64_t> off(size_t(std::max<int64_t>(K, 1)));
  for (int64_t c = 0, k = 0; c < g.C; ++c)
    for (int64_t ky = 0; ky < g.KH; ++ky)
      for (int64_t kx = 0; kx < g.KW; ++kx) {
        const int64_t dy = ky * g.dh, dx = kx * g.dw;
        off[size_t(k++)] = c * a.plane + (dy % sh * sw + dx % sw) * sub + dy / sh * Wp + dx / sw;
      }
  const T* x = static_cast<const T*>(a.x);
  const T* w = static_cast<const T*>(a.w);
  const T* bias = static_cast<const T*>(a.bias);
  T* y = static_cast<T*>(a.y);
  const int64_t* o = off.data();
  alignas(64) T buf[MR * NR];
  // The next item's input (DirectConvArgs::prefetch) in shares of `fetch_rows` rows of NR values,
  // one share requested during each tile's K loop (tile_product's `next`, ldc = NR: two lines a
  // row), so the whole of it arrives while this item's tiles compute.
  const T* fetch = a.prefetch ? reinterpret_cast<const T*>(reinterpret_cast<uintptr_t>(a.prefetch) & ~uintptr_t(63)) : nullptr;
  const T* const fetch_end = fetch ? static_cast<const T*>(a.prefetch) + a.prefetch_elements : nullptr;
  int64_t fetch_rows = 0;
  auto plan_fetch = [&](int64_t tiles, int64_t kn) {  // a K loop fetches at most kn / 2 rows
    if (fetch) fetch_rows = std::min(kn / 2, ((fetch_end - fetch) / NR + tiles) / std::max<int64_t>(tiles, 1) + 1);
  };
  auto next_fetch = [&]() -> const T* {
    if (!fetch || fetch >= fetch_end) return nullptr;
    const T* f = fetch;
    fetch += fetch_rows * NR;
    return f;
  };
  // The tile of wide pixels [q, q + nr) (nr <= NR) for weight rows [m, m + mr) over taps
  // [k0, k0 + kn): computed, then its valid pixels (column < OW, row < oy1) written (plus the
  // bias) or added, row segment by row segment.
  auto tile = [&](int64_t m, int64_t mr, int64_t q, int64_t nr, int64_t k0, int64_t kn, bool add) {
    typename S::V acc[MR][NV];
    const T* xq = x + q;
    const int64_t* ok = o + k0;
    const T* wq = w + m * K + k0 * MR;
    tile_product<T, false>(
        mr, nr, kn, [wq](int64_t k) { return wq + k * S::MR; }, [xq, ok](int64_t k) { return xq + ok[k]; }, acc,
        next_fetch(), NR, fetch_rows);
    spill_tile<T>(acc, buf);
    for (int64_t s = q, e = q + nr; s < e;) {
      const int64_t oy = s / Wp, ox = s % Wp, seg = std::min(e, (oy + 1) * Wp);
      if (oy >= oy1) break;
      const int64_t n = std::min(seg, oy * Wp + g.OW) - s;
      for (int64_t i = 0; i < mr && n > 0; ++i) {
        const T* src = buf + i * NR + (s - q);
        T* dst = y + (m + i) * P + oy * g.OW + ox;
        if (add) {
          for (int64_t t = 0; t < n; ++t) dst[t] += src[t];
        } else {
          const T b = bias ? bias[m + i] : T(0);
          for (int64_t t = 0; t < n; ++t) dst[t] = src[t] + b;
        }
      }
      s = seg;
    }
  };
  if (a.pixel_rows) {
    // Tiles of MR pixels of one output row x NR output channels over the whole K: the input
    // row segment is the broadcast operand (one offset per tap), the weight panel streams.
    plan_fetch((m1 - m0 + NR - 1) / NR * (oy1 - oy0) * ((g.OW + MR - 1) / MR), K);
    for (int64_t m = m0; m < m1; m += NR) {
      const int64_t nr = std::min<int64_t>(NR, m1 - m);
      const T* wp = w + m * K;
      for (int64_t oy = oy0; oy < oy1; ++oy)
        for (int64_t ox = 0; ox < g.OW; ox += MR) {
          const int64_t mr = std::min<int64_t>(MR, g.OW - ox);
          typename S::V acc[MR][NV];
          const T* xq = x + oy * Wp + ox;
          tile_product<T, false>(
              mr, nr, K, [xq, o](int64_t k) { return xq + o[k]; }, [wp](int64_t k) { return wp + k * S::NR; }, acc,
              next_fetch(), NR, fetch_rows);
          spill_tile<T>(acc, buf);
          for (int64_t j = 0; j < nr; ++j) {
            T* dst = y + (m + j) * P + oy * g.OW + ox;
            const T b = bias ? bias[m + j] : T(0);
            for (int64_t i = 0; i < mr; ++i) dst[i] = buf[i * NR + j] + b;
          }
        }
    }
    return;
  }
  // Tiles of NV vectors of L output pixels each, from rows of a multiple of L pixels: no lane
  // computes a pixel that is thrown away, and every vector is stored whole. The vectors of a
  // tile may lie on different rows: the second is read vs values after the first.
  constexpr int L = S::L;
  const int64_t per_row = g.OW / L, nvec = a.row_vectors ? (oy1 - oy0) * per_row : 0;
  auto vectors = [&](int64_t m, int64_t mr, int64_t k0, int64_t kn, bool add) {
    for (int64_t v = 0; v < nvec; v += NV) {
      const int nv = int(std::min<int64_t>(NV, nvec - v));
      int64_t q[NV], out[NV];
      for (int j = 0; j < nv; ++j) {
        const int64_t oy = oy0 + (v + j) / per_row, ox = (v + j) % per_row * L;
        q[j] = oy * Wp + ox;
        out[j] = oy * g.OW + ox;
      }
      typename S::V acc[MR][NV];
      const T* xq = x + q[0];
      const int64_t* ok = o + k0;
      const T* wq = w + m * K + k0 * MR;
      tile_product<T, false>(
          mr, nv * L, kn, [wq](int64_t k) { return wq + k * S::MR; }, [xq, ok](int64_t k) { return xq + ok[k]; }, acc,
          next_fetch(), NR, fetch_rows, nv > 1 ? q[1] - q[0] : L);
      for (int64_t i = 0; i < mr; ++i)
        for (int j = 0; j < nv; ++j) {
          T* dst = y + (m + i) * P + out[j];
          store_lanes(dst, add ? load_lanes(dst) + acc[i][j] : acc[i][j] + (bias ? bias[m + i] : T(0)));
        }
    }
  };
  // Taps in slices of whole channels, so that a slice of the weight panel and the input rows
  // it reads stay in L1 while the tiles sweep the band.
  const int64_t taps = g.KH * g.KW, slices = (g.C + a.channels_per_slice - 1) / std::max<int64_t>(1, a.channels_per_slice);
  const int64_t q0 = oy0 * Wp, q1 = (oy1 - 1) * Wp + g.OW,
                row_tiles = a.row_vectors ? (nvec + NV - 1) / NV
                            : a.wide      ? (q1 - q0 + NR - 1) / NR
                                          : (oy1 - oy0) * ((g.OW + NR - 1) / NR);
  plan_fetch((m1 - m0 + MR - 1) / MR * slices * row_tiles, g.C / slices * taps);
  for (int64_t m = m0; m < m1; m += MR) {
    const int64_t mr = std::min<int64_t>(MR, m1 - m);
    for (int64_t sl = 0; sl < slices; ++sl) {
      const int64_t c0 = g.C * sl / slices, c1 = g.C * (sl + 1) / slices, k0 = c0 * taps, kn = (c1 - c0) * taps;
      if (a.row_vectors) {
        vectors(m, mr, k0, kn, sl > 0);
      } else if (a.wide) {
        for (int64_t q = q0; q < q1; q += NR) tile(m, mr, q, std::min<int64_t>(NR, q1 - q), k0, kn, sl > 0);
      } else {
        for (int64_t oy = oy0; oy < oy1; ++oy)
          for (int64_t ox = 0; ox < g.OW; ox += NR) tile(m, mr, oy * Wp + ox, std::min<int64_t>(NR, g.OW - ox), k0, kn, sl > 0);
      }
    }
  }
}

template <class T>
void channels_last(const ConvGeom& g, int64_t HW, int64_t Wp, int64_t Hp, const void* xv, int64_t c0, int64_t c1,
                   void* outv) {
  const T* x = static_cast<const T*>(xv);
  T* out = static_cast<T*>(outv);
  constexpr int L = kLanes<T>, kAhead = 4;  // rows
  const int64_t C = g.C;
  auto zero = [&](int64_t pos0, int64_t pos1) {
    for (int64_t q = pos0; q < pos1; ++q) std::fill(out + q * C + c0, out + q * C + c1, T(0));
  };
  zero(0, g.pt * Wp);
  for (int64_t iy = 0; iy < g.H; ++iy) {
    const int64_t y = iy + g.pt;
    zero(y * Wp, y * Wp + g.pl);
    zero(y * Wp + g.pl + g.W, (y + 1) * Wp);
    T* dst = out + (y * Wp + g.pl) * C;
    const T* src = x + iy * g.W;
    // L channels x L columns at a time, transposed in registers.
    int64_t c = c0;
    for (; c + L <= c1; c += L) {
      int64_t x0 = 0;
      for (; x0 + L <= g.W; x0 += L) {
        // L streams, one per plane, are more than the hardware prefetchers follow.
        for (int r = 0; r < L; ++r) __builtin_prefetch(src + (c + r) * HW + x0 + kAhead * g.W);
        transpose_block(src + c * HW + x0, HW, dst + x0 * C + c, C);
      }
      for (; x0 < g.W; ++x0)
        for (int r = 0; r < L; ++r) dst[x0 * C + c + r] = src[(c + r) * HW + x0];
    }
    for (; c < c1; ++c)
      for (int64_t x0 = 0; x0 < g.W; ++x0) dst[x0 * C + c] = src[c * HW + x0];
  }
  zero((g.pt + g.H) * Wp, Hp * Wp);
}

// The weight gradient as the GEMM's register tile: rows are output channels (dy broadcast from
// its packed panel), columns input channels (NR consecutive values of a channels-last input
// position), and the sum runs over the output pixels through a table of input positions, so
// strided and dilated convolutions read the same way as unit-stride ones.
template <class T>
void conv_weight_direct(const DirectWeightArgs& a, int64_t m0, int64_t m1, int64_t c0, int64_t c1) {
  using S = Tile<T>;
  constexpr int MR = S::MR, NR = S::NR;
  const ConvGeom& g = a.geom;
  const int64_t P = g.OH * g.OW, taps = g.KH * g.KW;
  std::vector<int64_t> at(size_t(std::max<int64_t>(P, 1))), off(static_cast<size_t>(taps));
  for (int64_t oy = 0; oy < g.OH; ++oy)
    for (int64_t ox = 0; ox < g.OW; ++ox) at[size_t(oy * g.OW + ox)] = (oy * g.sh * g.W + ox * g.sw) * a.cs;
  for (int64_t ky = 0; ky < g.KH; ++ky)
    for (int64_t kx = 0; kx < g.KW; ++kx) off[size_t(ky * g.KW + kx)] = (ky * g.dh * g.W + kx * g.dw) * a.cs;
  const T* x = static_cast<const T*>(a.x);
  const T* dy = static_cast<const T*>(a.dy);
  T* dw = static_cast<T*>(a.dw);
  const int64_t* pa = at.data();
  // The dy panel stays in L1 across the taps; the input positions of a column block across the
  // row blocks.
  for (int64_t c = c0; c < c1; c += NR) {
    const int64_t nr = std::min<int64_t>(NR, c1 - c);
    for (int64_t m = m0; m < m1; m += MR) {
      const int64_t mr = std::min<int64_t>(MR, m1 - m);
      const T* ap = dy + m * P;
      for (int64_t t = 0; t < taps; ++t) {
        typename S::V acc[MR][S::NV];
        const T* xb = x + off[size_t(t)] + c;
        T* C = dw + (t * a.O + m) * a.ldc + c;
        // The tile after this one, fetched during its K loop: the next tap, row block or column block.
        const T* next = t + 1 < taps ? C + a.O * a.ldc
                        : m + MR < m1 ? dw + (m + MR) * a.ldc + c
                        : c + NR < c1 ? dw + m0 * a.ldc + c + NR
                                      : nullptr;
        tile_product<T, false>(
            mr, nr, P, [ap](int64_t k) { return ap + k * S::MR; }, [xb, pa](int64_t k) { return xb + pa[k]; }, acc,
            next, a.ldc, mr);
        store_tile<T>(acc, C, a.ldc, a.accumulate, mr, nr);
      }
    }
  }
}

}  // namespace
}  // namespace lamina::cpu::LAMINA_ISA

namespace lamina::cpu {

void LAMINA_ISA_FN(register_conv, LAMINA_ISA)(Kernels& k) {
  using namespace LAMINA_ISA;
  k.col2im[int(DType::Float32)] = col2im<float>;
  k.col2im[int(DType::Float64)] = col2im<double>;
  k.im2col_panels[int(DType::Float32)] = im2col_panels<float>;
  k.im2col_panels[int(DType::Float64)] = im2col_panels<double>;
  k.split_columns[int(DType::Float32)] = split_columns<float>;
  k.split_columns[int(DType::Float64)] = split_columns<double>;
  k.conv_direct[int(DType::Float32)] = conv_direct<float>;
  k.conv_direct[int(DType::Float64)] = conv_direct<double>;
  k.conv_weight_direct[int(DType::Float32)] = conv_weight_direct<float>;
  k.conv_weight_direct[int(DType::Float64)] = conv_weight_direct<double>;
  k.channels_last[int(DType::Float32)] = channels_last<float>;
  k.channels_last[int(DType::Float64)] = channels_last<double>;
  k.plane_conv[int(DType::Float32)] = plane_conv<float>;
  k.plane_conv[int(DType::Float64)] = plane_conv<double>;
  k.plane_conv_data[int(DType::Float32)] = plane_conv_data<float>;
  k.plane_conv_data[int(DType::Float64)] = plane_conv_data<double>;
  k.plane_conv_weight[int(DType::Float32)] = plane_conv_weight<float>;
  k.plane_conv_weight[int(DType::Float64)] = plane_conv_weight<double>;
}

}  // namespace lamina::cpu

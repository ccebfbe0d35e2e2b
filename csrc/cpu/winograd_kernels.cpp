// Winograd transforms for 3x3 convolutions at stride 1 and 2 (ops/conv.cpp runs the products
// between them), compiled once per ISA (see CMakeLists.txt); float32 only (float64 convolutions
// keep the direct kernel). A tile is 2 x 2 output pixels; at stride 1 it reads the 4 x 4 input
// patch from padded position (2 ty, 2 tx), at stride 2 the 5 x 5 one from (4 ty, 4 tx). The
// transforms work on channels-last data, one tile at a time with the channels in vector lanes:
// every load and store of the input side is a contiguous run of channels, whatever the image's
// width. Stride 1 is F(2x2, 3x3):
//
//   input  V = B^T d B,  B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//   output Y = A^T M A,  A^T = [1 1 1 0; 0 1 -1 -1]
//   weights U = G g G^T, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/vec.h"

namespace lamina::cpu::LAMINA_ISA {
namespace {

// A vector of channels from p, or one channel (W = T) for a tail; and the store back.
template <class W, class T>
inline W load_as(const T* p) {
  if constexpr (std::is_same_v<W, T>) return *p;
  else return load_lanes(p);
}
template <class W, class T>
inline void store_as(T* p, W v) {
  if constexpr (std::is_same_v<W, T>) *p = v;
  else store_lanes(p, v);
}

// f(V{}, c) for each whole vector of channels [c, c + L) of the n, then f(T(0), c) for each
// channel of the tail: f's first argument picks the width it works at.
template <class T, class F>
inline void over_channels(int64_t n, const F& f) {
  constexpr int64_t L = kLanes<T>;
  int64_t c = 0;
  for (; c + L <= n; c += L) f(LanesT<T>{}, c);
  for (; c < n; ++c) f(T(0), c);
}

// B^T d B for one 4 x 4 patch: d(i, j) from at(i, j), value xi = 4 a + b to put(xi, value). V
// is a vector of channels, or one channel for the tail (written out with vectors, as the
// compiler does not vectorise these loops itself: 16 output streams are too many for its
// aliasing checks).
template <class V, class At, class Put>
inline void input_transform(const At& at, const Put& put) {
  V d[4][4];
  for (int j = 0; j < 4; ++j) {
    const V x0 = at(0, j), x1 = at(1, j), x2 = at(2, j), x3 = at(3, j);
    d[0][j] = x0 - x2;
    d[1][j] = x1 + x2;
    d[2][j] = x2 - x1;
    d[3][j] = x1 - x3;
  }
  for (int a = 0; a < 4; ++a) {
    put(4 * a + 0, d[a][0] - d[a][2]);
    put(4 * a + 1, d[a][1] + d[a][2]);
    put(4 * a + 2, d[a][2] - d[a][1]);
    put(4 * a + 3, d[a][1] - d[a][3]);
  }
}

// A^T M A for one tile: M's value xi from at(xi), plus b; output pixel (a, b) to put(2 a + b, value).
template <class V, class At, class Put>
inline void output_transform(const At& at, V b, const Put& put) {
  V s[2][4];
  for (int j = 0; j < 4; ++j) {
    const V m0 = at(j), m1 = at(4 + j), m2 = at(8 + j), m3 = at(12 + j);
    s[0][j] = m0 + m1 + m2;
    s[1][j] = m1 - m2 - m3;
  }
  put(0, s[0][0] + s[0][1] + s[0][2] + b);
  put(1, s[0][1] - s[0][2] - s[0][3] + b);
  put(2, s[1][0] + s[1][1] + s[1][2] + b);
  put(3, s[1][1] - s[1][2] - s[1][3] + b);
}

// G g G^T for one 3 x 3 filter: g(r, c) from at(3 r + c), value xi = 4 a + b to put(xi, value).
template <class T, class V, class At, class Put>
inline void weight_transform(const At& at, const Put& put) {
  const V half = V{} + T(0.5);
  V t[4][3];
  for (int j = 0; j < 3; ++j) {
    const V g0 = at(j), g1 = at(3 + j), g2 = at(6 + j);
    t[0][j] = g0;
    t[1][j] = (g0 + g1 + g2) * half;
    t[2][j] = (g0 - g1 + g2) * half;
    t[3][j] = g2;
  }
  for (int a = 0; a < 4; ++a) {
    put(4 * a + 0, t[a][0]);
    put(4 * a + 1, (t[a][0] + t[a][1] + t[a][2]) * half);
    put(4 * a + 2, (t[a][0] - t[a][1] + t[a][2]) * half);
    put(4 * a + 3, t[a][2]);
  }
}

// Stride 2: the 3x3 filter splits by the parity (a, b) of its taps into sub-filters of 2x2
// (taps (0|2, 0|2)), 2x1, 1x2 and 1x1 (tap (1, 1)), each a stride-1 convolution over the input's
// (a, b) phase; each runs F(2x2, rh x rw) with the 1-D F(2, 2) (B^T = [1 -1 0; 0 1 0; 0 -1 1],
// G = [1 0; 1 1; 0 1], A^T = [1 1 0; 0 1 1]) or F(2, 1) (identity, G = [1; 1]) along each axis:
// 9 + 6 + 6 + 4 = 25 values a tile instead of the 36 multiplies of the direct 2x2 outputs.
// Phase (a, b)'s values start at kPhase[2 a + b], rh + 1 rows of rw + 1.
constexpr int kPhase[5] = {0, 9, 15, 21, 25};

// Input side of phase (RH, RW) (sub-filter size; 2 or 1): d(s, t) for s <= RH, t <= RW.
template <class V, int RH, int RW, class D, class Put>
inline void phase_input(const D& d, int base, const Put& put) {
  V e[RH + 1][RW + 1];
  for (int t = 0; t <= RW; ++t) {
    if constexpr (RH == 2) {
      e[0][t] = d(0, t) - d(1, t);
      e[1][t] = d(1, t);
      e[2][t] = d(2, t) - d(1, t);
    } else {
      e[0][t] = d(0, t);
      e[1][t] = d(1, t);
    }
  }
  for (int u = 0; u <= RH; ++u) {
    if constexpr (RW == 2) {
      put(base + 3 * u, e[u][0] - e[u][1]);
      put(base + 3 * u + 1, e[u][1]);
      put(base + 3 * u + 2, e[u][2] - e[u][1]);
    } else {
      put(base + 2 * u, e[u][0]);
      put(base + 2 * u + 1, e[u][1]);
    }
  }
}

// Weight side of phase (RH, RW): g(i, j) for i < RH, j < RW.
template <class V, int RH, int RW, class G, class Put>
inline void phase_weight(const G& g, int base, const Put& put) {
  V e[RH + 1][RW];
  for (int j = 0; j < RW; ++j) {
    e[0][j] = g(0, j);
    if constexpr (RH == 2) {
      e[1][j] = g(0, j) + g(1, j);
      e[2][j] = g(1, j);
    } else {
      e[1][j] = g(0, j);
    }
  }
  for (int u = 0; u <= RH; ++u) {
    if constexpr (RW == 2) {
      put(base + 3 * u, e[u][0]);
      put(base + 3 * u + 1, e[u][0] + e[u][1]);
      put(base + 3 * u + 2, e[u][1]);
    } else {
      put(base + 2 * u, e[u][0]);
      put(base + 2 * u + 1, e[u][0]);
    }
  }
}

// Output side of phase (RH, RW): its values m(k) added into the tile's 2x2 outputs y.
template <class V, int RH, int RW, class M>
inline void phase_output(const M& m, int base, V (&y)[2][2]) {
  constexpr int W = RW + 1;
  V e[2][W];
  for (int t = 0; t < W; ++t) {
    if constexpr (RH == 2) {
      e[0][t] = m(base + t) + m(base + W + t);
      e[1][t] = m(base + W + t) + m(base + 2 * W + t);
    } else {
      e[0][t] = m(base + t);
      e[1][t] = m(base + W + t);
    }
  }
  for (int r = 0; r < 2; ++r) {
    if constexpr (RW == 2) {
      y[r][0] += e[r][0] + e[r][1];
      y[r][1] += e[r][1] + e[r][2];
    } else {
      y[r][0] += e[r][0];
      y[r][1] += e[r][1];
    }
  }
}

// The 25 values of a stride-2 tile from its input at(r, c) (padded position (4 ty + r, 4 tx + c)).
template <class V, class At, class Put>
inline void input_transform_s2(const At& at, const Put& put) {
  phase_input<V, 2, 2>([&](int s, int t) { return at(2 * s, 2 * t); }, kPhase[0], put);
  phase_input<V, 2, 1>([&](int s, int t) { return at(2 * s, 2 * t + 1); }, kPhase[1], put);
  phase_input<V, 1, 2>([&](int s, int t) { return at(2 * s + 1, 2 * t); }, kPhase[2], put);
  phase_input<V, 1, 1>([&](int s, int t) { return at(2 * s + 1, 2 * t + 1); }, kPhase[3], put);
}

template <class V, class At, class Put>
inline void weight_transform_s2(const At& at, const Put& put) {
  phase_weight<V, 2, 2>([&](int i, int j) { return at(6 * i + 2 * j); }, kPhase[0], put);
  phase_weight<V, 2, 1>([&](int i, int) { return at(6 * i + 1); }, kPhase[1], put);
  phase_weight<V, 1, 2>([&](int, int j) { return at(3 + 2 * j); }, kPhase[2], put);
  phase_weight<V, 1, 1>([&](int, int) { return at(4); }, kPhase[3], put);
}

template <class V, class At, class Put>
inline void output_transform_s2(const At& at, V b, const Put& put) {
  V y[2][2] = {{b, b}, {b, b}};
  phase_output<V, 2, 2>(at, kPhase[0], y);
  phase_output<V, 2, 1>(at, kPhase[1], y);
  phase_output<V, 1, 2>(at, kPhase[2], y);
  phase_output<V, 1, 1>(at, kPhase[3], y);
  put(0, y[0][0]);
  put(1, y[0][1]);
  put(2, y[1][0]);
  put(3, y[1][1]);
}

// Filters [o0, o1) of w (O x C x 3 x 3): value xi of filter o, channel c to u[xi * us + o * C + c].
// L channels at a time: their 9 L weights (contiguous) are regrouped tap by tap, then
// transformed with the channels in vector lanes.
template <class T>
void winograd_weight(int64_t C, int64_t o0, int64_t o1, int stride, const void* wv, void* uv, int64_t us) {
  constexpr int64_t L = kLanes<T>;
  const T* w = static_cast<const T*>(wv);
  T* u = static_cast<T*>(uv);
  for (int64_t o = o0; o < o1; ++o) {
    const T* f = w + o * C * 9;
    T* d = u + o * C;
    over_channels<T>(C, [&](auto lanes, int64_t c) {
      using W = decltype(lanes);
      auto put = [&](int xi, W v) { store_as(d + xi * us + c, v); };
      auto transform = [&](const auto& at) {
        if (stride == 2) weight_transform_s2<W>(at, put);
        else weight_transform<T, W>(at, put);
      };
      if constexpr (std::is_same_v<W, T>) {
        transform([&](int j) { return f[c * 9 + j]; });
      } else {
        alignas(64) T taps[9][L];
        for (int64_t l = 0; l < L; ++l)
          for (int j = 0; j < 9; ++j) taps[j][l] = f[(c + l) * 9 + j];
        transform([&](int j) { return load_lanes(taps[j]); });
      }
    });
  }
}

// Tile row ty of an image whose padded planes are channels-last at x (x[(y * pw + col) * C + c],
// pw = winograd_span(tw, stride)): value xi of tile tx's transformed patch, channel c, to
// v[xi * vs + tx * C + c].
template <class T>
void winograd_input(int64_t C, int64_t tw, int64_t ty, int stride, const void* xv, void* vv, int64_t vs) {
  const int64_t pw = winograd_span(tw, stride), span = 2 * stride;
  for (int64_t tx = 0; tx < tw; ++tx) {
    const T* p = static_cast<const T*>(xv) + (span * ty * pw + span * tx) * C;
    T* o = static_cast<T*>(vv) + tx * C;
    over_channels<T>(C, [&](auto lanes, int64_t c) {
      using W = decltype(lanes);
      auto at = [&](int i, int j) { return load_as<W>(p + (i * pw + j) * C + c); };
      auto put = [&](int xi, W v) { store_as(o + xi * vs + c, v); };
      if (stride == 2) input_transform_s2<W>(at, put);
      else input_transform<W>(at, put);
    });
  }
}

// Tile row ty's products (value xi of tile tx, output channel o at m[xi * ms + tx * O + o]) to
// the image's output planes y (O planes of OH x OW), plus bias[o] (bias may be null): the two
// output rows are built channels-last, vectorised over channels, then transposed into the planes.
template <class T>
void winograd_output(const ConvGeom& g, int64_t O, int64_t ty, int stride, const void* mv, int64_t ms, const void* bv,
                     void* yv) {
  constexpr int64_t L = kLanes<T>;
  const T* bias = static_cast<const T*>(bv);
  T* y = static_cast<T*>(yv);
  const int64_t tw = (g.OW + 1) / 2, w2 = 2 * tw, P = g.OH * g.OW, oy = 2 * ty;
  thread_local std::vector<T> buf;
  buf.resize(size_t(2 * w2 * O));
  T* const rows[2] = {buf.data(), buf.data() + w2 * O};
  for (int64_t tx = 0; tx < tw; ++tx) {
    const T* q = static_cast<const T*>(mv) + tx * O;
    // Pixel k = 2 a + b of the tile goes to row a, column 2 tx + b.
    T* const out[4] = {rows[0] + 2 * tx * O, rows[0] + (2 * tx + 1) * O, rows[1] + 2 * tx * O, rows[1] + (2 * tx + 1) * O};
    over_channels<T>(O, [&](auto lanes, int64_t o) {
      using W = decltype(lanes);
      auto at = [&](int xi) { return load_as<W>(q + xi * ms + o); };
      auto put = [&](int k, W v) { store_as(out[k] + o, v); };
      const W b = bias ? load_as<W>(bias + o) : W{};
      if (stride == 2) output_transform_s2<W>(at, b, put);
      else output_transform<W>(at, b, put);
    });
  }
  for (int64_t a = 0; a < 2 && oy + a < g.OH; ++a) {
    const T* src = rows[a];
    T* dst = y + (oy + a) * g.OW;
    int64_t o = 0;
    for (; o + L <= O; o += L)
      for (int64_t x0 = 0; x0 < g.OW; x0 += L)
        transpose_block(src + x0 * O + o, O, dst + o * P + x0, P, T(1), std::min(L, g.OW - x0));
    for (; o < O; ++o)
      for (int64_t x = 0; x < g.OW; ++x) dst[o * P + x] = src[x * O + o];
  }
}

}  // namespace
}  // namespace lamina::cpu::LAMINA_ISA

namespace lamina::cpu {

void LAMINA_ISA_FN(register_winograd, LAMINA_ISA)(Kernels& k) {
  using namespace LAMINA_ISA;
  k.winograd_input[int(DType::Float32)] = winograd_input<float>;
  k.winograd_output[int(DType::Float32)] = winograd_output<float>;
  k.winograd_weight[int(DType::Float32)] = winograd_weight<float>;
}

}  // namespace lamina::cpu

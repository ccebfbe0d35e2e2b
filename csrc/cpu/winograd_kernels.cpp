// Winograd F(2x2, 3x3) transforms for the 3x3 convolutions at stride 1 (ops/conv.cpp runs the
// products between them), compiled once per ISA (see CMakeLists.txt). A tile is 2 x 2 output
// pixels and reads the 4 x 4 input patch from (2 ty - pt, 2 tx - pl). Both transforms work on
// channels-last data, one tile at a time with the channels in vector lanes: every load and
// store of the input side is a contiguous run of channels, whatever the image's width.
//
//   input  V = B^T d B,  B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//   output Y = A^T M A,  A^T = [1 1 1 0; 0 1 -1 -1]
//   weights U = G g G^T, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
#include <algorithm>
#include <cstdint>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/vec.h"

namespace lamina::cpu::LAMINA_ISA {
namespace {

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

// Filters [o0, o1) of w (O x C x 3 x 3): value xi of filter o, channel c to u[xi * us + o * C + c].
// L channels at a time: their 9 L weights (contiguous) are regrouped tap by tap, then
// transformed with the channels in vector lanes.
template <class T>
void winograd_weight(int64_t C, int64_t o0, int64_t o1, const void* wv, void* uv, int64_t us) {
  using V = LanesT<T>;
  constexpr int64_t L = kLanes<T>;
  const T* w = static_cast<const T*>(wv);
  T* u = static_cast<T*>(uv);
  for (int64_t o = o0; o < o1; ++o) {
    const T* f = w + o * C * 9;
    T* d = u + o * C;
    int64_t c = 0;
    for (; c + L <= C; c += L) {
      alignas(64) T taps[9][L];
      for (int64_t l = 0; l < L; ++l)
        for (int j = 0; j < 9; ++j) taps[j][l] = f[(c + l) * 9 + j];
      weight_transform<T, V>([&](int j) { return load_lanes(taps[j]); }, [&](int xi, V v) { store_lanes(d + xi * us + c, v); });
    }
    for (; c < C; ++c)
      weight_transform<T, T>([&](int j) { return f[c * 9 + j]; }, [&](int xi, T v) { d[xi * us + c] = v; });
  }
}

// Tile row ty of an image whose padded planes are channels-last at x (x[(y * pw + col) * C + c],
// pw = 2 tw + 2): value xi (4 a + b) of tile tx's transformed patch, channel c, to
// v[xi * vs + tx * C + c].
template <class T>
void winograd_input(int64_t C, int64_t tw, int64_t ty, const void* xv, void* vv, int64_t vs) {
  using V = LanesT<T>;
  constexpr int64_t L = kLanes<T>;
  const int64_t pw = 2 * tw + 2;
  for (int64_t tx = 0; tx < tw; ++tx) {
    const T* p = static_cast<const T*>(xv) + (2 * ty * pw + 2 * tx) * C;
    T* o = static_cast<T*>(vv) + tx * C;
    int64_t c = 0;
    for (; c + L <= C; c += L)
      input_transform<V>([&](int i, int j) { return load_lanes(p + (i * pw + j) * C + c); },
                         [&](int xi, V v) { store_lanes(o + xi * vs + c, v); });
    for (; c < C; ++c)
      input_transform<T>([&](int i, int j) { return p[(i * pw + j) * C + c]; }, [&](int xi, T v) { o[xi * vs + c] = v; });
  }
}

// Tile row ty's products (value xi of tile tx, output channel o at m[xi * ms + tx * O + o]) to
// the image's output planes y (O planes of OH x OW), plus bias[o] (bias may be null): the two
// output rows are built channels-last, vectorised over channels, then transposed into the planes.
template <class T>
void winograd_output(const ConvGeom& g, int64_t O, int64_t ty, const void* mv, int64_t ms, const void* bv, void* yv) {
  using V = LanesT<T>;
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
    int64_t o = 0;
    for (; o + L <= O; o += L)
      output_transform<V>([&](int xi) { return load_lanes(q + xi * ms + o); }, bias ? load_lanes(bias + o) : V{},
                          [&](int k, V v) { store_lanes(out[k] + o, v); });
    for (; o < O; ++o)
      output_transform<T>([&](int xi) { return q[xi * ms + o]; }, bias ? bias[o] : T(0), [&](int k, T v) { out[k][o] = v; });
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
  k.winograd_input[int(DType::Float64)] = winograd_input<double>;
  k.winograd_output[int(DType::Float32)] = winograd_output<float>;
  k.winograd_output[int(DType::Float64)] = winograd_output<double>;
  k.winograd_weight[int(DType::Float32)] = winograd_weight<float>;
  k.winograd_weight[int(DType::Float64)] = winograd_weight<double>;
}

}  // namespace lamina::cpu

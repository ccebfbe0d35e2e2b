// Winograd F(2x2, 3x3) transforms for the 3x3 convolutions at stride 1 (ops/conv.cpp runs the
// products between them), compiled once per ISA (see CMakeLists.txt). A tile is 2 x 2 output
// pixels and reads the 4 x 4 input patch from (2 ty - pt, 2 tx - pl). Both transforms work on
// channels-last data, one tile at a time with the channels in vector lanes: every load and
// store of the input side is a contiguous run of channels, whatever the image's width.
//
//   input  V = B^T d B,  B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//   output Y = A^T M A,  A^T = [1 1 1 0; 0 1 -1 -1]
//   (weights U = G g G^T, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], in ops/conv.cpp)
#include <algorithm>
#include <cstdint>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/vec.h"

namespace lamina::cpu::LAMINA_ISA {
namespace {

// Tile row ty of an image whose padded planes are channels-last at x (x[(y * pw + col) * C + c],
// pw = 2 tw + 2): value xi (4 a + b) of tile tx's transformed patch, channel c, to
// v[xi * vs + tx * C + c].
template <class T>
void winograd_input(int64_t C, int64_t tw, int64_t ty, const void* xv, void* vv, int64_t vs) {
  const int64_t pw = 2 * tw + 2;
  for (int64_t tx = 0; tx < tw; ++tx) {
    const T* p = static_cast<const T*>(xv) + (2 * ty * pw + 2 * tx) * C;
    T* o = static_cast<T*>(vv) + tx * C;
    const T *r0 = p, *r1 = p + pw * C, *r2 = r1 + pw * C, *r3 = r2 + pw * C;
    for (int64_t c = 0; c < C; ++c) {
      // B^T d: rows combined, then B: columns.
      T d[4][4];
      for (int j = 0; j < 4; ++j) {
        const T x0 = r0[j * C + c], x1 = r1[j * C + c], x2 = r2[j * C + c], x3 = r3[j * C + c];
        d[0][j] = x0 - x2;
        d[1][j] = x1 + x2;
        d[2][j] = x2 - x1;
        d[3][j] = x1 - x3;
      }
      for (int a = 0; a < 4; ++a) {
        o[(4 * a + 0) * vs + c] = d[a][0] - d[a][2];
        o[(4 * a + 1) * vs + c] = d[a][1] + d[a][2];
        o[(4 * a + 2) * vs + c] = d[a][2] - d[a][1];
        o[(4 * a + 3) * vs + c] = d[a][1] - d[a][3];
      }
    }
  }
}

// Tile row ty's products (value xi of tile tx, output channel o at m[xi * ms + tx * O + o]) to
// the image's output planes y (O planes of OH x OW), plus bias[o] (bias may be null): the two
// output rows are built channels-last, vectorised over channels, then transposed into the planes.
template <class T>
void winograd_output(const ConvGeom& g, int64_t O, int64_t ty, const void* mv, int64_t ms, const void* bv, void* yv) {
  constexpr int64_t L = kLanes<T>;
  const T* bias = static_cast<const T*>(bv);
  T* y = static_cast<T*>(yv);
  const int64_t tw = (g.OW + 1) / 2, w2 = 2 * tw, P = g.OH * g.OW, oy = 2 * ty;
  thread_local std::vector<T> buf;
  buf.resize(size_t(2 * w2 * O));
  T *top = buf.data(), *bottom = top + w2 * O;
  for (int64_t tx = 0; tx < tw; ++tx) {
    const T* q = static_cast<const T*>(mv) + tx * O;
    T *t0 = top + 2 * tx * O, *b0 = bottom + 2 * tx * O;
    for (int64_t o = 0; o < O; ++o) {
      // A^T M: rows combined, then A: columns.
      T s[2][4];
      for (int j = 0; j < 4; ++j) {
        const T m0 = q[j * ms + o], m1 = q[(4 + j) * ms + o], m2 = q[(8 + j) * ms + o], m3 = q[(12 + j) * ms + o];
        s[0][j] = m0 + m1 + m2;
        s[1][j] = m1 - m2 - m3;
      }
      const T b = bias ? bias[o] : T(0);
      t0[o] = s[0][0] + s[0][1] + s[0][2] + b;
      t0[O + o] = s[0][1] - s[0][2] - s[0][3] + b;
      b0[o] = s[1][0] + s[1][1] + s[1][2] + b;
      b0[O + o] = s[1][1] - s[1][2] - s[1][3] + b;
    }
  }
  for (int64_t a = 0; a < 2 && oy + a < g.OH; ++a) {
    const T* src = a ? bottom : top;
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
}

}  // namespace lamina::cpu

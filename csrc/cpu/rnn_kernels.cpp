// Fused gate loops of the recurrent cells (RNN tanh/relu, LSTM, GRU), one time step, forward
// and backward: every gate's activation, the state update and the pre-activation gradients
// in one pass over each batch row, so a step touches its gates once. The GEMMs around them
// live in ops/rnn.cpp. Compiled once per ISA, with -fno-trapping-math (see CMakeLists.txt) so
// GCC if-converts the branch-free float32 exp and each fused loop vectorises whole.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu/kernels.h"

namespace lamina::cpu::LAMINA_ISA {
#include "cpu/fast_math.h"
namespace {

// tanh from one exp of -2|x|, with an odd series below 0.3 where 1 - e would cancel: relative
// error ~1e-7 everywhere, and (unlike fast_tanh's expm1 select) it vectorises inside the fused
// loops. float64 uses libm: it serves gradcheck and references.
inline float gate_tanh(float x) {
  const float ax = std::fabs(x), x2 = x * x;
  const float e = fast_exp(-2.0f * ax);
  const float big = (1.0f - e) / (1.0f + e);
  const float small = ax * (1.0f + x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315 + x2 * (62.0f / 2835)))));
  return std::copysign(ax < 0.3f ? small : big, x);
}
inline double gate_tanh(double x) { return std::tanh(x); }

template <class T> inline T* at(void* p, int64_t off) { return static_cast<T*>(p) + off; }
template <class T> inline const T* at(const void* p, int64_t off) { return static_cast<const T*>(p) + off; }

template <class T, bool Relu>
void rnn_forward(const RnnStepArgs& a, int64_t b0, int64_t b1) {
  const int64_t H = a.H;
  for (int64_t b = b0; b < b1; ++b) {
    const T* __restrict g = at<T>(static_cast<const void*>(a.gates), b * H);
    T* __restrict h = at<T>(a.h, b * H);
    for (int64_t j = 0; j < H; ++j) h[j] = Relu ? (g[j] > T(0) ? g[j] : T(0)) : gate_tanh(g[j]);
  }
}

template <class T, bool Relu>
void rnn_backward(const RnnStepArgs& a, int64_t b0, int64_t b1) {
  const int64_t H = a.H;
  for (int64_t b = b0; b < b1; ++b) {
    const T* __restrict h = at<T>(static_cast<const void*>(a.h), b * H);
    const T* __restrict dy = at<T>(a.dy, b * H);
    const T* __restrict dh = at<T>(static_cast<const void*>(a.dh), b * H);
    T* __restrict dg = at<T>(a.dgx, b * H);
    for (int64_t j = 0; j < H; ++j) {
      const T d = dy[j] + dh[j];
      dg[j] = Relu ? (h[j] > T(0) ? d : T(0)) : d * (T(1) - h[j] * h[j]);
    }
  }
}

// Gate order i, f, g, o (PyTorch's). Rows are separate functions: GCC honours restrict on
// parameters, which lets it vectorise the fused loop without runtime alias checks.
template <class T>
void lstm_forward_row(int64_t H, T* __restrict g, const T* __restrict cp, T* __restrict c, T* __restrict h) {
  for (int64_t j = 0; j < H; ++j) {
    const T i = vsigmoid(g[j]), f = vsigmoid(g[H + j]), gg = gate_tanh(g[2 * H + j]), o = vsigmoid(g[3 * H + j]);
    const T cn = f * cp[j] + i * gg;
    g[j] = i; g[H + j] = f; g[2 * H + j] = gg; g[3 * H + j] = o;
    c[j] = cn;
    h[j] = o * gate_tanh(cn);
  }
}

template <class T>
void lstm_forward(const RnnStepArgs& a, int64_t b0, int64_t b1) {
  const int64_t H = a.H;
  for (int64_t b = b0; b < b1; ++b)
    lstm_forward_row(H, at<T>(a.gates, b * 4 * H), at<T>(a.cprev, b * H), at<T>(a.c, b * H), at<T>(a.h, b * H));
}

template <class T>
void lstm_backward_row(int64_t H, const T* __restrict g, const T* __restrict cp, const T* __restrict c,
                       const T* __restrict dy, const T* __restrict dh, T* __restrict dc, T* __restrict dg) {
  for (int64_t j = 0; j < H; ++j) {
    const T d = dy[j] + dh[j];
    const T i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j];
    const T tc = gate_tanh(c[j]);
    const T dct = dc[j] + d * o * (T(1) - tc * tc);
    dg[j] = dct * gg * i * (T(1) - i);
    dg[H + j] = dct * cp[j] * f * (T(1) - f);
    dg[2 * H + j] = dct * i * (T(1) - gg * gg);
    dg[3 * H + j] = d * tc * o * (T(1) - o);
    dc[j] = dct * f;
  }
}

template <class T>
void lstm_backward(const RnnStepArgs& a, int64_t b0, int64_t b1) {
  const int64_t H = a.H;
  for (int64_t b = b0; b < b1; ++b)
    lstm_backward_row(H, at<T>(static_cast<const void*>(a.gates), b * 4 * H), at<T>(a.cprev, b * H),
                      at<T>(static_cast<const void*>(a.c), b * H), at<T>(a.dy, b * H),
                      at<T>(static_cast<const void*>(a.dh), b * H), at<T>(a.dc, b * H), at<T>(a.dgx, b * 4 * H));
}

// Gate order r, z, n (PyTorch's); n = tanh(x_n + r * (W_hn h + b_hn)).
template <class T>
void gru_forward_row(int64_t H, T* __restrict g, const T* __restrict hg, const T* __restrict hp, T* __restrict hn,
                     T* __restrict h) {
  for (int64_t j = 0; j < H; ++j) {
    const T r = vsigmoid(g[j] + hg[j]), z = vsigmoid(g[H + j] + hg[H + j]);
    const T n = gate_tanh(g[2 * H + j] + r * hg[2 * H + j]);
    g[j] = r; g[H + j] = z; g[2 * H + j] = n;
    hn[j] = hg[2 * H + j];
    h[j] = (T(1) - z) * n + z * hp[j];
  }
}

template <class T>
void gru_forward(const RnnStepArgs& a, int64_t b0, int64_t b1) {
  const int64_t H = a.H;
  for (int64_t b = b0; b < b1; ++b)
    gru_forward_row(H, at<T>(a.gates, b * 3 * H), at<T>(a.hgates, b * 3 * H), at<T>(a.hprev, b * H),
                    at<T>(a.hn, b * H), at<T>(a.h, b * H));
}

template <class T>
void gru_backward_row(int64_t H, const T* __restrict g, const T* __restrict hn, const T* __restrict hp,
                      const T* __restrict dy, T* __restrict dh, T* __restrict dgx, T* __restrict dgh) {
  for (int64_t j = 0; j < H; ++j) {
    const T d = dy[j] + dh[j];
    const T r = g[j], z = g[H + j], n = g[2 * H + j];
    const T dnp = d * (T(1) - z) * (T(1) - n * n);
    const T drp = dnp * hn[j] * r * (T(1) - r);
    const T dzp = d * (hp[j] - n) * z * (T(1) - z);
    dgx[j] = drp; dgh[j] = drp;
    dgx[H + j] = dzp; dgh[H + j] = dzp;
    dgx[2 * H + j] = dnp; dgh[2 * H + j] = dnp * r;
    dh[j] = d * z;
  }
}

template <class T>
void gru_backward(const RnnStepArgs& a, int64_t b0, int64_t b1) {
  const int64_t H = a.H;
  for (int64_t b = b0; b < b1; ++b)
    gru_backward_row(H, at<T>(static_cast<const void*>(a.gates), b * 3 * H),
                     at<T>(static_cast<const void*>(a.hn), b * H), at<T>(a.hprev, b * H), at<T>(a.dy, b * H),
                     at<T>(a.dh, b * H), at<T>(a.dgx, b * 3 * H), at<T>(a.dgh, b * 3 * H));
}

template <class T>
void fill(Kernels& k) {
  constexpr int d = int(std::is_same_v<T, float> ? DType::Float32 : DType::Float64);
  k.rnn_forward[int(RnnMode::Tanh)][d] = rnn_forward<T, false>;
  k.rnn_forward[int(RnnMode::Relu)][d] = rnn_forward<T, true>;
  k.rnn_forward[int(RnnMode::Lstm)][d] = lstm_forward<T>;
  k.rnn_forward[int(RnnMode::Gru)][d] = gru_forward<T>;
  k.rnn_backward[int(RnnMode::Tanh)][d] = rnn_backward<T, false>;
  k.rnn_backward[int(RnnMode::Relu)][d] = rnn_backward<T, true>;
  k.rnn_backward[int(RnnMode::Lstm)][d] = lstm_backward<T>;
  k.rnn_backward[int(RnnMode::Gru)][d] = gru_backward<T>;
}

}  // namespace
}  // namespace lamina::cpu::LAMINA_ISA

namespace lamina::cpu {

void LAMINA_ISA_FN(register_rnn, LAMINA_ISA)(Kernels& k) {
  LAMINA_ISA::fill<float>(k);
  LAMINA_ISA::fill<double>(k);
}

}  // namespace lamina::cpu

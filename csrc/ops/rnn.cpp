#include "ops/rnn.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cpu_features.h"
#include "core/parallel.h"
#include "ops/copy.h"
#include "ops/matmul.h"

namespace lamina {

namespace {

const char* mode_name(RnnMode m) {
  switch (m) {
    case RnnMode::Tanh: return "rnn_tanh";
    case RnnMode::Relu: return "rnn_relu";
    case RnnMode::Lstm: return "lstm";
    default: return "gru";
  }
}

int64_t gate_count(RnnMode m) { return m == RnnMode::Lstm ? 4 : m == RnnMode::Gru ? 3 : 1; }

// C (rows of ldc) = A * B (+ bias per column), or C += A * B with `accumulate`; strides in
// elements; an empty K gives the bias or zeros.
void gemm(DType dt, int64_t M, int64_t N, int64_t K, const char* A, int64_t rsa, int64_t csa, const char* B,
          int64_t rsb, int64_t csb, char* C, int64_t ldc, const char* bias, bool accumulate) {
  if (M == 0 || N == 0) return;
  const int64_t es = itemsize(dt);
  if (K == 0) {
    if (accumulate) return;
    for (int64_t i = 0; i < M; ++i) {
      char* row = C + i * ldc * es;
      if (bias) std::memcpy(row, bias, size_t(N * es));
      else std::memset(row, 0, size_t(N * es));
    }
    return;
  }
  cpu_gemm(dt, M, N, K, A, rsa, csa, B, rsb, csb, C, ldc, bias, Activation::None, accumulate, get_num_threads());
}

// Per-column sums of a (rows, n) contiguous matrix, accumulated in float64.
template <class T>
void column_sums(const T* g, int64_t rows, int64_t n, T* out) {
  parallel_for(0, n, 64, [&](int64_t lo, int64_t hi) {
    std::vector<double> acc(size_t(hi - lo), 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = g + r * n + lo;
      for (int64_t j = 0; j < hi - lo; ++j) acc[size_t(j)] += double(row[j]);
    }
    for (int64_t j = lo; j < hi; ++j) out[j] = T(acc[size_t(j - lo)]);
  });
}

Tensor column_sums(const Tensor& g, int64_t n) {
  Tensor out = Tensor::empty({n}, g.dtype());
  const int64_t rows = n ? g.numel() / n : 0;
  if (g.dtype() == DType::Float64) column_sums(g.data<double>(), rows, n, out.data<double>());
  else column_sums(g.data<float>(), rows, n, out.data<float>());
  return out;
}

// Slot s of a (S, B, H) contiguous tensor, as a (B, H) view.
Tensor slot(const Tensor& t, int64_t s) {
  const int64_t B = t.shape()[1], H = t.shape()[2];
  return t.as_strided({B, H}, {H, 1}, t.offset() + s * B * H);
}

void set_slot(const Tensor& t, int64_t s, const Tensor* src) {
  Tensor dst = slot(t, s);
  if (src) copy_into(dst, *src);
  else if (dst.numel()) std::memset(dst.bytes(), 0, size_t(dst.numel() * itemsize(dst.dtype())));
}

struct Dims {
  int64_t T, B, I, H, G;
};

Dims check_forward(RnnMode mode, const Tensor& x, const Tensor* h0, const Tensor* c0, const Tensor& w_ih,
                   const Tensor& w_hh, const Tensor* b_ih, const Tensor* b_hh) {
  const char* op = mode_name(mode);
  require_cpu(x, op);
  LAMINA_CHECK(x.dtype() == DType::Float32 || x.dtype() == DType::Float64, TypeError, "[", op,
               "] expected a float32 or float64 input, got ", dtype_name(x.dtype()));
  LAMINA_CHECK(x.dim() == 3, ShapeError, "[", op, "] expected input of shape (T, B, input_size), got ", x.shape());
  LAMINA_CHECK(x.shape()[0] > 0, ValueError, "[", op, "] expected a sequence length larger than 0, got input shape ",
               x.shape());
  LAMINA_CHECK(w_hh.dim() == 2 && w_ih.dim() == 2, ShapeError, "[", op, "] expected 2-D weights, got w_ih ",
               w_ih.shape(), " and w_hh ", w_hh.shape());
  const int64_t G = gate_count(mode), H = w_hh.shape()[1];
  Dims d{x.shape()[0], x.shape()[1], x.shape()[2], H, G};
  LAMINA_CHECK(w_hh.shape()[0] == G * H && w_ih.shape()[0] == G * H && w_ih.shape()[1] == d.I, ShapeError, "[", op,
               "] expected w_ih (", G * H, ", ", d.I, ") and w_hh (", G * H, ", ", H, ") for input ", x.shape(),
               ", got ", w_ih.shape(), " and ", w_hh.shape());
  for (const Tensor* t : {&w_ih, &w_hh, b_ih, b_hh, h0, c0}) {
    if (!t) continue;
    LAMINA_CHECK(t->device() == x.device(), RuntimeError, "[", op, "] expected every operand on ", x.device().str(),
                 ", got one on ", t->device().str());
    LAMINA_CHECK(t->dtype() == x.dtype(), TypeError, "[", op, "] expected every operand of dtype ",
                 dtype_name(x.dtype()), ", got one of ", dtype_name(t->dtype()), " with shape ", t->shape());
  }
  for (const Tensor* b : {b_ih, b_hh})
    LAMINA_CHECK(!b || (b->dim() == 1 && b->shape()[0] == G * H), ShapeError, "[", op, "] expected biases of shape (",
                 G * H, "), got ", b->shape());
  for (const Tensor* s : {h0, c0})
    LAMINA_CHECK(!s || (s->dim() == 2 && s->shape()[0] == d.B && s->shape()[1] == H), ShapeError, "[", op,
                 "] expected an initial state of shape (", d.B, ", ", H, "), got ", s->shape());
  return d;
}

}  // namespace

RnnForwardResult rnn_forward(RnnMode mode, const Tensor& x_in, const Tensor* h0, const Tensor* c0,
                             const Tensor& w_ih_in, const Tensor& w_hh_in, const Tensor* b_ih, const Tensor* b_hh,
                             bool reverse) {
  const Dims d = check_forward(mode, x_in, h0, c0, w_ih_in, w_hh_in, b_ih, b_hh);
  const auto [T, B, I, H, G] = d;
  const int64_t GH = G * H;
  const DType dt = x_in.dtype();
  const int64_t es = itemsize(dt);
  const bool lstm = mode == RnnMode::Lstm, gru = mode == RnnMode::Gru;
  Tensor x = x_in.contiguous(), w_ih = w_ih_in.contiguous(), w_hh = w_hh_in.contiguous();
  // The hidden bias joins the input projection except for GRU, whose n gate scales it by r.
  Tensor bias_x;
  if (gru || !b_hh) bias_x = b_ih ? b_ih->contiguous() : Tensor();
  else if (!b_ih) bias_x = b_hh->contiguous();
  else {
    bias_x = Tensor::empty({GH}, dt);
    copy_into(bias_x, *b_ih);
    Tensor bh = b_hh->contiguous();
    if (dt == DType::Float64) for (int64_t j = 0; j < GH; ++j) bias_x.data<double>()[j] += bh.data<double>()[j];
    else for (int64_t j = 0; j < GH; ++j) bias_x.data<float>()[j] += bh.data<float>()[j];
  }
  Tensor bias_h = gru && b_hh ? b_hh->contiguous() : Tensor();

  RnnForwardResult r;
  r.gates = Tensor::empty({T, B, GH}, dt);
  gemm(dt, T * B, GH, I, x.bytes(), I, 1, w_ih.bytes(), 1, I, r.gates.bytes(), GH,
       bias_x.defined() ? bias_x.bytes() : nullptr, false);
  r.y = Tensor::empty({T + 1 + (lstm ? 1 : 0), B, H}, dt);
  const int64_t first = reverse ? T : 0, last = reverse ? 0 : T;
  set_slot(r.y, first, h0);
  if (lstm) {
    r.aux = Tensor::empty({T + 1, B, H}, dt);
    set_slot(r.aux, first, c0);
  }
  Tensor hg;
  if (gru) {
    r.aux = Tensor::empty({T, B, H}, dt);
    hg = Tensor::empty({B, GH}, dt);
  }
  const cpu::RnnStep step = cpu::kernels().rnn_forward[int(mode)][int(dt)];
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(H, 1));
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = reverse ? T - 1 - s : s, prev = reverse ? t + 1 : t, cur = reverse ? t : t + 1;
    Tensor hprev = slot(r.y, prev);
    char* g = r.gates.bytes() + t * B * GH * es;
    if (gru)
      gemm(dt, B, GH, H, hprev.bytes(), H, 1, w_hh.bytes(), 1, H, hg.bytes(), GH,
           bias_h.defined() ? bias_h.bytes() : nullptr, false);
    else
      gemm(dt, B, GH, H, hprev.bytes(), H, 1, w_hh.bytes(), 1, H, g, GH, nullptr, true);
    cpu::RnnStepArgs a;
    a.H = H;
    a.gates = g;
    a.hprev = hprev.bytes();
    a.h = slot(r.y, cur).bytes();
    if (lstm) {
      a.cprev = slot(r.aux, prev).bytes();
      a.c = slot(r.aux, cur).bytes();
    }
    if (gru) {
      a.hgates = hg.bytes();
      a.hn = slot(r.aux, t).bytes();
    }
    parallel_for(0, B, grain, [&](int64_t lo, int64_t hi) { step(a, lo, hi); });
  }
  if (lstm) copy_into(slot(r.y, T + 1), slot(r.aux, last));
  return r;
}

RnnBackwardResult rnn_backward(RnnMode mode, const Tensor& dy_in, const Tensor& x_in, const RnnForwardResult& saved,
                               const Tensor& w_ih_in, const Tensor& w_hh_in, bool has_bias, bool reverse,
                               bool need_dx) {
  const char* op = mode_name(mode);
  const Dims d = check_forward(mode, x_in, nullptr, nullptr, w_ih_in, w_hh_in, nullptr, nullptr);
  const auto [T, B, I, H, G] = d;
  const int64_t GH = G * H;
  const DType dt = x_in.dtype();
  const int64_t es = itemsize(dt);
  const bool lstm = mode == RnnMode::Lstm, gru = mode == RnnMode::Gru;
  LAMINA_CHECK(dy_in.shape() == saved.y.shape() && saved.gates.shape() == Shape({T, B, GH}), ShapeError, "[", op,
               "_backward] gradient shape ", dy_in.shape(), " differs from output shape ", saved.y.shape());
  const Shape aux_shape = lstm ? Shape{T + 1, B, H} : gru ? Shape{T, B, H} : Shape{};
  LAMINA_CHECK(aux_shape.empty() || (saved.aux.defined() && saved.aux.shape() == aux_shape), ShapeError, "[", op,
               "_backward] expected saved states of shape ", aux_shape);
  Tensor dy = cast(dy_in, dt).contiguous();
  Tensor x = x_in.contiguous(), w_ih = w_ih_in.contiguous(), w_hh = w_hh_in.contiguous();
  RnnBackwardResult r;
  Tensor dgx = Tensor::empty({T, B, GH}, dt);
  Tensor dgh = gru ? Tensor::empty({T, B, GH}, dt) : dgx;
  r.dh0 = Tensor::empty({B, H}, dt);
  set_slot(r.dh0.view_as_shape({1, B, H}), 0, nullptr);  // no gradient from beyond the last step
  if (lstm) {
    r.dc0 = Tensor::empty({B, H}, dt);
    copy_into(r.dc0, slot(dy, T + 1));
  }
  const cpu::RnnStep step = cpu::kernels().rnn_backward[int(mode)][int(dt)];
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(H, 1));
  for (int64_t s = T - 1; s >= 0; --s) {
    const int64_t t = reverse ? T - 1 - s : s, prev = reverse ? t + 1 : t, cur = reverse ? t : t + 1;
    cpu::RnnStepArgs a;
    a.H = H;
    a.gates = saved.gates.bytes() + t * B * GH * es;
    a.hprev = slot(saved.y, prev).bytes();
    a.h = slot(saved.y, cur).bytes();
    if (lstm) {
      a.cprev = slot(saved.aux, prev).bytes();
      a.c = slot(saved.aux, cur).bytes();
      a.dc = r.dc0.bytes();
    }
    if (gru) a.hn = slot(saved.aux, t).bytes();
    a.dy = slot(dy, cur).bytes();
    a.dh = r.dh0.bytes();
    a.dgx = dgx.bytes() + t * B * GH * es;
    a.dgh = dgh.bytes() + t * B * GH * es;
    parallel_for(0, B, grain, [&](int64_t lo, int64_t hi) { step(a, lo, hi); });
    gemm(dt, B, H, GH, static_cast<const char*>(a.dgh), GH, 1, w_hh.bytes(), H, 1, r.dh0.bytes(), H, nullptr, gru);
  }
  if (need_dx) {
    r.dx = Tensor::empty({T, B, I}, dt);
    gemm(dt, T * B, I, GH, dgx.bytes(), GH, 1, w_ih.bytes(), I, 1, r.dx.bytes(), I, nullptr, false);
  }
  // Weight gradients over the whole sequence at once: dW = dG^T @ inputs, K = T * B.
  r.dw_ih = Tensor::empty({GH, I}, dt);
  gemm(dt, GH, I, T * B, dgx.bytes(), 1, GH, x.bytes(), I, 1, r.dw_ih.bytes(), I, nullptr, false);
  r.dw_hh = Tensor::empty({GH, H}, dt);
  const char* hprev_all = saved.y.bytes() + (reverse ? B * H * es : 0);
  gemm(dt, GH, H, T * B, dgh.bytes(), 1, GH, hprev_all, H, 1, r.dw_hh.bytes(), H, nullptr, false);
  if (has_bias) {
    r.db_ih = column_sums(dgx, GH);
    r.db_hh = gru ? column_sums(dgh, GH) : r.db_ih;
  }
  return r;
}

}  // namespace lamina

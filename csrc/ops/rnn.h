// Recurrent layers: one layer and direction of an RNN (tanh/relu), LSTM or GRU over a whole
// sequence, forward and backward, as single calls: the input projection of every step is one
// GEMM, each step one GEMM against W_hh plus a fused gate loop (csrc/cpu/rnn_kernels.cpp), and
// the backward's weight gradients one GEMM each over the whole sequence.
#pragma once
#include "core/tensor.h"
#include "cpu/kernels.h"

namespace lamina {

using cpu::RnnMode;

struct RnnForwardResult {
  // y: (T + 1, B, H) hidden states with h0 in slot 0 (slot T when reverse) and h_t in slot t + 1
  // (slot t when reverse); LSTM appends c_n as slot T + 1. gates: the activations saved for
  // backward (pre-activations for RNN). aux: LSTM's cell states laid out like y's first T + 1
  // slots, GRU's hidden n-gate part (T, B, H); undefined for RNN.
  Tensor y, gates, aux;
};
struct RnnBackwardResult {
  Tensor dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh;  // dc0 only for LSTM, biases only with bias
};

// x: (T, B, I); h0, c0: (B, H) or null (zeros); w_ih: (G*H, I); w_hh: (G*H, H); biases (G*H) or null.
RnnForwardResult rnn_forward(RnnMode mode, const Tensor& x, const Tensor* h0, const Tensor* c0, const Tensor& w_ih,
                             const Tensor& w_hh, const Tensor* b_ih, const Tensor* b_hh, bool reverse);
// dy: the gradient of y (same shape). dx is undefined unless need_dx.
RnnBackwardResult rnn_backward(RnnMode mode, const Tensor& dy, const Tensor& x, const RnnForwardResult& saved,
                               const Tensor& w_ih, const Tensor& w_hh, bool has_bias, bool reverse, bool need_dx);

}  // namespace lamina

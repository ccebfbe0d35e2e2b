// Recurrent layers: one layer-direction over a whole sequence per call (csrc/ops/rnn.h).
#include <optional>

#include "bindings/common.h"
#include "ops/rnn.h"

namespace lamina::py_glue {

namespace {
const Tensor* ptr(const std::optional<Tensor>& t) { return t ? &*t : nullptr; }
std::optional<Tensor> opt(const Tensor& t) { return t.defined() ? std::optional<Tensor>(t) : std::nullopt; }

RnnMode mode_from(int m) {
  LAMINA_CHECK(m >= 0 && m < int(RnnMode::Count), ValueError, "[rnn] unknown mode ", m);
  return RnnMode(m);
}
}  // namespace

void bind_rnn(py::module_& m) {
  m.attr("RNN_MODES") = py::make_tuple("RNN_TANH", "RNN_RELU", "LSTM", "GRU");
  m.def("rnn_forward", [](int mode, const Tensor& x, std::optional<Tensor> h0, std::optional<Tensor> c0,
                          const Tensor& w_ih, const Tensor& w_hh, std::optional<Tensor> b_ih,
                          std::optional<Tensor> b_hh, bool reverse) {
    RnnMode md = mode_from(mode);
    py::gil_scoped_release r;
    RnnForwardResult f = rnn_forward(md, x, ptr(h0), ptr(c0), w_ih, w_hh, ptr(b_ih), ptr(b_hh), reverse);
    return std::make_tuple(f.y, f.gates, opt(f.aux));
  });
  m.def("rnn_backward", [](int mode, const Tensor& dy, const Tensor& x, const Tensor& y, const Tensor& gates,
                           std::optional<Tensor> aux, const Tensor& w_ih, const Tensor& w_hh, bool has_bias,
                           bool reverse, bool need_dx) {
    RnnMode md = mode_from(mode);
    py::gil_scoped_release r;
    RnnBackwardResult b = rnn_backward(md, dy, x, RnnForwardResult{y, gates, aux ? *aux : Tensor()}, w_ih, w_hh,
                                       has_bias, reverse, need_dx);
    return std::make_tuple(opt(b.dx), b.dh0, opt(b.dc0), b.dw_ih, b.dw_hh, opt(b.db_ih), opt(b.db_hh));
  });
}

}  // namespace lamina::py_glue

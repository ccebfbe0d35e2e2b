// Neural-network op entry points: fused attention, cross entropy / nll loss, softmax backward.
#include <optional>

#include "bindings/common.h"
#include "core/random.h"
#include "ops/attention.h"
#include "ops/loss.h"
#include "ops/reduce.h"

namespace lamina::py_glue {

namespace {
const Tensor* opt_ptr(const std::optional<Tensor>& t) { return t ? &*t : nullptr; }

AttentionOptions attention_options(double dropout_p, bool causal, std::optional<double> scale, bool gqa) {
  AttentionOptions o;
  o.dropout_p = dropout_p;
  o.causal = causal;
  o.scale = scale;
  o.enable_gqa = gqa;
  return o;
}

LossOptions loss_options(const std::optional<Tensor>& weight, int64_t ignore_index, int reduction, double smoothing) {
  LAMINA_CHECK(reduction >= 0 && reduction <= 2, ValueError, "invalid reduction code ", reduction);
  LossOptions o;
  o.weight = opt_ptr(weight);
  o.ignore_index = ignore_index;
  o.reduction = Reduction(reduction);
  o.label_smoothing = smoothing;
  return o;
}
}  // namespace

void bind_nn(py::module_& m) {
  m.def("attention_forward", [](const Tensor& q, const Tensor& k, const Tensor& v, std::optional<Tensor> mask,
                                double dropout_p, bool causal, std::optional<double> scale, bool gqa) {
    py::gil_scoped_release r;
    AttentionForwardResult f = attention_forward(q, k, v, opt_ptr(mask), attention_options(dropout_p, causal, scale, gqa),
                                                 default_generator());
    return std::make_tuple(f.out, f.lse, f.seed, f.offset);
  });
  m.def("attention_backward", [](const Tensor& g, const Tensor& q, const Tensor& k, const Tensor& v,
                                 std::optional<Tensor> mask, const Tensor& out, const Tensor& lse, double dropout_p,
                                 bool causal, std::optional<double> scale, bool gqa, uint64_t seed, uint64_t offset) {
    py::gil_scoped_release r;
    AttentionBackwardResult b = attention_backward(g, q, k, v, opt_ptr(mask), out, lse,
                                                   attention_options(dropout_p, causal, scale, gqa), seed, offset);
    return std::make_tuple(b.dq, b.dk, b.dv);
  });
  m.def("cross_entropy_forward", [](const Tensor& x, const Tensor& target, std::optional<Tensor> weight,
                                    int64_t ignore_index, int reduction, double smoothing) {
    LossOptions o = loss_options(weight, ignore_index, reduction, smoothing);
    CrossEntropyResult f = maybe_nogil(x.numel(), [&] { return cross_entropy_forward(x, target, o); });
    return std::make_tuple(f.loss, f.lse, f.denom);
  });
  m.def("cross_entropy_backward", [](const Tensor& g, const Tensor& x, const Tensor& target, const Tensor& lse,
                                     std::optional<Tensor> weight, int64_t ignore_index, int reduction, double smoothing,
                                     double denom) {
    LossOptions o = loss_options(weight, ignore_index, reduction, smoothing);
    return maybe_nogil(x.numel(), [&] { return cross_entropy_backward(g, x, target, lse, o, denom); });
  });
  m.def("nll_loss_forward", [](const Tensor& x, const Tensor& target, std::optional<Tensor> weight,
                               int64_t ignore_index, int reduction) {
    LossOptions o = loss_options(weight, ignore_index, reduction, 0.0);
    return maybe_nogil(x.numel(), [&] { return nll_loss_forward(x, target, o); });
  });
  m.def("nll_loss_backward", [](const Tensor& g, const Tensor& x, const Tensor& target, std::optional<Tensor> weight,
                                int64_t ignore_index, int reduction, double denom) {
    LossOptions o = loss_options(weight, ignore_index, reduction, 0.0);
    return maybe_nogil(x.numel(), [&] { return nll_loss_backward(g, x, target, o, denom); });
  });
  m.def("softmax_backward", [](const Tensor& y, const Tensor& g, int64_t dim, bool log) {
    return maybe_nogil(y.numel(), [&] { return softmax_backward(y, g, dim, log); });
  });
}

}  // namespace lamina::py_glue

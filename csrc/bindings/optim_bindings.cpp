// Optimiser updates and gradient clipping: one _C call per parameter tensor, GIL released for
// large tensors. Optional state tensors arrive as None.
#include <optional>

#include "bindings/common.h"
#include "ops/optim.h"

namespace lamina::py_glue {

namespace {
const Tensor* opt_ptr(const std::optional<Tensor>& t) { return t ? &*t : nullptr; }
}  // namespace

void bind_optim(py::module_& m) {
  m.def("sgd_step", [](const Tensor& p, const Tensor& g, std::optional<Tensor> buf, double lr, double momentum,
                       double dampening, double weight_decay, bool nesterov, bool maximize, bool first) {
    maybe_nogil(p.numel(), [&] {
      sgd_step(p, g, opt_ptr(buf), lr, momentum, dampening, weight_decay, nesterov, maximize, first);
      return 0;
    });
  }, py::arg("param"), py::arg("grad"), py::arg("momentum_buffer"), py::arg("lr"), py::arg("momentum"),
     py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"), py::arg("maximize"), py::arg("first"));
  m.def("adam_step", [](const Tensor& p, const Tensor& g, const Tensor& m1, const Tensor& m2,
                        std::optional<Tensor> vmax, double lr, double beta1, double beta2, double eps,
                        double weight_decay, int64_t step, bool decoupled, bool amsgrad, bool maximize) {
    maybe_nogil(p.numel(), [&] {
      adam_step(p, g, m1, m2, opt_ptr(vmax), lr, beta1, beta2, eps, weight_decay, step, decoupled, amsgrad, maximize);
      return 0;
    });
  }, py::arg("param"), py::arg("grad"), py::arg("exp_avg"), py::arg("exp_avg_sq"), py::arg("max_exp_avg_sq"),
     py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("step"),
     py::arg("decoupled"), py::arg("amsgrad"), py::arg("maximize"));
  m.def("rmsprop_step", [](const Tensor& p, const Tensor& g, const Tensor& sq, std::optional<Tensor> ga,
                           std::optional<Tensor> buf, double lr, double alpha, double eps, double weight_decay,
                           double momentum, bool maximize) {
    maybe_nogil(p.numel(), [&] {
      rmsprop_step(p, g, sq, opt_ptr(ga), opt_ptr(buf), lr, alpha, eps, weight_decay, momentum, maximize);
      return 0;
    });
  }, py::arg("param"), py::arg("grad"), py::arg("square_avg"), py::arg("grad_avg"), py::arg("momentum_buffer"),
     py::arg("lr"), py::arg("alpha"), py::arg("eps"), py::arg("weight_decay"), py::arg("momentum"),
     py::arg("maximize"));
  m.def("adagrad_step", [](const Tensor& p, const Tensor& g, const Tensor& sum, double lr, double lr_decay,
                           double weight_decay, double eps, int64_t step, bool maximize) {
    maybe_nogil(p.numel(), [&] {
      adagrad_step(p, g, sum, lr, lr_decay, weight_decay, eps, step, maximize);
      return 0;
    });
  }, py::arg("param"), py::arg("grad"), py::arg("sum"), py::arg("lr"), py::arg("lr_decay"), py::arg("weight_decay"),
     py::arg("eps"), py::arg("step"), py::arg("maximize"));
  m.def("grad_pow_sum", [](const Tensor& g, double p) { return maybe_nogil(g.numel(), [&] { return grad_pow_sum(g, p); }); },
        "Sum of |g|^p in float64 (max |g| for p = inf).");
  m.def("grad_scale_", [](const Tensor& g, double factor) {
    maybe_nogil(g.numel(), [&] { grad_scale_(g, factor); return 0; });
  });
  m.def("grad_clamp_", [](const Tensor& g, double lo, double hi) {
    maybe_nogil(g.numel(), [&] { grad_clamp_(g, lo, hi); return 0; });
  });
}

}  // namespace lamina::py_glue

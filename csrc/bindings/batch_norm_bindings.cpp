// Batch norm: one _C call per direction; optional tensors arrive as None. The GIL is released
// for large inputs (the forward also writes the running statistics in place).
#include <optional>
#include <tuple>

#include "bindings/common.h"
#include "ops/batch_norm.h"

namespace lamina::py_glue {

namespace {
const Tensor* opt_ptr(const std::optional<Tensor>& t) { return t ? &*t : nullptr; }
std::optional<Tensor> opt(const Tensor& t) { return t.defined() ? std::optional<Tensor>(t) : std::nullopt; }
}  // namespace

void bind_batch_norm(py::module_& m) {
  m.def("batch_norm_forward", [](const Tensor& x, std::optional<Tensor> weight, std::optional<Tensor> bias,
                                 std::optional<Tensor> running_mean, std::optional<Tensor> running_var,
                                 bool training, double momentum, double eps) {
    BatchNormForwardResult f = maybe_nogil(x.numel(), [&] {
      return batch_norm_forward(x, opt_ptr(weight), opt_ptr(bias), opt_ptr(running_mean), opt_ptr(running_var),
                                training, momentum, eps);
    });
    return std::make_tuple(f.y, f.mean, f.invstd);
  }, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("running_mean"), py::arg("running_var"),
     py::arg("training"), py::arg("momentum"), py::arg("eps"),
     "(y, mean, invstd): batch norm over dim 1, updating the running statistics in place when training.");
  m.def("batch_norm_backward", [](const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                                  std::optional<Tensor> weight, bool training, bool need_dweight, bool need_dbias) {
    BatchNormBackwardResult b = maybe_nogil(x.numel(), [&] {
      return batch_norm_backward(dy, x, mean, invstd, opt_ptr(weight), training, need_dweight, need_dbias);
    });
    return std::make_tuple(b.dx, opt(b.dweight), opt(b.dbias));
  }, py::arg("dy"), py::arg("x"), py::arg("mean"), py::arg("invstd"), py::arg("weight"), py::arg("training"),
     py::arg("need_dweight"), py::arg("need_dbias"),
     "(dx, dweight or None, dbias or None) from the forward's mean and invstd.");
}

}  // namespace lamina::py_glue

// Shared glue for the binding files: Python scalars as tensors, dtype/device conversion,
// and releasing the GIL around work big enough to be worth it.
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "core/tensor.h"

namespace lamina::py_glue {

namespace py = pybind11;

// Below this many elements the GIL round trip costs more than the kernel.
constexpr int64_t kReleaseGil = 1 << 15;

template <class F>
auto maybe_nogil(int64_t work, F&& f) {
  if (work >= kReleaseGil) {
    py::gil_scoped_release r;
    return f();
  }
  return f();
}

DType dtype_from(int code);
Device device_from(int type, int index);

// A tensor for `h`: the tensor itself, or a 0-d tensor for a Python bool/int/float whose
// dtype follows PyTorch's rule for wrapped numbers next to `other`.
Tensor as_operand(py::handle h, const Tensor& other, const char* op);
py::object scalar_to_py(const Tensor& t);  // numel must be 1

void bind_tensor(py::module_& m);
void bind_ops(py::module_& m);
void bind_batch_norm(py::module_& m);
void bind_nn(py::module_& m);
void bind_rnn(py::module_& m);
void bind_interop(py::module_& m);
void bind_runtime(py::module_& m);
void bind_optim(py::module_& m);
void bind_conv(py::module_& m);

}  // namespace lamina::py_glue

// Convolution and pooling entry points. Sizes arrive as (rows, columns) pairs already expanded
// by python/lamina/ops/conv.py and pool.py; the GIL is released around every kernel.
#include <array>
#include <optional>

#include "bindings/common.h"
#include "ops/conv.h"
#include "ops/pool.h"

namespace lamina::py_glue {

namespace {

using Pair = std::array<int64_t, 2>;

ConvOptions conv_options(Pair stride, Pair dilation, Pair pad_begin, Pair pad_end, int64_t groups) {
  ConvOptions o;
  o.stride = stride;
  o.dilation = dilation;
  o.pad_begin = pad_begin;
  o.pad_end = pad_end;
  o.groups = groups;
  return o;
}

// Fixed windows when output_size is None, adaptive ones otherwise.
PoolOptions pool_options(Pair kernel, Pair stride, Pair padding, Pair dilation, bool ceil_mode, bool count_include_pad,
                         int64_t divisor_override, std::optional<Pair> output_size) {
  PoolOptions o;
  o.kernel = kernel;
  o.stride = stride;
  o.padding = padding;
  o.dilation = dilation;
  o.ceil_mode = ceil_mode;
  o.count_include_pad = count_include_pad;
  o.divisor_override = divisor_override;
  if (output_size) {
    o.adaptive = true;
    o.output_size = *output_size;
  }
  return o;
}

#define LAMINA_CONV_ARGS py::arg("stride"), py::arg("dilation"), py::arg("pad_begin"), py::arg("pad_end"), py::arg("groups")
#define LAMINA_POOL_ARGS                                                                                       \
  py::arg("kernel") = Pair{1, 1}, py::arg("stride") = Pair{1, 1}, py::arg("padding") = Pair{0, 0},            \
  py::arg("dilation") = Pair{1, 1}, py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,        \
  py::arg("divisor_override") = 0, py::arg("output_size") = py::none()

}  // namespace

void bind_conv(py::module_& m) {
  m.def("conv2d", [](const Tensor& x, const Tensor& w, std::optional<Tensor> b, Pair s, Pair d, Pair pb, Pair pe,
                     int64_t g) {
    py::gil_scoped_release r;
    return conv2d(x, w, b ? &*b : nullptr, conv_options(s, d, pb, pe, g));
  }, py::arg("x"), py::arg("w"), py::arg("bias"), LAMINA_CONV_ARGS);
  m.def("conv2d_backward_data", [](const Tensor& dy, const Tensor& w, int64_t H, int64_t W, Pair s, Pair d, Pair pb,
                                   Pair pe, int64_t g) {
    py::gil_scoped_release r;
    return conv2d_backward_data(dy, w, H, W, conv_options(s, d, pb, pe, g));
  }, py::arg("dy"), py::arg("w"), py::arg("H"), py::arg("W"), LAMINA_CONV_ARGS);
  m.def("conv2d_backward_weight", [](const Tensor& x, const Tensor& dy, int64_t KH, int64_t KW, Pair s, Pair d,
                                     Pair pb, Pair pe, int64_t g) {
    py::gil_scoped_release r;
    return conv2d_backward_weight(x, dy, KH, KW, conv_options(s, d, pb, pe, g));
  }, py::arg("x"), py::arg("dy"), py::arg("KH"), py::arg("KW"), LAMINA_CONV_ARGS);

  m.def("max_pool2d", [](const Tensor& x, Pair k, Pair s, Pair p, Pair d, bool ceil, bool cip, int64_t div,
                         std::optional<Pair> out) {
    py::gil_scoped_release r;
    return max_pool2d(x, pool_options(k, s, p, d, ceil, cip, div, out));
  }, py::arg("x"), LAMINA_POOL_ARGS);
  m.def("avg_pool2d", [](const Tensor& x, Pair k, Pair s, Pair p, Pair d, bool ceil, bool cip, int64_t div,
                         std::optional<Pair> out) {
    py::gil_scoped_release r;
    return avg_pool2d(x, pool_options(k, s, p, d, ceil, cip, div, out));
  }, py::arg("x"), LAMINA_POOL_ARGS);
  m.def("avg_pool2d_backward", [](const Tensor& dy, const Shape& xs, Pair k, Pair s, Pair p, Pair d, bool ceil,
                                  bool cip, int64_t div, std::optional<Pair> out) {
    py::gil_scoped_release r;
    return avg_pool2d_backward(dy, xs, pool_options(k, s, p, d, ceil, cip, div, out));
  }, py::arg("dy"), py::arg("input_shape"), LAMINA_POOL_ARGS);
  m.def("max_pool2d_backward", [](const Tensor& dy, const Tensor& idx, const Shape& xs) {
    py::gil_scoped_release r;
    return max_pool2d_backward(dy, idx, xs);
  });
}

}  // namespace lamina::py_glue

// Op entry points: one _C function per op so Python pays one call and no name lookup.
#include <optional>

#include "bindings/common.h"
#include "core/random.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/index.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "ops/reduce.h"

namespace lamina::py_glue {

using cpu::BinaryOp;
using cpu::UnaryOp;

namespace {
Dims dims_arg(const py::object& o) {
  if (o.is_none()) return {};
  if (py::isinstance<py::int_>(o)) return {o.cast<int64_t>()};
  return o.cast<Dims>();
}
}  // namespace

void bind_ops(py::module_& m) {
  py::dict bcodes, ucodes;
  for (int i = 0; i < int(BinaryOp::Count); ++i) {
    BinaryOp op = BinaryOp(i);
    const char* name = op_name(op);
    bcodes[py::str(name)] = i;
    if (op >= BinaryOp::ReluGrad) continue;  // gradient helpers are bound below under their own names
    m.def(name, [op, name](const Tensor& a, py::handle b) {
      Tensor bt = as_operand(b, a, name);
      return maybe_nogil(a.numel(), [&] { return binary(op, a, bt); });
    });
    // Reflected form for scalar OP tensor.
    m.def((std::string("r") + name).c_str(), [op, name](const Tensor& a, py::handle b) {
      Tensor bt = as_operand(b, a, name);
      return maybe_nogil(a.numel(), [&] { return binary(op, bt, a); });
    });
  }
  m.def("binary_grad", [](int code, const Tensor& x, const Tensor& g, std::vector<double> params) {
    return maybe_nogil(x.numel(), [&] { return binary(BinaryOp(code), x, g, params); });
  });
  m.def("binary_", [](int code, const Tensor& a, py::handle b) {
    LAMINA_CHECK(code >= 0 && code < int(BinaryOp::Count), ValueError, "invalid binary op code ", code);
    Tensor bt = as_operand(b, a, op_name(BinaryOp(code)));
    maybe_nogil(a.numel(), [&] { binary_(BinaryOp(code), a, bt); return 0; });
  });
  for (int i = 0; i < int(UnaryOp::Count); ++i) ucodes[py::str(op_name(UnaryOp(i)))] = i;
  m.def("unary", [](int code, const Tensor& a, std::vector<double> params) {
    LAMINA_CHECK(code >= 0 && code < int(UnaryOp::Count), ValueError, "invalid unary op code ", code);
    return maybe_nogil(a.numel(), [&] { return unary(UnaryOp(code), a, params); });
  }, py::arg("code"), py::arg("a"), py::arg("params") = std::vector<double>{});
  m.def("unary_", [](int code, const Tensor& a, std::vector<double> params) {
    LAMINA_CHECK(code >= 0 && code < int(UnaryOp::Count), ValueError, "invalid unary op code ", code);
    maybe_nogil(a.numel(), [&] { unary_(UnaryOp(code), a, params); return 0; });
  }, py::arg("code"), py::arg("a"), py::arg("params") = std::vector<double>{});
  m.attr("BINARY") = bcodes;
  m.attr("UNARY") = ucodes;
  m.def("result_type", [](py::handle a, py::handle b) {
    if (py::isinstance<Tensor>(a)) return int(result_type(a.cast<const Tensor&>(), as_operand(b, a.cast<const Tensor&>(), "result_type")));
    const Tensor& bt = b.cast<const Tensor&>();
    return int(result_type(as_operand(a, bt, "result_type"), bt));
  });
  m.def("as_operand", [](py::handle v, const Tensor& like) { return as_operand(v, like, "scalar"); });
  m.def("where", [](const Tensor& c, py::handle a, py::handle b) {
    // Scalars take their dtype from the other branch (or the default float/int64 when both are scalars).
    Tensor at, bt;
    if (py::isinstance<Tensor>(a)) { at = a.cast<const Tensor&>(); bt = as_operand(b, at, "where"); }
    else if (py::isinstance<Tensor>(b)) { bt = b.cast<const Tensor&>(); at = as_operand(a, bt, "where"); }
    else {
      Tensor ref = Tensor::empty({}, PyFloat_Check(a.ptr()) || PyFloat_Check(b.ptr()) ? DType::Float32 : DType::Int64);
      at = as_operand(a, ref, "where"); bt = as_operand(b, ref, "where");
    }
    DType dt = result_type(at, bt);
    return maybe_nogil(c.numel(), [&] { return where(c, cast(at, dt), cast(bt, dt)); });
  });

  // Reductions
  auto red = [&m](const char* name, cpu::ReduceOp op) {
    m.def(name, [op](const Tensor& x, py::object dims, bool keepdim) {
      Dims d = dims_arg(dims);
      return maybe_nogil(x.numel(), [&] { return reduce(op, x, d, keepdim); });
    });
  };
  red("sum", cpu::ReduceOp::Sum);
  red("prod", cpu::ReduceOp::Prod);
  red("amax", cpu::ReduceOp::Max);
  red("amin", cpu::ReduceOp::Min);
  m.def("mean", [](const Tensor& x, py::object dims, bool keepdim) {
    Dims d = dims_arg(dims);
    return maybe_nogil(x.numel(), [&] { return mean(x, d, keepdim); });
  });
  m.def("var", [](const Tensor& x, py::object dims, double correction, bool keepdim) {
    Dims d = dims_arg(dims);
    return maybe_nogil(x.numel(), [&] { return var(x, d, correction, keepdim); });
  });
  m.def("max_min_dim", [](const Tensor& x, int64_t dim, bool keepdim, bool is_max) {
    return maybe_nogil(x.numel(), [&] { return max_min_dim(x, dim, keepdim, is_max); });
  });
  m.def("logsumexp", [](const Tensor& x, py::object dims, bool keepdim) {
    Dims d = dims_arg(dims);
    return maybe_nogil(x.numel(), [&] { return logsumexp(x, d, keepdim); });
  });
  m.def("softmax", [](const Tensor& x, int64_t dim, bool log) {
    return maybe_nogil(x.numel(), [&] { return softmax(x, dim, log); });
  });
  m.def("cumsum", [](const Tensor& x, int64_t dim) { return maybe_nogil(x.numel(), [&] { return cumsum(x, dim); }); });

  // Matrix products
  m.def("matmul", [](const Tensor& a, const Tensor& b) {
    py::gil_scoped_release r;
    return matmul(a, b);
  });
  m.def("linear", [](const Tensor& x, const Tensor& w, std::optional<Tensor> bias, int act) {
    LAMINA_CHECK(act >= 0 && act <= int(Activation::Silu), ValueError, "[linear] invalid activation code ", act);
    py::gil_scoped_release r;
    return linear(x, w, bias ? &*bias : nullptr, Activation(act));
  }, py::arg("x"), py::arg("w"), py::arg("bias") = py::none(), py::arg("act") = 0);
  m.def("fma_peak_gflops", [](double seconds) {
    py::gil_scoped_release r;
    return fma_peak_gflops(seconds);
  }, py::arg("seconds") = 0.2);

  // Normalisation
  m.def("norm_forward", [](const Tensor& x, const Shape& ns, std::optional<Tensor> gamma, std::optional<Tensor> beta,
                           double eps, bool rms) {
    py::gil_scoped_release r;
    NormForwardResult f = norm_forward(x, ns, gamma ? &*gamma : nullptr, beta ? &*beta : nullptr, eps, rms);
    return std::make_tuple(f.y, f.mean, f.rstd);
  });
  m.def("norm_backward", [](const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                            std::optional<Tensor> gamma, bool has_beta, const Shape& ns, bool rms) {
    py::gil_scoped_release r;
    NormBackwardResult b = norm_backward(dy, x, mean, rstd, gamma ? &*gamma : nullptr, has_beta, ns, rms);
    auto opt = [](const Tensor& t) { return t.defined() ? std::optional<Tensor>(t) : std::nullopt; };
    return std::make_tuple(b.dx, opt(b.dgamma), opt(b.dbeta));
  });

  // Indexing
  m.def("index_select", [](const Tensor& x, int64_t dim, const Tensor& idx) {
    return maybe_nogil(x.numel(), [&] { return index_select(x, dim, idx); });
  });
  m.def("index_put_dim_", [](const Tensor& t, int64_t dim, const Tensor& idx, const Tensor& src, bool acc) {
    maybe_nogil(src.numel(), [&] { index_put_dim_(t, dim, idx, src, acc); return 0; });
  });
  m.def("gather", [](const Tensor& x, int64_t dim, const Tensor& idx) {
    return maybe_nogil(idx.numel(), [&] { return gather(x, dim, idx); });
  });
  m.def("scatter", [](const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& src, bool acc) {
    return maybe_nogil(idx.numel(), [&] { return scatter(x, dim, idx, src, acc); });
  });
  m.def("nonzero", &nonzero);
  m.def("one_hot", &one_hot);
  m.def("cat", [](const std::vector<Tensor>& xs, int64_t dim) { return cat(xs, dim); });
  m.def("triangle", &triangle);

  // Creation
  m.def("full", [](const Shape& shape, double value, int dt, int dev_type, int dev_index) {
    Device dev = device_from(dev_type, dev_index);
    return full(shape, value, dtype_from(dt), dev);
  });
  m.def("full_int", [](const Shape& shape, int64_t value, int dt) {
    // Integers beyond 2**53 do not survive a trip through double.
    Tensor out = Tensor::empty(shape, DType::Int64);
    int64_t* p = out.data<int64_t>();
    for (int64_t i = 0; i < out.numel(); ++i) p[i] = value;
    return cast(out, dtype_from(dt));
  });
  m.def("arange", [](double s, double e, double st, int dt) { return arange(s, e, st, dtype_from(dt)); });
  m.def("linspace", [](double s, double e, int64_t n, int dt) { return linspace(s, e, n, dtype_from(dt)); });
  m.def("eye", [](int64_t n, int64_t mm, int dt) { return eye(n, mm, dtype_from(dt)); });
  m.def("random", [](const Shape& shape, int dist, double a, double b, int dt) {
    return maybe_nogil(numel_of(shape), [&] {
      return random(shape, Distribution(dist), a, b, dtype_from(dt), default_generator());
    });
  });
  m.def("manual_seed", [](uint64_t s) { default_generator().manual_seed(s); });
  m.def("initial_seed", []() { return default_generator().seed(); });
  m.def("get_rng_state", []() { return py::make_tuple(default_generator().seed(), default_generator().offset()); });
  m.def("set_rng_state", [](uint64_t seed, uint64_t offset) { default_generator().set_state(seed, offset); });
}

}  // namespace lamina::py_glue

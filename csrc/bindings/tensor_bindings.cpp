// _C.Tensor: the C++ tensor as Python sees it (geometry, views, copies, scalars).
// lamina.Tensor (python/lamina/_tensor.py) wraps one of these and adds autograd.
#include "bindings/common.h"
#include "core/cuda_runtime.h"
#include "ops/copy.h"
#include "ops/elementwise.h"

namespace lamina::py_glue {

DType dtype_from(int code) {
  if (code < 0 || code >= kNumDTypes) throw TypeError(msg("invalid dtype code ", code));
  return DType(code);
}

Device device_from(int type, int index) {
  if (type == 0) return Device{DeviceType::CPU, 0};
  LAMINA_CHECK(type == 1, ValueError, "invalid device type ", type);
  LAMINA_CHECK(cuda::compiled(), RuntimeError, "[cuda] lamina was built without CUDA support");
  LAMINA_CHECK(index >= 0 && index < cuda::device_count(), RuntimeError, "[cuda] device cuda:", index,
               " is not available (", cuda::device_count(), " CUDA devices found)");
  return Device{DeviceType::CUDA, index};
}

Tensor as_operand(py::handle h, const Tensor& other, const char* op) {
  if (py::isinstance<Tensor>(h)) return h.cast<const Tensor&>();
  DType ot = other.dtype();
  DType dt;
  double v;
  if (PyBool_Check(h.ptr())) { dt = ot; v = h.ptr() == Py_True; }
  else if (PyLong_Check(h.ptr())) {
    dt = ot == DType::Bool ? DType::Int64 : ot;
    int overflow = 0;
    long long iv = PyLong_AsLongLongAndOverflow(h.ptr(), &overflow);
    LAMINA_CHECK(!overflow, ValueError, "[", op, "] integer ", std::string(py::str(h)), " does not fit in int64");
    if (!is_floating(dt)) {
      Tensor t = Tensor::empty({}, DType::Int64);
      *t.data<int64_t>() = iv;
      return cast(t, dt);
    }
    v = double(iv);
  } else if (PyFloat_Check(h.ptr())) {
    dt = is_floating(ot) ? ot : DType::Float32;
    v = PyFloat_AsDouble(h.ptr());
  } else {
    throw TypeError(msg("[", op, "] unsupported operand type: ", std::string(py::str(py::type::of(h).attr("__name__")))));
  }
  Tensor t = Tensor::empty({}, DType::Float64);
  *t.data<double>() = v;
  return cast(t, dt);
}

py::object scalar_to_py(const Tensor& t_in) {
  LAMINA_CHECK(t_in.numel() == 1, ValueError, "[item] a Tensor with ", t_in.numel(),
               " elements cannot be converted to a Python scalar (shape ", t_in.shape(), ")");
  Tensor t = to(t_in, t_in.dtype(), Device{});
  switch (t.dtype()) {
    case DType::Bool: return py::bool_(*t.data<bool>());
    case DType::Int32: return py::int_(*t.data<int32_t>());
    case DType::Int64: return py::int_(*t.data<int64_t>());
    case DType::Float16: return py::float_(to_float(*t.data<f16>()));
    case DType::BFloat16: return py::float_(to_float(*t.data<bf16>()));
    case DType::Float32: return py::float_(*t.data<float>());
    default: return py::float_(*t.data<double>());
  }
}

void bind_tensor(py::module_& m) {
  py::class_<Tensor>(m, "Tensor")
      .def_property_readonly("shape", [](const Tensor& t) { return py::tuple(py::cast(t.shape())); })
      .def_property_readonly("strides", [](const Tensor& t) { return py::tuple(py::cast(t.strides())); })
      .def_property_readonly("storage_offset", &Tensor::offset)
      .def_property_readonly("dtype", [](const Tensor& t) { return int(t.dtype()); })
      .def_property_readonly("device_type", [](const Tensor& t) { return int(t.device().type); })
      .def_property_readonly("device_index", [](const Tensor& t) { return t.device().index; })
      .def_property_readonly("ndim", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("is_contiguous", &Tensor::is_contiguous)
      .def_property_readonly("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.bytes()); })
      .def_property_readonly("storage_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.storage()->data()); })
      .def_property_readonly("storage_nbytes", [](const Tensor& t) { return t.storage()->nbytes(); })
      // How many tensors (views, exports, this one) hold the storage: autograd takes a fresh
      // gradient as a leaf's .grad without a copy only when this one holds it alone.
      .def_property_readonly("storage_refs", [](const Tensor& t) { return t.storage().use_count(); })
      .def_property_readonly("version", &Tensor::version)
      .def("bump_version", &Tensor::bump_version)
      .def("as_strided", &Tensor::as_strided)
      .def("contiguous", [](const Tensor& t) { return maybe_nogil(t.numel(), [&] { return t.contiguous(); }); })
      .def("view", &Tensor::view_as_shape)
      .def("reshape", [](const Tensor& t, const Shape& s) { return maybe_nogil(t.numel(), [&] { return t.reshape(s); }); })
      .def("expand", &Tensor::expand)
      .def("permute", &Tensor::permute)
      .def("transpose", &Tensor::transpose)
      .def("clone", [](const Tensor& t) { return maybe_nogil(t.numel(), [&] { return to(t, t.dtype(), t.device(), true); }); })
      .def("to", [](const Tensor& t, int dt, int dev_type, int dev_index, bool copy) {
             Device dev = device_from(dev_type, dev_index);
             return maybe_nogil(t.numel(), [&] { return to(t, dtype_from(dt), dev, copy); });
           })
      .def("copy_", [](const Tensor& dst, const Tensor& src) {
             LAMINA_CHECK(broadcast_shapes(dst.shape(), src.shape(), "copy_") == dst.shape(), ShapeError,
                          "[copy_] source of shape ", src.shape(), " cannot be broadcast to ", dst.shape());
             maybe_nogil(dst.numel(), [&] { copy_into(dst, src); return 0; });
           })
      .def("item", &scalar_to_py);
}

}  // namespace lamina::py_glue

// Zero-copy exchange with NumPy (buffer views) and any DLPack producer or consumer.
// Memory lent to lamina is released through the lender's own deleter, under the GIL.
#include <pybind11/numpy.h>

#include "bindings/common.h"
#include "bindings/dlpack.h"

namespace lamina::py_glue {

namespace {

// A tensor over external memory. Strides may be negative: the storage starts at the
// lowest byte the view touches, so the bounds check of every later view stays exact.
Tensor wrap_external(char* data, DType dt, const Shape& shape, const Shape& strides, Device dev,
                     std::function<void()> release) {
  int64_t lo = 0, hi = 0;
  bool empty = numel_of(shape) == 0;
  for (size_t i = 0; i < shape.size() && !empty; ++i) {
    int64_t span = (shape[i] - 1) * strides[i];
    (span < 0 ? lo : hi) += span;
  }
  int64_t es = itemsize(dt);
  auto storage = std::make_shared<Storage>(data + lo * es, empty ? 0 : (hi - lo + 1) * es, dev,
                                           [release](void*) { release(); });
  return Tensor(storage, dt, shape, strides, -lo);
}

DType dtype_from_numpy(const py::dtype& d) {
  char kind = d.kind();
  int64_t size = d.itemsize();
  if (d.byteorder() == '>') throw TypeError("[from_numpy] big-endian arrays are not supported");
  if (kind == 'b') return DType::Bool;
  if (kind == 'i' && size == 4) return DType::Int32;
  if (kind == 'i' && size == 8) return DType::Int64;
  if (kind == 'f' && size == 2) return DType::Float16;
  if (kind == 'f' && size == 4) return DType::Float32;
  if (kind == 'f' && size == 8) return DType::Float64;
  throw TypeError(msg("[from_numpy] unsupported NumPy dtype ", std::string(py::str(d)),
                      "; supported: bool, int32, int64, float16, float32, float64"));
}

const char* numpy_format(DType dt) {
  switch (dt) {
    case DType::Bool: return "?";
    case DType::Int32: return "i4";
    case DType::Int64: return "i8";
    case DType::Float16: return "f2";
    case DType::Float32: return "f4";
    case DType::Float64: return "f8";
    default: throw TypeError(msg("[numpy] NumPy has no ", dtype_name(dt), " dtype; convert with .float() first"));
  }
}

void release_with_gil(PyObject* o) {
  if (!Py_IsInitialized()) return;
  py::gil_scoped_acquire g;
  Py_DECREF(o);
}

// ---- DLPack
struct ExportCtx {
  Tensor tensor;  // keeps the storage alive while the consumer holds it
  Shape shape, strides;
};

DLDataType dl_dtype(DType dt) {
  switch (dt) {
    case DType::Bool: return {kDLBool, 8, 1};
    case DType::Int32: return {kDLInt, 32, 1};
    case DType::Int64: return {kDLInt, 64, 1};
    case DType::Float16: return {kDLFloat, 16, 1};
    case DType::BFloat16: return {kDLBfloat, 16, 1};
    case DType::Float32: return {kDLFloat, 32, 1};
    default: return {kDLFloat, 64, 1};
  }
}

DType dtype_from_dl(DLDataType t) {
  LAMINA_CHECK(t.lanes == 1, TypeError, "[from_dlpack] vector dtypes (lanes=", t.lanes, ") are not supported");
  if (t.code == kDLBool && t.bits == 8) return DType::Bool;
  if (t.code == kDLInt && t.bits == 32) return DType::Int32;
  if (t.code == kDLInt && t.bits == 64) return DType::Int64;
  if (t.code == kDLFloat && t.bits == 16) return DType::Float16;
  if (t.code == kDLBfloat && t.bits == 16) return DType::BFloat16;
  if (t.code == kDLFloat && t.bits == 32) return DType::Float32;
  if (t.code == kDLFloat && t.bits == 64) return DType::Float64;
  fail<TypeError>("[from_dlpack] unsupported DLPack dtype (code ", int(t.code), ", bits ", int(t.bits), ")");
}

void fill_dl(DLTensor& dl, ExportCtx* ctx) {
  const Tensor& t = ctx->tensor;
  dl.data = t.storage()->data();
  dl.byte_offset = uint64_t(t.offset() * itemsize(t.dtype()));
  dl.device = {t.device().is_cuda() ? kDLCUDA : kDLCPU, t.device().index};
  dl.ndim = int32_t(t.dim());
  dl.dtype = dl_dtype(t.dtype());
  dl.shape = ctx->shape.data();
  dl.strides = ctx->strides.data();
}

template <class M>
void delete_managed(M* m) {
  delete static_cast<ExportCtx*>(m->manager_ctx);
  delete m;
}

template <class M>
void capsule_destructor(PyObject* cap) {
  // Only a capsule nobody consumed still carries its original name; a consumer renames it.
  const char* name = std::is_same_v<M, DLManagedTensor> ? "dltensor" : "dltensor_versioned";
  if (PyCapsule_IsValid(cap, name)) {
    auto* m = static_cast<M*>(PyCapsule_GetPointer(cap, name));
    if (m && m->deleter) m->deleter(m);
  } else {
    PyErr_Clear();
  }
}

py::object to_dlpack(const Tensor& t, bool versioned) {
  auto* ctx = new ExportCtx{t, t.shape(), t.strides()};
  if (versioned) {
    auto* m = new DLManagedTensorVersioned{};
    m->version = {1, 0};
    m->manager_ctx = ctx;
    m->deleter = delete_managed<DLManagedTensorVersioned>;
    fill_dl(m->dl_tensor, ctx);
    return py::reinterpret_steal<py::object>(PyCapsule_New(m, "dltensor_versioned", capsule_destructor<DLManagedTensorVersioned>));
  }
  auto* m = new DLManagedTensor{};
  m->manager_ctx = ctx;
  m->deleter = delete_managed<DLManagedTensor>;
  fill_dl(m->dl_tensor, ctx);
  return py::reinterpret_steal<py::object>(PyCapsule_New(m, "dltensor", capsule_destructor<DLManagedTensor>));
}

template <class M>
Tensor import_managed(M* m) {
  const DLTensor& dl = m->dl_tensor;
  Device dev;
  if (dl.device.device_type == kDLCPU || dl.device.device_type == kDLCUDAHost) dev = Device{};
  else if (dl.device.device_type == kDLCUDA) dev = Device{DeviceType::CUDA, dl.device.device_id};
  else fail<TypeError>("[from_dlpack] unsupported device type ", dl.device.device_type);
  DType dt = dtype_from_dl(dl.dtype);
  LAMINA_CHECK(dl.ndim >= 0, ValueError, "[from_dlpack] negative ndim ", dl.ndim);
  Shape shape(dl.shape, dl.shape + dl.ndim);
  Shape strides = dl.strides ? Shape(dl.strides, dl.strides + dl.ndim) : contiguous_strides(shape);
  char* data = static_cast<char*>(dl.data) + dl.byte_offset;
  return wrap_external(data, dt, shape, strides, dev, [m] {
    // Producers' deleters may touch Python objects (NumPy's does).
    if (Py_IsInitialized()) {
      py::gil_scoped_acquire g;
      if (m->deleter) m->deleter(m);
    }
  });
}

Tensor from_dlpack_capsule(py::capsule cap) {
  PyObject* c = cap.ptr();
  if (PyCapsule_IsValid(c, "dltensor_versioned")) {
    auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(c, "dltensor_versioned"));
    LAMINA_CHECK(m->version.major == 1, TypeError, "[from_dlpack] unsupported DLPack version ", m->version.major, ".",
                 m->version.minor);
    Tensor t = import_managed(m);
    PyCapsule_SetName(c, "used_dltensor_versioned");
    return t;
  }
  if (PyCapsule_IsValid(c, "dltensor")) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, "dltensor"));
    Tensor t = import_managed(m);
    PyCapsule_SetName(c, "used_dltensor");
    return t;
  }
  throw ValueError("[from_dlpack] expected an unconsumed DLPack capsule ('dltensor' or 'dltensor_versioned')");
}

}  // namespace

void bind_interop(py::module_& m) {
  m.def("from_numpy", [](py::array arr) {
    DType dt = dtype_from_numpy(arr.dtype());
    int64_t es = itemsize(dt);
    LAMINA_CHECK(py::bool_(arr.attr("flags").attr("aligned")), ValueError, "[from_numpy] array is not aligned");
    Shape shape(arr.shape(), arr.shape() + arr.ndim()), strides(arr.ndim());
    for (py::ssize_t i = 0; i < arr.ndim(); ++i) {
      LAMINA_CHECK(arr.strides()[i] % es == 0, ValueError, "[from_numpy] strides ", Shape(arr.strides(), arr.strides() + arr.ndim()),
                   " (bytes) are not multiples of the element size ", es);
      strides[i] = arr.strides()[i] / es;
    }
    PyObject* owner = arr.ptr();
    Py_INCREF(owner);
    return wrap_external(static_cast<char*>(arr.mutable_data()), dt, shape, strides, Device{},
                         [owner] { release_with_gil(owner); });
  });
  m.def("to_numpy", [](const Tensor& t) {
    LAMINA_CHECK(t.device().is_cpu(), TypeError, "[numpy] can't convert a ", t.device().str(),
                 " tensor to NumPy; use .cpu() first");
    py::dtype dt(numpy_format(t.dtype()));
    std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end()), strides;
    for (int64_t s : t.strides()) strides.push_back(s * itemsize(t.dtype()));
    auto* keep = new Tensor(t);
    py::capsule base(keep, [](void* p) { delete static_cast<Tensor*>(p); });
    return py::array(dt, shape, strides, t.bytes(), base);
  });
  m.def("to_dlpack", &to_dlpack, py::arg("tensor"), py::arg("versioned"));
  m.def("from_dlpack_capsule", &from_dlpack_capsule);
}

}  // namespace lamina::py_glue

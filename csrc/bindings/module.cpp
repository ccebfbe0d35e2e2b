// lamina._C: the one extension module. Maps C++ exceptions to Python's and registers the
// binding groups (tensor, ops, interop, runtime).
#include "bindings/common.h"
#include "core/errors.h"

namespace py = pybind11;
using namespace lamina;

PYBIND11_MODULE(_C, m) {
  m.doc() = "lamina's compiled core: tensors, CPU/CUDA kernels and runtime queries";
  // ShapeError is both a ValueError (NumPy's habit) and a RuntimeError (PyTorch's).
  static PyObject* shape_error = [] {
    PyObject* bases = PyTuple_Pack(2, PyExc_ValueError, PyExc_RuntimeError);
    PyObject* e = PyErr_NewException("lamina.ShapeError", bases, nullptr);
    Py_DECREF(bases);
    return e;
  }();
  m.attr("ShapeError") = py::handle(shape_error);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ShapeError& e) {
      PyErr_SetString(shape_error, e.what());
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const NotImplementedError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    } catch (const ZeroDivisionError& e) {
      PyErr_SetString(PyExc_ZeroDivisionError, e.what());
    }
  });
  py_glue::bind_tensor(m);
  py_glue::bind_ops(m);
  py_glue::bind_batch_norm(m);
  py_glue::bind_nn(m);
  py_glue::bind_rnn(m);
  py_glue::bind_interop(m);
  py_glue::bind_runtime(m);
  py_glue::bind_optim(m);
  py_glue::bind_conv(m);
}

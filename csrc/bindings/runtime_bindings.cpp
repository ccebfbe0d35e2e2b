// Build facts, CPU features and ISA choice, threads, and CUDA device queries.
#include "bindings/common.h"
#include "core/cpu_features.h"
#include "core/cuda_runtime.h"
#include "core/parallel.h"

namespace lamina::py_glue {

void bind_runtime(py::module_& m) {
  m.attr("__version__") = LAMINA_VERSION;
  m.def("build_info", [] {
    py::dict d;
    d["version"] = LAMINA_VERSION;
    d["cuda"] = cuda::compiled();
    d["cuda_archs"] = std::string(LAMINA_CUDA_ARCH_LIST);
    d["compiler"] = std::string(__VERSION__);
    d["openmp"] = _OPENMP;
    return d;
  });
  m.def("cpu_info", [] {
    const CpuInfo& c = cpu_info();
    py::dict d;
    d["vendor"] = c.vendor;
    d["brand"] = c.brand;
    d["avx2"] = c.avx2; d["fma"] = c.fma; d["f16c"] = c.f16c;
    d["avx512f"] = c.avx512f; d["avx512bw"] = c.avx512bw; d["avx512dq"] = c.avx512dq; d["avx512vl"] = c.avx512vl;
    d["avx512_bf16"] = c.avx512_bf16; d["amx"] = c.amx;
    d["l1d"] = c.l1d; d["l2"] = c.l2; d["l3"] = c.l3;
    d["best_isa"] = isa_name(c.best());
    return d;
  });
  m.def("get_isa", [] { return std::string(isa_name(current_isa())); });
  m.def("set_isa", [](const std::string& name) { set_isa(parse_isa(name)); });
  m.def("get_num_threads", &get_num_threads);
  m.def("set_num_threads", [](int n) {
    LAMINA_CHECK(n > 0, ValueError, "[set_num_threads] expected a positive number of threads, got ", n);
    set_num_threads(n);
  });
  m.def("cuda_compiled", &cuda::compiled);
  m.def("cuda_device_count", &cuda::device_count);
  m.def("cuda_device_name", &cuda::device_name);
  m.def("cuda_synchronize", [](int index) { py::gil_scoped_release r; cuda::synchronize(index); });
}

}  // namespace lamina::py_glue

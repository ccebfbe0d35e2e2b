// Build facts, CPU features and ISA choice, threads, and CUDA device queries.
#include "bindings/common.h"
#include "core/cpu_features.h"
#include "core/cuda_runtime.h"
#include "core/parallel.h"
#include "core/storage.h"
#include "cuda/allocator.h"

#include <memory>
#include <new>
#include <unordered_map>

namespace lamina::py_glue {

namespace {
// The device allocator's bookkeeping over a fake device of `capacity` bytes, so its size
// classes, reuse and out-of-memory retry are testable without a GPU. Fake addresses are
// never dereferenced.
struct FakeDevice {
  int64_t capacity = 0, used = 0;
  uintptr_t next = 0x1000;
  std::unordered_map<uintptr_t, int64_t> blocks;
};

void bind_allocator_test_hook(py::module_& m) {
  struct Hook {
    std::shared_ptr<FakeDevice> dev;
    std::unique_ptr<cuda::CachingAllocator> alloc;
  };
  py::class_<Hook>(m, "_CachingAllocatorTest")
      .def(py::init([](int64_t capacity) {
        auto dev = std::make_shared<FakeDevice>();
        dev->capacity = capacity;
        auto h = std::make_unique<Hook>();
        h->dev = dev;
        h->alloc = std::make_unique<cuda::CachingAllocator>(
            [dev](int64_t n) -> void* {
              if (dev->used + n > dev->capacity) throw std::bad_alloc();
              dev->used += n;
              uintptr_t p = dev->next;
              dev->next += uintptr_t(n);
              dev->blocks[p] = n;
              return reinterpret_cast<void*>(p);
            },
            [dev](void* p) {
              auto it = dev->blocks.find(reinterpret_cast<uintptr_t>(p));
              dev->used -= it->second;
              dev->blocks.erase(it);
            });
        return h;
      }))
      .def("allocate", [](Hook& h, int64_t n) { return reinterpret_cast<uintptr_t>(h.alloc->allocate(n)); })
      .def("free", [](Hook& h, uintptr_t p) { h.alloc->free(reinterpret_cast<void*>(p)); })
      .def("empty_cache", [](Hook& h) { h.alloc->empty_cache(); })
      .def("reset_peak", [](Hook& h) { h.alloc->reset_peak(); })
      .def("device_used", [](Hook& h) { return h.dev->used; })
      .def("stats", [](Hook& h) {
        cuda::AllocatorStats s = h.alloc->stats();
        py::dict d;
        d["allocated"] = s.allocated; d["peak_allocated"] = s.peak_allocated; d["reserved"] = s.reserved;
        d["raw_allocs"] = s.raw_allocs; d["raw_frees"] = s.raw_frees;
        return d;
      })
      .def_static("round_size", &cuda::CachingAllocator::round_size);
}
}  // namespace

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
  m.def("cuda_memory_allocated", &cuda::memory_allocated);
  m.def("cuda_max_memory_allocated", &cuda::max_memory_allocated);
  m.def("cuda_memory_reserved", &cuda::memory_reserved);
  m.def("cuda_reset_peak_memory_stats", &cuda::reset_peak_memory_stats);
  m.def("cuda_empty_cache", [] { py::gil_scoped_release r; cuda::empty_cache(); });
  m.def("cpu_memory_cached", &host_cached_bytes);
  m.def("cpu_empty_cache", [] { py::gil_scoped_release r; host_empty_cache(); });
  bind_allocator_test_hook(m);
}

}  // namespace lamina::py_glue

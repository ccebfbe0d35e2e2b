#include "core/cpu_features.h"

#include <cpuid.h>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>

#include "core/errors.h"

namespace lamina {

namespace {

uint64_t xgetbv0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

int64_t read_cache_bytes(int index) {
  std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/size");
  std::string s;
  if (!(f >> s) || s.empty()) return 0;
  int64_t v = std::atoll(s.c_str());
  char unit = s.back();
  return unit == 'K' ? v << 10 : unit == 'M' ? v << 20 : v;
}

CpuInfo detect() {
  CpuInfo c;
  unsigned a, b, cx, d;
  if (!__get_cpuid(0, &a, &b, &cx, &d)) return c;
  unsigned max_leaf = a;
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4); std::memcpy(vendor + 4, &d, 4); std::memcpy(vendor + 8, &cx, 4);
  c.vendor = vendor;
  __get_cpuid(1, &a, &b, &cx, &d);
  bool osxsave = cx & (1u << 27);
  c.fma = cx & (1u << 12);
  c.f16c = cx & (1u << 29);
  uint64_t xcr = osxsave ? xgetbv0() : 0;
  bool ymm_os = (xcr & 0x6) == 0x6, zmm_os = (xcr & 0xe6) == 0xe6;
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, cx, d);
    c.avx2 = ymm_os && (b & (1u << 5));
    c.avx512f = zmm_os && (b & (1u << 16));
    c.avx512dq = zmm_os && (b & (1u << 17));
    c.avx512bw = zmm_os && (b & (1u << 30));
    c.avx512vl = zmm_os && (b & (1u << 31));
    c.amx = d & (1u << 24);
    __cpuid_count(7, 1, a, b, cx, d);
    c.avx512_bf16 = c.avx512f && (a & (1u << 5));
  }
  c.fma = c.fma && ymm_os;
  unsigned ext = __get_cpuid_max(0x80000000, nullptr);
  if (ext >= 0x80000004) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      __get_cpuid(0x80000002 + i, &a, &b, &cx, &d);
      std::memcpy(brand + 16 * i, &a, 4); std::memcpy(brand + 16 * i + 4, &b, 4);
      std::memcpy(brand + 16 * i + 8, &cx, 4); std::memcpy(brand + 16 * i + 12, &d, 4);
    }
    c.brand = brand;
    while (!c.brand.empty() && c.brand.back() == ' ') c.brand.pop_back();
  }
  // Linux exposes the cache hierarchy per CPU: index0 L1d, index2 L2, index3 L3 on x86.
  if (int64_t v = read_cache_bytes(0)) c.l1d = v;
  if (int64_t v = read_cache_bytes(2)) c.l2 = v;
  if (int64_t v = read_cache_bytes(3)) c.l3 = v;
  return c;
}

Isa g_isa;
std::once_flag g_isa_once;

void init_isa() {
  g_isa = cpu_info().best();
  if (const char* env = std::getenv("LAMINA_CPU_ISA")) {
    Isa want = parse_isa(env);
    if (want < g_isa) g_isa = want;  // can only narrow: a wider ISA would fault
  }
}

}  // namespace

Isa CpuInfo::best() const {
  if (avx512f && avx512bw && avx512dq && avx512vl && fma && f16c) return Isa::Avx512;
#ifdef LAMINA_EMULATE_AVX512
  constexpr Isa kAvx2Kernels = Isa::Avx512;  // this build's "avx512" kernels are AVX2 code
#else
  constexpr Isa kAvx2Kernels = Isa::Avx2;
#endif
  if (avx2 && fma && f16c) return kAvx2Kernels;
  return Isa::Base;
}

const CpuInfo& cpu_info() {
  static const CpuInfo info = detect();
  return info;
}

Isa current_isa() {
  std::call_once(g_isa_once, init_isa);
  return g_isa;
}

void set_isa(Isa isa) {
  std::call_once(g_isa_once, init_isa);
  LAMINA_CHECK(isa <= cpu_info().best(), ValueError, "[set_isa] this CPU does not support ", isa_name(isa),
               " (best available: ", isa_name(cpu_info().best()), ")");
  g_isa = isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "base";
  }
}

Isa parse_isa(const std::string& name) {
  if (name == "avx512") return Isa::Avx512;
  if (name == "avx2") return Isa::Avx2;
  if (name == "base") return Isa::Base;
  fail<ValueError>("[set_isa] unknown ISA '", name, "'; expected avx512, avx2 or base");
}

}  // namespace lamina

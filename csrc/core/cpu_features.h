// Run-time CPU detection: which kernel table (ISA) this process uses, and cache sizes for
// blocking. The choice can be narrowed with LAMINA_CPU_ISA=avx512|avx2|base or set_isa().
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lamina {

enum class Isa { Base, Avx2, Avx512 };

struct CpuInfo {
  std::string vendor, brand;
  bool avx2 = false, fma = false, f16c = false, avx512f = false, avx512bw = false, avx512dq = false,
       avx512vl = false, avx512_bf16 = false, amx = false;
  int64_t l1d = 32 << 10, l2 = 1 << 20, l3 = 8 << 20;  // bytes, defaults when unknown
  Isa best() const;
};

const CpuInfo& cpu_info();
Isa current_isa();
void set_isa(Isa isa);  // ValueError if the CPU lacks it
const char* isa_name(Isa isa);
Isa parse_isa(const std::string& name);

}  // namespace lamina

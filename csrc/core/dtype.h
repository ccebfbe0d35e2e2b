// Element types. bfloat16 and float16 are storage types: CPU kernels compute them in float32.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace lamina {

enum class DType : int8_t { Bool, Int32, Int64, Float16, BFloat16, Float32, Float64 };
constexpr int kNumDTypes = 7;

int64_t itemsize(DType t);
const char* dtype_name(DType t);
inline bool is_floating(DType t) { return t >= DType::Float16; }
inline bool is_integral(DType t) { return t == DType::Int32 || t == DType::Int64; }
// PyTorch's promotion lattice for two tensors of equal standing.
DType promote(DType a, DType b);

// 16-bit float conversions, round-to-nearest-even, NaN and infinities preserved.
struct bf16 { uint16_t bits; };
struct f16 { uint16_t bits; };

inline float to_float(bf16 v) {
  uint32_t u = uint32_t(v.bits) << 16; float f; std::memcpy(&f, &u, 4); return f;
}
inline bf16 to_bf16(float f) {
  uint32_t u; std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{uint16_t((u >> 16) | 0x40)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{uint16_t(u >> 16)};
}
inline float to_float(f16 v) {
  uint32_t h = v.bits, sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu, u;
  if (exp == 0x1f) u = sign | 0x7f800000u | (man << 13);
  else if (exp) u = sign | ((exp + 112) << 23) | (man << 13);
  else if (!man) u = sign;
  else {  // subnormal: renormalise
    int e = -1; do { ++e; man <<= 1; } while (!(man & 0x400u));
    u = sign | uint32_t(112 - e) << 23 | ((man & 0x3ffu) << 13);
  }
  float f; std::memcpy(&f, &u, 4); return f;
}
inline f16 to_f16(float f) {
  uint32_t u; std::memcpy(&u, &f, 4);
  uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return f16{uint16_t(sign | 0x7e00u)};
  if (a >= 0x477ff000u) return f16{uint16_t(sign | 0x7c00u)};  // overflows to inf
  if (a < 0x38800000u) {  // result is subnormal or zero
    float af; std::memcpy(&af, &a, 4);
    // adding 0.5 shifts the value so the hardware rounding does the work (ties to even)
    float t = af + 0.5f; uint32_t tu; std::memcpy(&tu, &t, 4);
    return f16{uint16_t(sign | (tu - 0x3f000000u))};
  }
  uint32_t r = a + 0xc8000fffu + ((a >> 13) & 1u);  // rebias exponent, round to nearest even
  return f16{uint16_t(sign | (r >> 13))};
}

}  // namespace lamina

#include "core/dtype.h"

namespace lamina {

int64_t itemsize(DType t) {
  static const int64_t sizes[kNumDTypes] = {1, 4, 8, 2, 2, 4, 8};
  return sizes[int(t)];
}

const char* dtype_name(DType t) {
  static const char* names[kNumDTypes] = {"bool", "int32", "int64", "float16", "bfloat16", "float32", "float64"};
  return names[int(t)];
}

DType promote(DType a, DType b) {
  if (a == b) return a;
  // float16 with bfloat16 has no exact common 16-bit type: PyTorch gives float32.
  if ((a == DType::Float16 && b == DType::BFloat16) || (a == DType::BFloat16 && b == DType::Float16))
    return DType::Float32;
  return a > b ? a : b;
}

}  // namespace lamina

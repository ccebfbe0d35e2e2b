// Tensors made from nothing: constants, ranges, identity, and random draws.
#pragma once
#include "core/random.h"
#include "core/tensor.h"

namespace lamina {

Tensor full(const Shape& shape, double value, DType dt, Device dev);
Tensor arange(double start, double end, double step, DType dt);
Tensor linspace(double start, double end, int64_t steps, DType dt);
Tensor eye(int64_t n, int64_t m, DType dt);

enum class Distribution { Uniform, Normal, Integer };
// Uniform: [a, b); Normal: mean a, std b; Integer: [a, b) whole numbers.
Tensor random(const Shape& shape, Distribution dist, double a, double b, DType dt, Generator& gen);

// tril (upper=false) or triu over the last two dims, keeping diagonal offset k.
Tensor triangle(const Tensor& x, int64_t k, bool upper);

}  // namespace lamina

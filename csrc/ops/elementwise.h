// Elementwise ops: validation, broadcasting and PyTorch's type promotion, then the CPU inner
// loops from cpu/kernels.h (float16/bfloat16 are computed in float32 and rounded back).
#pragma once
#include <vector>

#include "core/tensor.h"
#include "cpu/kernels.h"

namespace lamina {

// PyTorch's result type: a 0-d operand only widens the other within its category.
DType result_type(const Tensor& a, const Tensor& b);

Tensor binary(cpu::BinaryOp op, const Tensor& a, const Tensor& b, const std::vector<double>& params = {});
// a = a op b, in place; b broadcasts to a's shape and the result must cast to a's dtype.
void binary_(cpu::BinaryOp op, const Tensor& a, const Tensor& b);
Tensor unary(cpu::UnaryOp op, const Tensor& a, const std::vector<double>& params = {});
void unary_(cpu::UnaryOp op, const Tensor& a, const std::vector<double>& params = {});

const char* op_name(cpu::BinaryOp op);
const char* op_name(cpu::UnaryOp op);

}  // namespace lamina

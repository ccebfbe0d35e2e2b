// Reductions over any set of dims (an empty list means all dims), and the row-wise
// softmax family. Validation and layout here; the loops live in cpu/reduce_kernels.cpp.
#pragma once
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "cpu/kernels.h"

namespace lamina {

using Dims = std::vector<int64_t>;

Tensor reduce(cpu::ReduceOp op, const Tensor& x, const Dims& dims, bool keepdim);
Tensor mean(const Tensor& x, const Dims& dims, bool keepdim);
Tensor var(const Tensor& x, const Dims& dims, double correction, bool keepdim);
// Values and int64 indices of the max (or min) along one dim.
std::pair<Tensor, Tensor> max_min_dim(const Tensor& x, int64_t dim, bool keepdim, bool is_max);
Tensor logsumexp(const Tensor& x, const Dims& dims, bool keepdim);
Tensor softmax(const Tensor& x, int64_t dim, bool log);
// Gradient of softmax/log_softmax along `dim` from the forward output y and the gradient g.
Tensor softmax_backward(const Tensor& y, const Tensor& g, int64_t dim, bool log);
Tensor cumsum(const Tensor& x, int64_t dim);

}  // namespace lamina

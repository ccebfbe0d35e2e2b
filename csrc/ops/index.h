// Gathering and scattering by integer indices. Every index is bounds-checked (IndexError)
// before any element moves, so no index from Python can reach memory outside a tensor.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace lamina {

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// target[..., index[i], ...] (+)= src[..., i, ...] along dim, in place. Duplicates accumulate
// when `accumulate`; otherwise one of the written values wins.
void index_put_dim_(const Tensor& target, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// out = x with src scattered at index along dim (added when `accumulate`).
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate);
Tensor nonzero(const Tensor& x);  // (count, ndim) int64
Tensor one_hot(const Tensor& index, int64_t num_classes);
Tensor cat(const std::vector<Tensor>& xs, int64_t dim);

}  // namespace lamina

// Copies with casting between any dtypes and strides, across devices.
#pragma once
#include "core/tensor.h"

namespace lamina {

// dst[...] = src[...] (src broadcast to dst's shape), converting dtype; bumps dst's version.
void copy_into(const Tensor& dst, const Tensor& src);
// A new contiguous tensor of `dt` on `dev` (self when nothing changes and `force_copy` is false).
Tensor to(const Tensor& src, DType dt, Device dev, bool force_copy = false);
Tensor cast(const Tensor& src, DType dt);

// where(cond, a, b) with broadcasting; a and b already share a dtype.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

}  // namespace lamina

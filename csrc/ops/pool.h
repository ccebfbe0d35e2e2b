// 2-D max and average pooling over NCHW tensors (1-D pooling is the H = 1 case), fixed windows
// or adaptive ones, forward and backward. Loops are plain: every output reads a handful of inputs.
#pragma once
#include <array>
#include <utility>

#include "core/tensor.h"

namespace lamina {

struct PoolOptions {
  // Fixed windows (PyTorch's max_pool2d/avg_pool2d arguments), rows then columns.
  std::array<int64_t, 2> kernel{1, 1}, stride{1, 1}, padding{0, 0}, dilation{1, 1};
  bool ceil_mode = false;
  bool count_include_pad = true;
  int64_t divisor_override = 0;  // 0: none
  // Adaptive windows: output size given, windows derived from it (the fields above unused).
  bool adaptive = false;
  std::array<int64_t, 2> output_size{1, 1};
};

// Max over each window: the values and, per output, the flat index (h * W + w) of the input it
// came from (NaN wins; the first maximum on ties).
std::pair<Tensor, Tensor> max_pool2d(const Tensor& x, const PoolOptions& o);
Tensor avg_pool2d(const Tensor& x, const PoolOptions& o);
// dx (shape `input_shape`): each dy added to the input its index names.
Tensor max_pool2d_backward(const Tensor& dy, const Tensor& indices, const Shape& input_shape);
Tensor avg_pool2d_backward(const Tensor& dy, const Shape& input_shape, const PoolOptions& o);

}  // namespace lamina

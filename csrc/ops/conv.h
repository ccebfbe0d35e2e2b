// 2-D convolution over NCHW tensors (1-D ones are the H = 1 case), forward and both gradients:
// validation, dtypes, the choice of algorithm and the threads. Inner loops: csrc/cpu/conv_kernels.cpp
// (patch copies, depthwise loops) and the GEMM of csrc/cpu/gemm_kernels.cpp.
#pragma once
#include <array>

#include "core/tensor.h"

namespace lamina {

struct ConvOptions {
  std::array<int64_t, 2> stride{1, 1}, dilation{1, 1};
  std::array<int64_t, 2> pad_begin{0, 0}, pad_end{0, 0};  // rows then columns; may differ ('same')
  int64_t groups = 1;
};

// y = conv2d(x, w) + bias: x (N, C, H, W), w (O, C / groups, KH, KW), bias (O,) or null.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const ConvOptions& o);
// Gradient of conv2d with respect to an input of spatial size H x W, from dy (N, O, OH, OW);
// this is also conv_transpose2d's forward (the caller picks H and W for output_padding).
Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, int64_t H, int64_t W, const ConvOptions& o);
// Gradient of conv2d with respect to a weight of KH x KW taps: (O, C / groups, KH, KW).
Tensor conv2d_backward_weight(const Tensor& x, const Tensor& dy, int64_t KH, int64_t KW, const ConvOptions& o);

}  // namespace lamina

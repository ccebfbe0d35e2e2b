// Layer norm and RMS norm over the trailing `normalized_shape` dims: validation, dtypes and
// threads; the fused loops are csrc/cpu/norm_kernels.cpp.
#pragma once
#include "core/tensor.h"

namespace lamina {

struct NormForwardResult {
  Tensor y, mean, rstd;  // mean and rstd: one per row, shape x.shape[:-len(normalized_shape)]
};
struct NormBackwardResult {
  Tensor dx, dgamma, dbeta;  // dgamma/dbeta undefined when there was no gamma/beta
};

NormForwardResult norm_forward(const Tensor& x, const Shape& normalized_shape, const Tensor* gamma,
                               const Tensor* beta, double eps, bool rms);
NormBackwardResult norm_backward(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                 const Tensor* gamma, bool has_beta, const Shape& normalized_shape, bool rms);

}  // namespace lamina

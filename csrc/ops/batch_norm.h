// Batch norm over the channel dim (1) of an (N, C, *) input: validation, dtypes, threads and the
// running-statistics update; the fused loops are csrc/cpu/batch_norm_kernels.cpp.
#pragma once
#include "core/tensor.h"

namespace lamina {

struct BatchNormForwardResult {
  // mean and invstd: shape (C,), float64 whatever the input dtype (a float32 mean far from zero
  // would lose the digits the backward needs). Training: the batch's mean and
  // 1/sqrt(biased var + eps); eval: the running mean and 1/sqrt(running_var + eps).
  Tensor y, mean, invstd;
};
struct BatchNormBackwardResult {
  Tensor dx, dweight, dbias;  // dweight/dbias undefined unless asked for
};

// Training normalises with the batch's statistics and, when running_mean/running_var are given,
// moves them in place by `momentum` towards the batch mean and unbiased variance. Eval uses the
// running statistics (both required).
BatchNormForwardResult batch_norm_forward(const Tensor& x, const Tensor* weight, const Tensor* bias,
                                          const Tensor* running_mean, const Tensor* running_var, bool training,
                                          double momentum, double eps);
// Gradients from the forward's mean and invstd; `training` says whether those were the batch's
// own statistics (so they depend on x) or constants.
BatchNormBackwardResult batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& mean,
                                            const Tensor& invstd, const Tensor* weight, bool training,
                                            bool need_dweight, bool need_dbias);

}  // namespace lamina

// Optimiser updates and gradient clipping: validation and threads around the fused loops of
// csrc/cpu/optim_kernels.cpp. Every update writes its parameter and state tensors in place and
// bumps their version counters like any other in-place op.
#pragma once
#include "core/tensor.h"

namespace lamina {

// momentum_buffer: null when momentum == 0; `first`: the buffer is filled, not blended, this step.
void sgd_step(const Tensor& param, const Tensor& grad, const Tensor* momentum_buffer, double lr, double momentum,
              double dampening, double weight_decay, bool nesterov, bool maximize, bool first);
// step: the step number after this update (1 on the first call), for the bias corrections.
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
               const Tensor* max_exp_avg_sq, double lr, double beta1, double beta2, double eps, double weight_decay,
               int64_t step, bool decoupled, bool amsgrad, bool maximize);
void rmsprop_step(const Tensor& param, const Tensor& grad, const Tensor& square_avg, const Tensor* grad_avg,
                  const Tensor* momentum_buffer, double lr, double alpha, double eps, double weight_decay,
                  double momentum, bool maximize);
void adagrad_step(const Tensor& param, const Tensor& grad, const Tensor& sum, double lr, double lr_decay,
                  double weight_decay, double eps, int64_t step, bool maximize);

// Sum of |g|^p over all elements in float64 (max |g| for p = inf): one tensor's share of a norm.
double grad_pow_sum(const Tensor& g, double p);
// g *= factor and g = clamp(g, lo, hi), in place without temporaries.
void grad_scale_(const Tensor& g, double factor);
void grad_clamp_(const Tensor& g, double lo, double hi);

}  // namespace lamina

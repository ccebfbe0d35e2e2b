// Classification losses with PyTorch's semantics: cross_entropy over logits (class-index or
// probability targets, class weights, ignore_index, label smoothing) and nll_loss over
// log-probabilities. The class dim is dim 1 of (N, C, d1, ...) inputs, or dim 0 of a (C,) input.
// The fused cross-entropy loops are csrc/cpu/loss_kernels.cpp.
#pragma once
#include "core/tensor.h"

namespace lamina {

enum class Reduction : int { None = 0, Mean = 1, Sum = 2 };

struct LossOptions {
  const Tensor* weight = nullptr;  // (C,) or null
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::Mean;
  double label_smoothing = 0;
};

struct CrossEntropyResult {
  Tensor loss;  // 0-d, or the target's shape (class indices) / input without dim 1 (probabilities)
  Tensor lse;   // per row, saved for the backward
  double denom = 1;  // what 'mean' divided by
};

CrossEntropyResult cross_entropy_forward(const Tensor& input, const Tensor& target, const LossOptions& opt);
Tensor cross_entropy_backward(const Tensor& grad, const Tensor& input, const Tensor& target, const Tensor& lse,
                              const LossOptions& opt, double denom);

// nll_loss: forward returns (loss, denom); the backward scatters -w[t] * grad into zeros.
std::pair<Tensor, double> nll_loss_forward(const Tensor& input, const Tensor& target, const LossOptions& opt);
Tensor nll_loss_backward(const Tensor& grad, const Tensor& input, const Tensor& target, const LossOptions& opt,
                         double denom);

}  // namespace lamina

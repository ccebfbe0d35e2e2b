// Scaled dot-product attention with PyTorch's semantics: validation, broadcasting of k/v and the
// mask over q's batch dims, grouped-query heads, dtypes and threads. The fused loops are
// csrc/cpu/attention_kernels.cpp.
#pragma once
#include <optional>

#include "core/random.h"
#include "core/tensor.h"

namespace lamina {

struct AttentionOptions {
  double dropout_p = 0;
  bool causal = false;
  std::optional<double> scale;  // default 1 / sqrt(E)
  bool enable_gqa = false;
};

struct AttentionForwardResult {
  Tensor out;  // q.shape[:-1] + (Ev,)
  Tensor lse;  // q.shape[:-1], log-sum-exp of each query's scaled, masked scores (-inf: fully masked)
  uint64_t seed = 0, offset = 0;  // the dropout draw, for the backward
};
struct AttentionBackwardResult {
  Tensor dq, dk, dv;
};

// mask: null, bool (true = take part) or additive float, broadcastable to q.shape[:-2] + (L, S).
AttentionForwardResult attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                                         const AttentionOptions& opt, Generator& gen);
AttentionBackwardResult attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                           const Tensor* mask, const Tensor& out, const Tensor& lse,
                                           const AttentionOptions& opt, uint64_t seed, uint64_t offset);

}  // namespace lamina

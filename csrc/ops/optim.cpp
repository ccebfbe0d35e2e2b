#include "ops/optim.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <utility>
#include <vector>

#include "core/parallel.h"
#include "cpu/kernels.h"
#include "ops/copy.h"
#include "ops/elementwise.h"

namespace lamina {

namespace {

// Elements per thread below which a second thread costs more than it saves: the updates stream
// a few arrays and do a handful of flops per element.
constexpr int64_t kGrain = 1 << 15;

using Named = std::pair<const char*, const Tensor*>;

// The parameter must be a contiguous float32/float64 CPU tensor (it is written in place); the
// gradient and every state tensor must match its shape and dtype, and state tensors (also written
// in place) must be contiguous. Returns the gradient, made contiguous if it was not.
Tensor check_update(const char* op, const Tensor& param, const Tensor& grad, std::initializer_list<Named> states) {
  require_cpu(param, op);
  LAMINA_CHECK(param.dtype() == DType::Float32 || param.dtype() == DType::Float64, TypeError, "[", op,
               "] parameters must be float32 or float64, got ", dtype_name(param.dtype()));
  // An empty tensor has nothing to update, whatever its strides say.
  const bool empty = param.numel() == 0;
  LAMINA_CHECK(empty || param.is_contiguous(), ValueError, "[", op, "] the parameter (shape ", param.shape(), ", strides ",
               param.strides(), ") must be contiguous: the update runs in place over its elements");
  auto same = [&](const char* name, const Tensor& t) {
    require_cpu(t, op);
    LAMINA_CHECK(t.shape() == param.shape(), ShapeError, "[", op, "] ", name, " shape ", t.shape(),
                 " differs from parameter shape ", param.shape());
    LAMINA_CHECK(t.dtype() == param.dtype(), TypeError, "[", op, "] ", name, " dtype ", dtype_name(t.dtype()),
                 " differs from parameter dtype ", dtype_name(param.dtype()));
  };
  same("gradient", grad);
  for (const Named& s : states) {
    if (!s.second) continue;
    same(s.first, *s.second);
    LAMINA_CHECK(empty || s.second->is_contiguous(), ValueError, "[", op, "] state '", s.first, "' (shape ",
                 s.second->shape(), ", strides ", s.second->strides(), ") must be contiguous");
    LAMINA_CHECK(empty || s.second->storage() != param.storage(), ValueError, "[", op, "] state '", s.first,
                 "' shares memory with the parameter");
  }
  return grad.contiguous();
}

template <class Args, class Loop>
void run_update(const Args& a, Loop loop, const Tensor& param, std::initializer_list<const Tensor*> written) {
  parallel_for(0, param.numel(), kGrain, [&](int64_t lo, int64_t hi) { loop(a, lo, hi); });
  param.bump_version();
  for (const Tensor* t : written)
    if (t) t->bump_version();
}

void* ptr(const Tensor* t) { return t ? static_cast<void*>(t->bytes()) : nullptr; }

void check_step(const char* op, int64_t step) {
  LAMINA_CHECK(step >= 1, ValueError, "[", op, "] step must be at least 1 (the count after this update), got ", step);
}

}  // namespace

void sgd_step(const Tensor& param, const Tensor& grad_in, const Tensor* momentum_buffer, double lr, double momentum,
              double dampening, double weight_decay, bool nesterov, bool maximize, bool first) {
  const char* op = "sgd_step";
  LAMINA_CHECK((momentum != 0) == (momentum_buffer != nullptr), ValueError, "[", op,
               "] a momentum buffer is needed exactly when momentum != 0 (momentum=", momentum, ")");
  Tensor grad = check_update(op, param, grad_in, {{"momentum_buffer", momentum_buffer}});
  cpu::SgdArgs a;
  a.param = param.bytes();
  a.grad = grad.bytes();
  a.momentum_buffer = ptr(momentum_buffer);
  a.lr = lr; a.momentum = momentum; a.dampening = dampening; a.weight_decay = weight_decay;
  a.nesterov = nesterov; a.maximize = maximize; a.first = first;
  run_update(a, cpu::kernels().sgd[int(param.dtype())], param, {momentum_buffer});
}

void adam_step(const Tensor& param, const Tensor& grad_in, const Tensor& exp_avg, const Tensor& exp_avg_sq,
               const Tensor* max_exp_avg_sq, double lr, double beta1, double beta2, double eps, double weight_decay,
               int64_t step, bool decoupled, bool amsgrad, bool maximize) {
  const char* op = decoupled ? "adamw_step" : "adam_step";
  LAMINA_CHECK(amsgrad == (max_exp_avg_sq != nullptr), ValueError, "[", op,
               "] max_exp_avg_sq must be given exactly when amsgrad is set");
  check_step(op, step);
  Tensor grad = check_update(op, param, grad_in,
                             {{"exp_avg", &exp_avg}, {"exp_avg_sq", &exp_avg_sq}, {"max_exp_avg_sq", max_exp_avg_sq}});
  cpu::AdamArgs a;
  a.param = param.bytes();
  a.grad = grad.bytes();
  a.exp_avg = exp_avg.bytes();
  a.exp_avg_sq = exp_avg_sq.bytes();
  a.max_exp_avg_sq = ptr(max_exp_avg_sq);
  a.lr = lr; a.beta1 = beta1; a.beta2 = beta2; a.eps = eps; a.weight_decay = weight_decay;
  a.step_size = lr / (1 - std::pow(beta1, double(step)));
  a.bias_correction2_sqrt = std::sqrt(1 - std::pow(beta2, double(step)));
  a.decoupled = decoupled; a.maximize = maximize;
  run_update(a, cpu::kernels().adam[int(param.dtype())], param, {&exp_avg, &exp_avg_sq, max_exp_avg_sq});
}

void rmsprop_step(const Tensor& param, const Tensor& grad_in, const Tensor& square_avg, const Tensor* grad_avg,
                  const Tensor* momentum_buffer, double lr, double alpha, double eps, double weight_decay,
                  double momentum, bool maximize) {
  const char* op = "rmsprop_step";
  LAMINA_CHECK((momentum > 0) == (momentum_buffer != nullptr), ValueError, "[", op,
               "] a momentum buffer is needed exactly when momentum > 0 (momentum=", momentum, ")");
  Tensor grad = check_update(op, param, grad_in,
                             {{"square_avg", &square_avg}, {"grad_avg", grad_avg}, {"momentum_buffer", momentum_buffer}});
  cpu::RmspropArgs a;
  a.param = param.bytes();
  a.grad = grad.bytes();
  a.square_avg = square_avg.bytes();
  a.grad_avg = ptr(grad_avg);
  a.momentum_buffer = ptr(momentum_buffer);
  a.lr = lr; a.alpha = alpha; a.eps = eps; a.weight_decay = weight_decay; a.momentum = momentum;
  a.maximize = maximize;
  run_update(a, cpu::kernels().rmsprop[int(param.dtype())], param, {&square_avg, grad_avg, momentum_buffer});
}

void adagrad_step(const Tensor& param, const Tensor& grad_in, const Tensor& sum, double lr, double lr_decay,
                  double weight_decay, double eps, int64_t step, bool maximize) {
  const char* op = "adagrad_step";
  check_step(op, step);
  Tensor grad = check_update(op, param, grad_in, {{"sum", &sum}});
  cpu::AdagradArgs a;
  a.param = param.bytes();
  a.grad = grad.bytes();
  a.sum = sum.bytes();
  a.clr = lr / (1 + double(step - 1) * lr_decay);
  a.eps = eps; a.weight_decay = weight_decay; a.maximize = maximize;
  run_update(a, cpu::kernels().adagrad[int(param.dtype())], param, {&sum});
}

double grad_pow_sum(const Tensor& g_in, double p) {
  const char* op = "clip_grad_norm_";
  require_cpu(g_in, op);
  LAMINA_CHECK(is_floating(g_in.dtype()), TypeError, "[", op, "] gradients must be floating point, got ",
               dtype_name(g_in.dtype()));
  LAMINA_CHECK(p > 0 && !std::isnan(p), ValueError, "[", op, "] norm_type must be positive or inf, got ", p);
  const DType c = g_in.dtype() == DType::Float32 ? DType::Float32 : DType::Float64;
  const Tensor g = cast(g_in, c).contiguous();
  auto fn = cpu::kernels().pow_sum[int(c)];
  const int64_t n = g.numel(), isz = itemsize(c);
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), n / kGrain));
  std::vector<double> part(size_t(chunks), 0.0);
  parallel_for(0, chunks, 0, [&](int64_t lo, int64_t hi) {
    for (int64_t ch = lo; ch < hi; ++ch) {
      const int64_t b = n * ch / chunks, e = n * (ch + 1) / chunks;
      part[size_t(ch)] = fn(g.bytes() + b * isz, e - b, p);
    }
  });
  double r = 0;
  for (double v : part) r = std::isinf(p) ? ((v != v || v > r) ? v : r) : r + v;
  return r;
}

namespace {

// In place through the elementwise table's loop (reading and writing the same unit-stride row is
// safe elementwise); other layouts and dtypes go through the general op.
void unary_in_place(cpu::UnaryOp code, const Tensor& g, std::vector<double> params) {
  require_cpu(g, op_name(code));
  auto fn = cpu::kernels().unary[int(code)][int(g.dtype())];
  if (!g.is_contiguous() || !fn || !is_floating(g.dtype())) {
    unary_(code, g, params);
    return;
  }
  const int64_t isz = itemsize(g.dtype());
  parallel_for(0, g.numel(), kGrain, [&](int64_t lo, int64_t hi) {
    fn(hi - lo, g.bytes() + lo * isz, isz, g.bytes() + lo * isz, isz, params.data());
  });
  g.bump_version();
}

}  // namespace

void grad_scale_(const Tensor& g, double factor) { unary_in_place(cpu::UnaryOp::MulScalar, g, {factor}); }

void grad_clamp_(const Tensor& g, double lo, double hi) {
  LAMINA_CHECK(!(lo > hi), ValueError, "[clip_grad_value_] lower bound ", lo, " exceeds upper bound ", hi);
  unary_in_place(cpu::UnaryOp::Clamp, g, {1.0, lo, 1.0, hi});
}

}  // namespace lamina

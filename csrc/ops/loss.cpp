#include "ops/loss.h"

#include <vector>

#include "core/parallel.h"
#include "cpu/kernels.h"
#include "ops/copy.h"
#include "ops/creation.h"

namespace lamina {

namespace {

DType compute_dtype(DType t) { return t == DType::Float64 ? DType::Float64 : DType::Float32; }

// The input and target with the class dim moved last, as (R, C) rows in the compute dtype.
struct Rows {
  DType c = DType::Float32;
  Tensor x, target, weight;
  Shape loss_shape;  // the input's shape without the class dim
  int64_t R = 0, C = 0;
  bool prob = false;
};

Tensor class_last(const Tensor& t) {
  if (t.dim() <= 2) return t.contiguous();
  std::vector<int64_t> perm{0};
  for (int64_t d = 2; d < t.dim(); ++d) perm.push_back(d);
  perm.push_back(1);
  return t.permute(perm).contiguous();
}

Rows prepare(const Tensor& input, const Tensor& target, const LossOptions& opt, const char* op, bool allow_prob) {
  require_cpu(input, op);
  require_cpu(target, op);
  LAMINA_CHECK(is_floating(input.dtype()), TypeError, "[", op, "] expected a floating point input, got ",
               dtype_name(input.dtype()));
  LAMINA_CHECK(input.dim() >= 1, ShapeError, "[", op, "] input must be (C,) or (N, C, d1, ...), got shape ",
               input.shape());
  Rows r;
  r.c = compute_dtype(input.dtype());
  const int64_t cdim = input.dim() == 1 ? 0 : 1;
  r.C = input.shape()[cdim];
  r.loss_shape = input.shape();
  r.loss_shape.erase(r.loss_shape.begin() + cdim);
  r.R = numel_of(r.loss_shape);
  r.prob = is_floating(target.dtype());
  if (r.prob) {
    LAMINA_CHECK(allow_prob, TypeError, "[", op, "] expected class indices (int64) as target, got ",
                 dtype_name(target.dtype()));
    LAMINA_CHECK(target.shape() == input.shape(), ShapeError, "[", op, "] probability target shape ", target.shape(),
                 " must equal input shape ", input.shape());
    r.target = class_last(cast(target, r.c));
  } else {
    LAMINA_CHECK(target.dtype() == DType::Int64 || target.dtype() == DType::Int32, TypeError, "[", op,
                 "] expected class indices (int64) or probabilities (float) as target, got ", dtype_name(target.dtype()));
    LAMINA_CHECK(target.shape() == r.loss_shape, ShapeError, "[", op, "] target shape ", target.shape(),
                 " does not match input shape ", input.shape(), " (expected ", r.loss_shape, ")");
    r.target = cast(target, DType::Int64).contiguous();
    const int64_t* t = r.target.data<int64_t>();
    for (int64_t i = 0; i < r.R; ++i)
      LAMINA_CHECK(t[i] == opt.ignore_index || (t[i] >= 0 && t[i] < r.C), IndexError, "[", op, "] target ", t[i],
                   " is out of bounds for ", r.C, " classes");
  }
  if (opt.weight) {
    require_cpu(*opt.weight, op);
    LAMINA_CHECK(opt.weight->shape() == Shape{r.C}, ShapeError, "[", op, "] weight shape ", opt.weight->shape(),
                 " must be (", r.C, ",) for input shape ", input.shape());
    r.weight = cast(*opt.weight, r.c).contiguous();
  }
  LAMINA_CHECK(opt.label_smoothing >= 0 && opt.label_smoothing <= 1, ValueError, "[", op,
               "] label_smoothing must be in [0, 1], got ", opt.label_smoothing);
  r.x = class_last(cast(input, r.c));
  return r;
}

// What 'mean' divides by: the summed weights of the non-ignored class targets, or the row count.
double mean_denominator(const Rows& r, const LossOptions& opt) {
  if (r.prob) return double(r.R);
  const int64_t* t = r.target.data<int64_t>();
  double s = 0;
  for (int64_t i = 0; i < r.R; ++i) {
    if (t[i] == opt.ignore_index) continue;
    if (!r.weight.defined()) s += 1;
    else if (r.c == DType::Float64) s += r.weight.data<double>()[t[i]];
    else s += r.weight.data<float>()[t[i]];
  }
  return s;
}

Tensor reduce_rows(const Tensor& per_row, const Rows& r, Reduction red, double denom, DType out) {
  if (red == Reduction::None) return cast(per_row.reshape(r.loss_shape), out);
  double s = 0;
  for (int64_t i = 0; i < r.R; ++i) s += r.c == DType::Float64 ? per_row.data<double>()[i] : per_row.data<float>()[i];
  return full({}, red == Reduction::Mean ? s / denom : s, out, Device{});
}

// The incoming gradient as one value per row (stride 1) or one for all rows (stride 0).
std::pair<Tensor, int64_t> row_grad(const Tensor& grad, const Rows& r, Reduction red, double denom, const char* op) {
  if (red == Reduction::None) {
    LAMINA_CHECK(grad.shape() == r.loss_shape, ShapeError, "[", op, "] gradient shape ", grad.shape(),
                 " differs from loss shape ", r.loss_shape);
    return {cast(grad, r.c).contiguous(), 1};
  }
  LAMINA_CHECK(grad.numel() == 1, ShapeError, "[", op, "] expected a scalar gradient, got shape ", grad.shape());
  Tensor g = cast(grad, DType::Float64).contiguous();
  const double v = g.data<double>()[0] / (red == Reduction::Mean ? denom : 1.0);
  return {full({1}, v, r.c, Device{}), 0};
}

// (R, C) rows back to the input's layout, with the class dim where it was.
Tensor rows_to_input(const Tensor& dx, const Rows& r, DType out) {
  Shape s = r.loss_shape;
  s.push_back(r.C);
  Tensor t = dx.reshape(s);
  if (t.dim() > 2) {
    std::vector<int64_t> perm{0, t.dim() - 1};
    for (int64_t d = 1; d < t.dim() - 1; ++d) perm.push_back(d);
    t = t.permute(perm).contiguous();
  }
  return cast(t, out);
}

cpu::CrossEntropyArgs ce_args(const Rows& r, const LossOptions& opt) {
  cpu::CrossEntropyArgs a;
  a.C = r.C;
  a.x = r.x.bytes();
  if (r.prob) a.prob = r.target.bytes();
  else a.target = r.target.data<int64_t>();
  a.weight = r.weight.defined() ? r.weight.bytes() : nullptr;
  a.ignore_index = opt.ignore_index;
  a.smoothing = opt.label_smoothing;
  return a;
}

template <class F>
void over_rows(const Rows& r, const F& f) {
  if (r.R > 0 && r.C > 0)
    parallel_for(0, r.R, std::max<int64_t>(1, (1 << 14) / r.C), [&](int64_t lo, int64_t hi) { f(lo, hi); });
}

}  // namespace

CrossEntropyResult cross_entropy_forward(const Tensor& input, const Tensor& target, const LossOptions& opt) {
  Rows r = prepare(input, target, opt, "cross_entropy", true);
  cpu::CrossEntropyArgs a = ce_args(r, opt);
  Tensor loss = Tensor::empty({r.R}, r.c);
  CrossEntropyResult res;
  res.lse = Tensor::empty({r.R}, r.c);
  a.loss = loss.bytes();
  a.lse = res.lse.bytes();
  auto fn = cpu::kernels().cross_entropy_forward[int(r.c)];
  over_rows(r, [&](int64_t lo, int64_t hi) { fn(a, lo, hi); });
  res.denom = mean_denominator(r, opt);
  res.loss = reduce_rows(loss, r, opt.reduction, res.denom, input.dtype());
  return res;
}

Tensor cross_entropy_backward(const Tensor& grad, const Tensor& input, const Tensor& target, const Tensor& lse,
                              const LossOptions& opt, double denom) {
  const char* op = "cross_entropy_backward";
  Rows r = prepare(input, target, opt, op, true);
  LAMINA_CHECK(lse.numel() == r.R, ShapeError, "[", op, "] saved lse shape ", lse.shape(), " does not fit input ",
               input.shape());
  cpu::CrossEntropyArgs a = ce_args(r, opt);
  Tensor l = cast(lse, r.c).contiguous();
  auto [g, stride] = row_grad(grad, r, opt.reduction, denom, op);
  Tensor dx = Tensor::empty({r.R, r.C}, r.c);
  a.lse = l.bytes();
  a.grad = g.bytes();
  a.grad_stride = stride;
  a.dx = dx.bytes();
  auto fn = cpu::kernels().cross_entropy_backward[int(r.c)];
  over_rows(r, [&](int64_t lo, int64_t hi) { fn(a, lo, hi); });
  return rows_to_input(dx, r, input.dtype());
}

namespace {
template <class T>
void nll_rows(const Rows& r, const LossOptions& opt, const T* g, int64_t gs, T* out) {
  const T* x = r.x.data<T>();
  const T* w = r.weight.defined() ? r.weight.data<T>() : nullptr;
  const int64_t* t = r.target.data<int64_t>();
  for (int64_t i = 0; i < r.R; ++i) {
    if (t[i] == opt.ignore_index) {
      if (!g) out[i] = 0;
      continue;
    }
    const T wt = w ? w[t[i]] : T(1);
    if (g) out[i * r.C + t[i]] = -wt * g[i * gs];  // backward: out is the zeroed (R, C) gradient
    else out[i] = -wt * x[i * r.C + t[i]];
  }
}
}  // namespace

std::pair<Tensor, double> nll_loss_forward(const Tensor& input, const Tensor& target, const LossOptions& opt) {
  Rows r = prepare(input, target, opt, "nll_loss", false);
  Tensor loss = Tensor::empty({r.R}, r.c);
  if (r.c == DType::Float64) nll_rows<double>(r, opt, nullptr, 0, loss.data<double>());
  else nll_rows<float>(r, opt, nullptr, 0, loss.data<float>());
  const double denom = mean_denominator(r, opt);
  return {reduce_rows(loss, r, opt.reduction, denom, input.dtype()), denom};
}

Tensor nll_loss_backward(const Tensor& grad, const Tensor& input, const Tensor& target, const LossOptions& opt,
                         double denom) {
  const char* op = "nll_loss_backward";
  Rows r = prepare(input, target, opt, op, false);
  auto [g, stride] = row_grad(grad, r, opt.reduction, denom, op);
  Tensor dx = full({r.R, r.C}, 0.0, r.c, Device{});
  if (r.c == DType::Float64) nll_rows<double>(r, opt, g.data<double>(), stride, dx.data<double>());
  else nll_rows<float>(r, opt, g.data<float>(), stride, dx.data<float>());
  return rows_to_input(dx, r, input.dtype());
}

}  // namespace lamina

#include "ops/elementwise.h"

#include "core/iterate.h"
#include "cuda/ops.h"
#include "ops/copy.h"

namespace lamina {

using cpu::BinaryOp;
using cpu::UnaryOp;

namespace {

constexpr int64_t kGrain = 1 << 15;

int category(DType t) { return t == DType::Bool ? 0 : is_integral(t) ? 1 : 2; }

bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq && op <= BinaryOp::Ge; }
bool is_bitwise(BinaryOp op) { return op >= BinaryOp::And && op <= BinaryOp::Xor; }
bool float_only(BinaryOp op) { return op == BinaryOp::Div || op == BinaryOp::Atan2 || op >= BinaryOp::ReluGrad; }
bool float_only(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: case UnaryOp::Abs: case UnaryOp::Sign: case UnaryOp::Square: case UnaryOp::Relu:
    case UnaryOp::Floor: case UnaryOp::Ceil: case UnaryOp::Round: case UnaryOp::Trunc: case UnaryOp::Not:
    case UnaryOp::Clamp: return false;
    default: return true;
  }
}

void check_device(const Tensor& a, const Tensor& b, const char* name) {
  LAMINA_CHECK(a.device() == b.device(), RuntimeError, "[", name, "] expected all tensors on the same device, got ",
               a.device().str(), " and ", b.device().str());
}

// A 0-d CPU tensor (how Python scalars arrive) next to a CUDA tensor moves to its device, as
// PyTorch allows; any other device mismatch is left for check_device to report.
Tensor match_scalar_device(const Tensor& t, const Tensor& other) {
  return t.dim() == 0 && t.device().is_cpu() && other.device().is_cuda() ? to(t, t.dtype(), other.device()) : t;
}

void run_binary(BinaryOp op, cpu::BinaryLoop fn, const Tensor& out, const Tensor& a, const Tensor& b,
                const std::vector<double>& params) {
  Tensor ae = a.expand(out.shape()), be = b.expand(out.shape());
  if (out.device().is_cuda()) return cuda::binary(op, out, ae, be, params);
  auto L = make_layout<3>(out.shape(), {&out.strides(), &ae.strides(), &be.strides()},
                          {itemsize(out.dtype()), itemsize(a.dtype()), itemsize(b.dtype())});
  for_each_row<3>(L, {out.bytes(), ae.bytes(), be.bytes()}, kGrain,
                  [&](std::array<char*, 3> p, std::array<int64_t, 3> st, int64_t n) {
                    fn(n, p[1], st[1], p[2], st[2], p[0], st[0], params.data());
                  });
}

void run_unary(UnaryOp op, cpu::UnaryLoop fn, const Tensor& out, const Tensor& a, const std::vector<double>& params) {
  if (out.device().is_cuda()) return cuda::unary(op, out, a, params);
  auto L = make_layout<2>(out.shape(), {&out.strides(), &a.strides()}, {itemsize(out.dtype()), itemsize(a.dtype())});
  for_each_row<2>(L, {out.bytes(), a.bytes()}, kGrain, [&](std::array<char*, 2> p, std::array<int64_t, 2> st, int64_t n) {
    fn(n, p[1], st[1], p[0], st[0], params.data());
  });
}

// The dtype the kernel runs in and the dtype of the result, for op over operands of type t.
struct Plan { DType compute, result; };

Plan plan_binary(BinaryOp op, DType t) {
  const char* name = op_name(op);
  if (is_bitwise(op)) {
    LAMINA_CHECK(!is_floating(t), TypeError, "[", name, "] is only defined for bool and integer tensors, got ", dtype_name(t));
    return {t, t};
  }
  if (op == BinaryOp::Sub && t == DType::Bool)
    fail<TypeError>("[sub] subtraction of bool tensors is not supported; use logical_xor or ~ instead");
  DType c = t;
  if (float_only(op) && !is_floating(t)) c = DType::Float32;
  if (c == DType::Bool && !cpu::kernels().binary[int(op)][int(DType::Bool)]) c = DType::Int64;
  DType result = is_comparison(op) ? DType::Bool : c;
  if (c == DType::Float16 || c == DType::BFloat16) c = DType::Float32;
  return {c, result};
}

void check_bool_sub(BinaryOp op, const Tensor& a, const Tensor& b) {
  LAMINA_CHECK(op != BinaryOp::Sub || (a.dtype() != DType::Bool && b.dtype() != DType::Bool), TypeError,
               "[sub] subtraction with a bool tensor is not supported; use logical_xor or ~ instead");
}

void check_int_zero(BinaryOp op, DType compute, const Tensor& b) {
  if (!(op == BinaryOp::FloorDiv || op == BinaryOp::Mod) || !is_integral(compute) || b.numel() == 0) return;
  Tensor bi = to(b, DType::Int64, Device{}).contiguous();  // read on the host, whatever b's device
  const int64_t* p = bi.data<int64_t>();
  for (int64_t i = 0; i < bi.numel(); ++i)
    LAMINA_CHECK(p[i] != 0, ZeroDivisionError, "[", op_name(op), "] integer division by zero");
}

}  // namespace

DType result_type(const Tensor& a, const Tensor& b) {
  bool a0 = a.dim() == 0, b0 = b.dim() == 0;
  if (a0 != b0) {
    const Tensor& dimmed = a0 ? b : a;
    const Tensor& zero = a0 ? a : b;
    if (category(zero.dtype()) <= category(dimmed.dtype())) return dimmed.dtype();
  }
  return promote(a.dtype(), b.dtype());
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, const std::vector<double>& params) {
  const char* name = op_name(op);
  if (a.device() != b.device()) {
    Tensor am = match_scalar_device(a, b), bm = match_scalar_device(b, a);
    if (am.device() == bm.device()) return binary(op, am, bm, params);
  }
  check_device(a, b, name);
  // The common case (one dtype, contiguous, same shape or a 0-d right operand) skips the
  // broadcasting and layout work, which dominates small ops.
  if (a.device().is_cpu() && a.dtype() == b.dtype() && a.is_contiguous() && b.is_contiguous() &&
      (b.dim() == 0 || a.shape() == b.shape())) {
    Plan p = plan_binary(op, a.dtype());
    auto fn = cpu::kernels().binary[int(op)][int(p.compute)];
    if (fn && p.compute == a.dtype()) {
      check_int_zero(op, p.compute, b);
      Tensor out = Tensor::empty(a.shape(), p.result);
      const int64_t es = itemsize(a.dtype()), os = itemsize(p.result), bs = b.dim() == 0 ? 0 : es;
      parallel_for(0, a.numel(), kGrain, [&](int64_t lo, int64_t hi) {
        fn(hi - lo, a.bytes() + lo * es, es, b.bytes() + lo * bs, bs, out.bytes() + lo * os, os, params.data());
      });
      return out;
    }
  }
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  check_bool_sub(op, a, b);
  Plan p = plan_binary(op, result_type(a, b));
  check_int_zero(op, p.compute, b);
  auto fn = cpu::kernels().binary[int(op)][int(p.compute)];
  LAMINA_CHECK(fn, TypeError, "[", name, "] not implemented for ", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  DType out_kernel = is_comparison(op) ? DType::Bool : p.compute;
  Tensor out = Tensor::empty(shape, out_kernel, a.device());
  run_binary(op, fn, out, cast(a, p.compute), cast(b, p.compute), params);
  return out_kernel == p.result ? out : cast(out, p.result);
}

void binary_(BinaryOp op, const Tensor& a, const Tensor& b_in) {
  const char* name = op_name(op);
  const Tensor b = match_scalar_device(b_in, a);
  check_device(a, b, name);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  LAMINA_CHECK(shape == a.shape(), ShapeError, "[", name, "_] output with shape ", a.shape(),
               " doesn't match the broadcast shape ", shape);
  check_bool_sub(op, a, b);
  Plan p = plan_binary(op, promote(a.dtype(), result_type(a, b)));
  LAMINA_CHECK(category(p.result) <= category(a.dtype()), TypeError, "[", name, "_] result type ",
               dtype_name(p.result), " can't be cast to the desired output type ", dtype_name(a.dtype()));
  check_int_zero(op, p.compute, b);
  auto fn = cpu::kernels().binary[int(op)][int(p.compute)];
  LAMINA_CHECK(fn, TypeError, "[", name, "_] not implemented for ", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  DType out_kernel = is_comparison(op) ? DType::Bool : p.compute;
  // Run straight into `a` when the kernel's output type is a's and b cannot overlap a's writes.
  bool direct = out_kernel == a.dtype() && a.dtype() == p.compute && b.storage() != a.storage();
  if (direct) {
    a.bump_version();
    run_binary(op, fn, a, a, cast(b, p.compute), {});
  } else {
    Tensor out = Tensor::empty(shape, out_kernel, a.device());
    run_binary(op, fn, out, cast(a, p.compute), cast(b, p.compute), {});
    copy_into(a, out);
  }
}

Tensor unary(UnaryOp op, const Tensor& a, const std::vector<double>& params) {
  const char* name = op_name(op);
  DType t = a.dtype(), c = t;
  if (op == UnaryOp::Not) {
    LAMINA_CHECK(!is_floating(t), TypeError, "[bitwise_not] is only defined for bool and integer tensors, got ", dtype_name(t));
  } else if (t == DType::Bool) {
    LAMINA_CHECK(op != UnaryOp::Neg, TypeError, "[neg] negation of a bool tensor is not supported; use ~ instead");
    c = float_only(op) ? DType::Float32 : DType::Int64;
  } else if (float_only(op) && !is_floating(t)) {
    c = DType::Float32;
  }
  DType result = (op == UnaryOp::Abs || op == UnaryOp::Relu || op == UnaryOp::Floor || op == UnaryOp::Ceil ||
                  op == UnaryOp::Round || op == UnaryOp::Trunc || op == UnaryOp::Sign || op == UnaryOp::Clamp) &&
                         t == DType::Bool ? DType::Bool : c;
  if (c == DType::Float16 || c == DType::BFloat16) c = DType::Float32;
  auto fn = cpu::kernels().unary[int(op)][int(c)];
  LAMINA_CHECK(fn, TypeError, "[", name, "] not implemented for ", dtype_name(t));
  Tensor out = Tensor::empty(a.shape(), c, a.device());
  run_unary(op, fn, out, cast(a, c), params);
  return out.dtype() == result ? out : cast(out, result);
}

void unary_(UnaryOp op, const Tensor& a, const std::vector<double>& params) {
  Tensor r = unary(op, a, params);
  LAMINA_CHECK(category(r.dtype()) <= category(a.dtype()), TypeError, "[", op_name(op), "_] result type ",
               dtype_name(r.dtype()), " can't be cast to the desired output type ", dtype_name(a.dtype()));
  copy_into(a, r);
}

const char* op_name(BinaryOp op) {
  static const char* names[] = {"add", "sub", "mul", "div", "floor_divide", "remainder", "pow", "maximum", "minimum",
                                "atan2", "eq", "ne", "lt", "le", "gt", "ge", "bitwise_and", "bitwise_or",
                                "bitwise_xor", "relu_backward", "gelu_backward", "gelu_tanh_backward", "silu_backward",
                                "softplus_backward", "sigmoid_backward", "tanh_backward"};
  static_assert(sizeof(names) / sizeof(names[0]) == int(BinaryOp::Count));
  return names[int(op)];
}

const char* op_name(UnaryOp op) {
  static const char* names[] = {"neg", "abs", "sign", "exp", "expm1", "log", "log1p", "log2", "sqrt", "rsqrt",
                                "reciprocal", "square", "sin", "cos", "tanh", "sigmoid", "relu", "gelu", "gelu_tanh",
                                "silu", "softplus", "leaky_relu", "erf", "floor", "ceil", "round", "trunc",
                                "bitwise_not", "clamp", "pow_scalar", "add_scalar", "mul_scalar"};
  static_assert(sizeof(names) / sizeof(names[0]) == int(UnaryOp::Count));
  return names[int(op)];
}

}  // namespace lamina

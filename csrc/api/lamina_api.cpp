// The C++ API (csrc/include/lamina/lamina.h): wraps caller memory in borrowed Tensors, runs the
// same ops Python calls, and writes the result into the caller's output through its strides.
#include "lamina/lamina.h"

#include <algorithm>
#include <string>

#include "core/cpu_features.h"
#include "core/parallel.h"
#include "core/random.h"
#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/copy.h"
#include "ops/matmul.h"

namespace lamina::api {
namespace {

lamina::DType to_internal(DType dt, const char* op) {
  switch (dt) {
    case DType::Float32: return lamina::DType::Float32;
    case DType::Float64: return lamina::DType::Float64;
  }
  fail<ValueError>("[", op, "] unknown dtype code ", int(dt));
}

// A view of caller memory. The storage spans exactly the elements the strides can reach, so
// the core's bounds checks hold and nothing is freed when the view goes away.
Tensor borrow(const TensorRef& r, const char* op, const char* name) {
  LAMINA_CHECK(r.data != nullptr, ValueError, "[", op, "] ", name, " has no data");
  LAMINA_CHECK(r.ndim >= 0 && r.ndim <= 16 && (r.ndim == 0 || (r.shape && r.strides)), ValueError, "[", op, "] ",
               name, " has an invalid rank ", r.ndim, " or missing shape/strides");
  const lamina::DType dt = to_internal(r.dtype, op);
  Shape shape(r.shape, r.shape + r.ndim), strides(r.strides, r.strides + r.ndim);
  int64_t lo = 0, hi = 0;
  for (int i = 0; i < r.ndim; ++i) {
    LAMINA_CHECK(shape[i] >= 0, ValueError, "[", op, "] ", name, " has a negative size in shape ", shape);
    if (shape[i] == 0) { lo = hi = 0; break; }
    const int64_t reach = strides[i] * (shape[i] - 1);
    (reach < 0 ? lo : hi) += reach;
  }
  char* base = static_cast<char*>(r.data) + lo * itemsize(dt);
  auto storage = std::make_shared<Storage>(base, (hi - lo + 1) * itemsize(dt), Device{}, nullptr);
  return Tensor(storage, dt, shape, strides, -lo);
}

void write_result(const TensorRef& out, const Tensor& result, const char* op) {
  Tensor dst = borrow(out, op, "out");
  LAMINA_CHECK(dst.shape() == result.shape(), ShapeError, "[", op, "] out has shape ", dst.shape(),
               " but the result has shape ", result.shape());
  copy_into(dst, result);
}

ConvOptions conv_options(const Conv2dParams& p) {
  ConvOptions o;
  for (int i = 0; i < 2; ++i) {
    o.stride[i] = p.stride[i];
    o.dilation[i] = p.dilation[i];
    o.pad_begin[i] = o.pad_end[i] = p.padding[i];
  }
  o.groups = p.groups;
  return o;
}

AttentionOptions attention_options(const AttentionParams& p) {
  AttentionOptions o;
  o.causal = p.causal;
  if (p.scale != 0) o.scale = p.scale;
  o.enable_gqa = p.enable_gqa;
  return o;
}

}  // namespace

void set_num_threads(int threads) {
  if (threads > 0) lamina::set_num_threads(threads);
}

int get_num_threads() { return lamina::get_num_threads(); }

const char* cpu_kernel_path() { return isa_name(current_isa()); }

void matmul(const TensorRef& a, const TensorRef& b, const TensorRef& out) {
  write_result(out, lamina::matmul(borrow(a, "matmul", "a"), borrow(b, "matmul", "b")), "matmul");
}

void linear(const TensorRef& x, const TensorRef& w, const TensorRef& bias, const TensorRef& out) {
  Tensor bt;
  if (bias.data) bt = borrow(bias, "linear", "bias");
  write_result(out, lamina::linear(borrow(x, "linear", "x"), borrow(w, "linear", "w"), bias.data ? &bt : nullptr,
                                   Activation::None), "linear");
}

void conv2d_forward(const TensorRef& x, const TensorRef& w, const TensorRef& bias, const TensorRef& y,
                    const Conv2dParams& p) {
  Tensor bt;
  if (bias.data) bt = borrow(bias, "conv2d", "bias");
  write_result(y, conv2d(borrow(x, "conv2d", "x"), borrow(w, "conv2d", "w"), bias.data ? &bt : nullptr,
                         conv_options(p)), "conv2d");
}

void conv2d_backward_data(const TensorRef& dy, const TensorRef& w, const TensorRef& dx, const Conv2dParams& p) {
  const char* op = "conv2d_backward_data";
  LAMINA_CHECK(dx.ndim == 4 && dx.shape, ValueError, "[", op, "] dx must be 4-d (N, C, H, W), got rank ", dx.ndim);
  write_result(dx, lamina::conv2d_backward_data(borrow(dy, op, "dy"), borrow(w, op, "w"), dx.shape[2], dx.shape[3],
                                                conv_options(p)), op);
}

void conv2d_backward_weight(const TensorRef& x, const TensorRef& dy, const TensorRef& dw, const Conv2dParams& p) {
  const char* op = "conv2d_backward_weight";
  LAMINA_CHECK(dw.ndim == 4 && dw.shape, ValueError, "[", op, "] dw must be 4-d (O, C/groups, KH, KW), got rank ",
               dw.ndim);
  write_result(dw, lamina::conv2d_backward_weight(borrow(x, op, "x"), borrow(dy, op, "dy"), dw.shape[2], dw.shape[3],
                                                  conv_options(p)), op);
}

void attention_forward(const TensorRef& q, const TensorRef& k, const TensorRef& v, const TensorRef& mask,
                       const TensorRef& out, const TensorRef& lse, const AttentionParams& p) {
  const char* op = "attention_forward";
  Tensor mt;
  if (mask.data) mt = borrow(mask, op, "mask");
  AttentionForwardResult r = lamina::attention_forward(borrow(q, op, "q"), borrow(k, op, "k"), borrow(v, op, "v"),
                                                       mask.data ? &mt : nullptr, attention_options(p),
                                                       default_generator());
  write_result(out, r.out, op);
  write_result(lse, r.lse, op);
}

void attention_backward(const TensorRef& dout, const TensorRef& q, const TensorRef& k, const TensorRef& v,
                        const TensorRef& mask, const TensorRef& out, const TensorRef& lse, const TensorRef& dq,
                        const TensorRef& dk, const TensorRef& dv, const AttentionParams& p) {
  const char* op = "attention_backward";
  Tensor mt;
  if (mask.data) mt = borrow(mask, op, "mask");
  AttentionBackwardResult r = lamina::attention_backward(
      borrow(dout, op, "dout"), borrow(q, op, "q"), borrow(k, op, "k"), borrow(v, op, "v"), mask.data ? &mt : nullptr,
      borrow(out, op, "out"), borrow(lse, op, "lse"), attention_options(p), 0, 0);
  write_result(dq, r.dq, op);
  write_result(dk, r.dk, op);
  write_result(dv, r.dv, op);
}

}  // namespace lamina::api

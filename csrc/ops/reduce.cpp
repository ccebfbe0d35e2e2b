#include "ops/reduce.h"

#include <algorithm>
#include <cmath>

#include "core/parallel.h"
#include "cuda/ops.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"

namespace lamina {

using cpu::ReduceOp;

namespace {

const char* reduce_name(ReduceOp op) {
  static const char* n[] = {"sum", "prod", "amax", "amin"};
  return n[int(op)];
}

// x seen as a contiguous (A, R, K) block with R the reduced extent.
struct Layout {
  Tensor x;
  int64_t A = 1, R = 1, K = 1;
  Shape keep_shape, drop_shape;  // result shape with and without keepdim
};

// Which dims of x are reduced (all when dims is empty); a dim named twice is an error.
std::vector<bool> reduced_dims(const Tensor& x, const Dims& dims, const char* name) {
  const int64_t nd = x.dim();
  std::vector<bool> red(size_t(nd), dims.empty());
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(d, nd, name);
    if (nd == 0) continue;
    LAMINA_CHECK(!red[size_t(w)], ValueError, "[", name, "] dim ", d, " appears more than once in the list of dims");
    red[size_t(w)] = true;
  }
  return red;
}

Layout layout_for(const Tensor& x, const Dims& dims_in, const char* name) {
  const int64_t nd = x.dim();
  const std::vector<bool> red = reduced_dims(x, dims_in, name);
  Layout L;
  for (int64_t d = 0; d < nd; ++d) {
    L.keep_shape.push_back(red[d] ? 1 : x.shape()[d]);
    if (!red[d]) L.drop_shape.push_back(x.shape()[d]);
  }
  // Reduced dims forming one run over a contiguous tensor need no copy.
  int64_t first = -1, last = -1;
  for (int64_t d = 0; d < nd; ++d) if (red[d]) { if (first < 0) first = d; last = d; }
  bool run = first >= 0 && std::all_of(red.begin() + first, red.begin() + last + 1, [](bool b) { return b; });
  if (nd == 0 || first < 0) { L.x = x.contiguous(); L.R = 1; L.A = x.numel(); return L; }
  if (run && x.is_contiguous()) {
    L.x = x;
    for (int64_t d = 0; d < first; ++d) L.A *= x.shape()[d];
    for (int64_t d = first; d <= last; ++d) L.R *= x.shape()[d];
    for (int64_t d = last + 1; d < nd; ++d) L.K *= x.shape()[d];
    return L;
  }
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < nd; ++d) if (!red[d]) { perm.push_back(d); L.A *= x.shape()[d]; }
  for (int64_t d = 0; d < nd; ++d) if (red[d]) { perm.push_back(d); L.R *= x.shape()[d]; }
  L.x = x.permute(perm).contiguous();
  return L;
}

DType compute_dtype(DType t) { return (t == DType::Float16 || t == DType::BFloat16) ? DType::Float32 : t; }

// Runs a (A, R, K) -> (A, K) loop with threads: over A when there are many outputs, else
// over chunks of R whose partial results the same loop combines.
void run_reduce(ReduceOp op, cpu::ReduceLoop fn, DType in_t, DType out_t, const Layout& L, const Tensor& out) {
  if (out.device().is_cuda()) return cuda::reduce(op, L.x, L.A, L.R, L.K, out);
  const int64_t A = L.A, R = L.R, K = L.K, is = itemsize(in_t), os = itemsize(out_t);
  const char* in = L.x.bytes();
  char* o = out.bytes();
  int nt = get_num_threads();
  constexpr int64_t grain = 1 << 15;
  if (nt > 1 && A * K < 4 * nt && R * K > 4 * grain && in_t == out_t) {
    int64_t chunks = std::min<int64_t>(nt, R / 1024 + 1);
    Tensor part = Tensor::empty({chunks, A, K}, out_t);
    parallel_for(0, chunks, 0, [&](int64_t lo, int64_t hi) {
      for (int64_t c = lo; c < hi; ++c) {
        int64_t r0 = R * c / chunks, r1 = R * (c + 1) / chunks;
        for (int64_t a = 0; a < A; ++a)
          fn(1, r1 - r0, K, in + ((a * R + r0) * K) * is, part.bytes() + (c * A + a) * K * os);
      }
    });
    Tensor pt = part.permute({1, 0, 2}).contiguous();
    fn(A, chunks, K, pt.bytes(), o);
    return;
  }
  parallel_for(0, A, std::max<int64_t>(1, grain / std::max<int64_t>(R * K, 1)), [&](int64_t lo, int64_t hi) {
    fn(hi - lo, R, K, in + lo * R * K * is, o + lo * K * os);
  });
}

}  // namespace

Tensor reduce(ReduceOp op, const Tensor& x_in, const Dims& dims, bool keepdim) {
  const char* name = reduce_name(op);
  DType c = compute_dtype(x_in.dtype());
  // Reduced dims in several runs of a contiguous tensor (the channels kept between them, as in a
  // sum over (0, 2, 3) of NCHW): the last run first, in place, then the rest of the smaller
  // result, instead of a transposed copy of x. Not for half types, whose partial results would
  // round to half.
  if (c == x_in.dtype() && x_in.is_contiguous() && x_in.dim() > 0) {
    const std::vector<bool> red = reduced_dims(x_in, dims, name);
    // The last run of reduced dims, and whether another run comes before it.
    int64_t last1 = x_in.dim() - 1;
    while (!red[size_t(last1)] && last1 > 0) --last1;
    int64_t last0 = last1;
    while (last0 > 0 && red[size_t(last0 - 1)]) --last0;
    if (red[size_t(last1)] && std::find(red.begin(), red.begin() + last0, true) != red.begin() + last0) {
      Dims last, rest;
      Shape drop;
      for (int64_t d = 0; d < x_in.dim(); ++d) {
        if (red[size_t(d)]) (d >= last0 ? last : rest).push_back(d);
        else drop.push_back(x_in.shape()[size_t(d)]);
      }
      Tensor out = reduce(op, reduce(op, x_in, last, true), rest, true);
      return keepdim ? out : out.view_as_shape(drop);
    }
  }
  Layout L = layout_for(cast(x_in, c), dims, name);
  if ((op == ReduceOp::Max || op == ReduceOp::Min) && L.R == 0)
    fail<IndexError>("[", name, "] cannot reduce over a zero-size dimension: input shape ", x_in.shape());
  auto fn = cpu::kernels().reduce[int(op)][int(c)];
  LAMINA_CHECK(fn, TypeError, "[", name, "] not implemented for ", dtype_name(x_in.dtype()));
  DType out_t = (op == ReduceOp::Sum || op == ReduceOp::Prod) && !is_floating(c) ? DType::Int64 : c;
  Tensor out = Tensor::empty(keepdim ? L.keep_shape : L.drop_shape, out_t, x_in.device());
  if (out.numel()) run_reduce(op, fn, c, out_t, L, out);
  DType final_t = is_floating(x_in.dtype()) ? x_in.dtype() : out_t;
  return cast(out, final_t);
}

Tensor mean(const Tensor& x, const Dims& dims, bool keepdim) {
  LAMINA_CHECK(is_floating(x.dtype()), TypeError, "[mean] could not infer output dtype: input dtype must be floating point, got ",
               dtype_name(x.dtype()));
  Tensor s = reduce(ReduceOp::Sum, x, dims, keepdim);
  int64_t count = s.numel() ? x.numel() / s.numel() : 0;
  if (!s.numel()) return s;
  return unary(cpu::UnaryOp::MulScalar, s, {count ? 1.0 / double(count) : NAN});
}

Tensor var(const Tensor& x_in, const Dims& dims, double correction, bool keepdim) {
  LAMINA_CHECK(is_floating(x_in.dtype()), TypeError, "[var] expected a floating point tensor, got ", dtype_name(x_in.dtype()));
  DType c = compute_dtype(x_in.dtype());
  Layout L = layout_for(cast(x_in, c), dims, "var");
  Tensor m = Tensor::empty({L.A, L.K}, c, x_in.device());
  auto sum = cpu::kernels().reduce[int(ReduceOp::Sum)][int(c)];
  if (m.numel()) run_reduce(ReduceOp::Sum, sum, c, c, L, m);
  Tensor mm = unary(cpu::UnaryOp::MulScalar, m, {L.R ? 1.0 / double(L.R) : NAN});
  Tensor out = Tensor::empty({L.A, L.K}, c, x_in.device());
  auto fn = cpu::kernels().sqdev[int(c)];
  const int64_t K = L.K, R = L.R, is = itemsize(c);
  if (out.device().is_cuda()) cuda::sqdev(L.x, L.A, R, K, mm, out);
  else parallel_for(0, L.A, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(R * K, 1)), [&](int64_t lo, int64_t hi) {
    fn(hi - lo, R, K, L.x.bytes() + lo * R * K * is, mm.bytes() + lo * K * is, out.bytes() + lo * K * is);
  });
  double denom = std::max(0.0, double(L.R) - correction);
  Tensor v = unary(cpu::UnaryOp::MulScalar, out, {1.0 / denom});
  return cast(v.reshape(keepdim ? L.keep_shape : L.drop_shape), x_in.dtype());
}

std::pair<Tensor, Tensor> max_min_dim(const Tensor& x_in, int64_t dim, bool keepdim, bool is_max) {
  const char* name = is_max ? "max" : "min";
  DType c = compute_dtype(x_in.dtype());
  Layout L = layout_for(cast(x_in, c), {dim}, name);
  LAMINA_CHECK(L.R > 0, IndexError, "[", name, "] cannot take the ", name, " over a zero-size dimension: input shape ",
               x_in.shape(), ", dim ", dim);
  Shape shape = keepdim ? L.keep_shape : L.drop_shape;
  Tensor vals = Tensor::empty(shape, c, x_in.device()), idx = Tensor::empty(shape, DType::Int64, x_in.device());
  auto fn = cpu::kernels().arg[int(c)];
  const int64_t R = L.R, K = L.K, is = itemsize(c);
  if (vals.device().is_cuda()) cuda::arg_reduce(L.x, L.A, R, K, vals, idx, is_max);
  else if (vals.numel())
    parallel_for(0, L.A, std::max<int64_t>(1, (1 << 15) / (R * K)), [&](int64_t lo, int64_t hi) {
      fn(hi - lo, R, K, L.x.bytes() + lo * R * K * is, vals.bytes() + lo * K * is, idx.data<int64_t>() + lo * K, is_max);
    });
  return {cast(vals, x_in.dtype()), idx};
}

Tensor logsumexp(const Tensor& x_in, const Dims& dims, bool keepdim) {
  DType c = is_floating(x_in.dtype()) ? compute_dtype(x_in.dtype()) : DType::Float32;
  // Move the reduced dims last and contiguous, then reduce rows.
  Layout L = layout_for(cast(x_in, c), dims, "logsumexp");
  Tensor xr = L.K == 1 ? L.x : L.x.reshape({L.A, L.R, L.K}).transpose(1, 2).contiguous();
  Tensor out = Tensor::empty(keepdim ? L.keep_shape : L.drop_shape, c, x_in.device());
  auto fn = cpu::kernels().row[int(cpu::RowOp::LogSumExp)][int(c)];
  const int64_t rows = L.A * L.K, n = L.R, is = itemsize(c);
  if (rows) {
    if (n == 0) return cast(full(out.shape(), -INFINITY, c, x_in.device()), is_floating(x_in.dtype()) ? x_in.dtype() : c);
    if (out.device().is_cuda()) cuda::row(cpu::RowOp::LogSumExp, xr, rows, n, out);
    else parallel_for(0, rows, std::max<int64_t>(1, (1 << 14) / n), [&](int64_t lo, int64_t hi) {
      fn(hi - lo, n, xr.bytes() + lo * n * is, out.bytes() + lo * is);
    });
  }
  return is_floating(x_in.dtype()) ? cast(out, x_in.dtype()) : out;
}

Tensor softmax(const Tensor& x_in, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  int64_t nd = x_in.dim();
  int64_t d = wrap_dim(dim, nd, name);
  DType c = is_floating(x_in.dtype()) ? compute_dtype(x_in.dtype()) : DType::Float32;
  Tensor x = cast(x_in, c);
  bool last = nd == 0 || d == nd - 1;
  Tensor xt = (last ? x : x.transpose(d, nd - 1)).contiguous();
  Tensor out = Tensor::empty(xt.shape(), c, x_in.device());
  int64_t n = nd == 0 ? 1 : xt.shape().back(), rows = n ? xt.numel() / n : 0, is = itemsize(c);
  auto fn = cpu::kernels().row[int(log ? cpu::RowOp::LogSoftmax : cpu::RowOp::Softmax)][int(c)];
  if (out.device().is_cuda()) cuda::row(log ? cpu::RowOp::LogSoftmax : cpu::RowOp::Softmax, xt, rows, n, out);
  else parallel_for(0, rows, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(n, 1)), [&](int64_t lo, int64_t hi) {
    fn(hi - lo, n, xt.bytes() + lo * n * is, out.bytes() + lo * n * is);
  });
  Tensor r = last ? out : out.transpose(d, nd - 1).contiguous();
  return is_floating(x_in.dtype()) ? cast(r, x_in.dtype()) : r;
}

Tensor softmax_backward(const Tensor& y_in, const Tensor& g_in, int64_t dim, bool log) {
  const char* name = log ? "log_softmax_backward" : "softmax_backward";
  LAMINA_CHECK(y_in.shape() == g_in.shape(), ShapeError, "[", name, "] gradient shape ", g_in.shape(),
               " differs from output shape ", y_in.shape());
  LAMINA_CHECK(y_in.device() == g_in.device(), RuntimeError, "[", name, "] expected all tensors on the same device, got ",
               y_in.device().str(), " and ", g_in.device().str());
  const int64_t nd = y_in.dim(), d = wrap_dim(dim, nd, name);
  const DType c = compute_dtype(is_floating(y_in.dtype()) ? y_in.dtype() : DType::Float32);
  const bool last = nd == 0 || d == nd - 1;
  auto rows_of = [&](const Tensor& t) { return (last ? cast(t, c) : cast(t, c).transpose(d, nd - 1)).contiguous(); };
  Tensor y = rows_of(y_in), g = rows_of(g_in);
  Tensor dx = Tensor::empty(y.shape(), c, y_in.device());
  const int64_t n = nd == 0 ? 1 : y.shape().back(), rows = n ? y.numel() / n : 0, is = itemsize(c);
  auto fn = cpu::kernels().row_backward[log ? 1 : 0][int(c)];
  if (dx.device().is_cuda()) cuda::row_backward(log, y, g, rows, n, dx);
  else parallel_for(0, rows, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(n, 1)), [&](int64_t lo, int64_t hi) {
    fn(hi - lo, n, y.bytes() + lo * n * is, g.bytes() + lo * n * is, dx.bytes() + lo * n * is);
  });
  Tensor r = last ? dx : dx.transpose(d, nd - 1).contiguous();
  return cast(r, is_floating(y_in.dtype()) ? y_in.dtype() : c);
}

Tensor cumsum(const Tensor& x_in, int64_t dim) {
  DType c = compute_dtype(x_in.dtype());
  int64_t nd = x_in.dim(), d = wrap_dim(dim, nd, "cumsum");
  Tensor x = cast(x_in, c).contiguous();
  int64_t A = 1, R = nd ? x.shape()[d] : 1, K = 1;
  for (int64_t i = 0; i < d; ++i) A *= x.shape()[i];
  for (int64_t i = d + 1; i < nd; ++i) K *= x.shape()[i];
  DType out_t = is_floating(c) ? c : DType::Int64;
  Tensor out = Tensor::empty(x.shape(), out_t, x_in.device());
  auto fn = cpu::kernels().cumsum[int(c)];
  LAMINA_CHECK(fn, TypeError, "[cumsum] not implemented for ", dtype_name(x_in.dtype()));
  if (out.device().is_cuda()) cuda::cumsum(x, A, R, K, out);
  else if (x.numel())
    parallel_for(0, A, std::max<int64_t>(1, (1 << 15) / (R * K)), [&](int64_t lo, int64_t hi) {
      fn(hi - lo, R, K, x.bytes() + lo * R * K * itemsize(c), out.bytes() + lo * R * K * itemsize(out_t));
    });
  return is_floating(x_in.dtype()) ? cast(out, x_in.dtype()) : out;
}

}  // namespace lamina

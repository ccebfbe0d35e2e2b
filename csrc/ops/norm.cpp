#include "ops/norm.h"

#include <vector>

#include "core/parallel.h"
#include "cpu/kernels.h"
#include "ops/copy.h"

namespace lamina {

namespace {

DType compute_dtype(DType t) { return t == DType::Float64 ? DType::Float64 : DType::Float32; }

// Rows and row length for x normalised over its trailing normalized_shape dims.
std::pair<int64_t, int64_t> rows_of(const Tensor& x, const Shape& ns, const Tensor* gamma, const Tensor* beta,
                                    const char* op) {
  require_cpu(x, op);
  LAMINA_CHECK(is_floating(x.dtype()), TypeError, "[", op, "] expected a floating point input, got ", dtype_name(x.dtype()));
  const int64_t k = int64_t(ns.size());
  bool ok = k <= x.dim();
  for (int64_t i = 0; ok && i < k; ++i) ok = x.shape()[x.dim() - k + i] == ns[i];
  LAMINA_CHECK(ok, ShapeError, "[", op, "] normalized_shape ", ns, " does not match the trailing dims of input shape ",
               x.shape());
  for (const Tensor* p : {gamma, beta}) {
    if (!p) continue;
    LAMINA_CHECK(p->shape() == ns, ShapeError, "[", op, "] weight/bias shape ", p->shape(),
                 " must equal normalized_shape ", ns);
    LAMINA_CHECK(p->device() == x.device(), RuntimeError, "[", op, "] weight/bias on ", p->device().str(),
                 ", input on ", x.device().str());
  }
  const int64_t n = numel_of(ns);
  return {n ? x.numel() / n : 0, n};
}

Shape row_shape(const Tensor& x, const Shape& ns) {
  return Shape(x.shape().begin(), x.shape().end() - int64_t(ns.size()));
}

}  // namespace

NormForwardResult norm_forward(const Tensor& x_in, const Shape& ns, const Tensor* gamma_in, const Tensor* beta_in,
                               double eps, bool rms) {
  const char* op = rms ? "rms_norm" : "layer_norm";
  auto [rows, n] = rows_of(x_in, ns, gamma_in, beta_in, op);
  const DType c = compute_dtype(x_in.dtype());
  Tensor x = cast(x_in, c).contiguous();
  Tensor gamma = gamma_in ? cast(*gamma_in, c).contiguous() : Tensor();
  Tensor beta = beta_in ? cast(*beta_in, c).contiguous() : Tensor();
  NormForwardResult r{Tensor::empty(x.shape(), c), Tensor::empty(row_shape(x, ns), c), Tensor::empty(row_shape(x, ns), c)};
  cpu::NormArgs a;
  a.n = n; a.rms = rms; a.eps = eps;
  a.x = x.bytes();
  a.gamma = gamma_in ? gamma.bytes() : nullptr;
  a.beta = beta_in ? beta.bytes() : nullptr;
  a.y = r.y.bytes(); a.mean = r.mean.bytes(); a.rstd = r.rstd.bytes();
  auto fn = cpu::kernels().norm_forward[int(c)];
  if (n > 0)
    parallel_for(0, rows, std::max<int64_t>(1, (1 << 14) / n), [&](int64_t lo, int64_t hi) { fn(a, lo, hi); });
  if (c != x_in.dtype()) r.y = cast(r.y, x_in.dtype());
  return r;
}

NormBackwardResult norm_backward(const Tensor& dy_in, const Tensor& x_in, const Tensor& mean, const Tensor& rstd,
                                 const Tensor* gamma_in, bool has_beta, const Shape& ns, bool rms) {
  const char* op = rms ? "rms_norm_backward" : "layer_norm_backward";
  auto [rows, n] = rows_of(x_in, ns, gamma_in, nullptr, op);
  LAMINA_CHECK(dy_in.shape() == x_in.shape(), ShapeError, "[", op, "] gradient shape ", dy_in.shape(),
               " differs from input shape ", x_in.shape());
  const DType c = compute_dtype(x_in.dtype());
  Tensor x = cast(x_in, c).contiguous(), dy = cast(dy_in, c).contiguous();
  Tensor mc = cast(mean, c).contiguous(), rc = cast(rstd, c).contiguous();
  Tensor gamma = gamma_in ? cast(*gamma_in, c).contiguous() : Tensor();
  NormBackwardResult r;
  r.dx = Tensor::empty(x.shape(), c);
  cpu::NormArgs a;
  a.n = n; a.rms = rms;
  a.x = x.bytes(); a.dy = dy.bytes(); a.dx = r.dx.bytes();
  a.mean = mc.bytes(); a.rstd = rc.bytes();
  a.gamma = gamma_in ? gamma.bytes() : nullptr;
  auto fn = cpu::kernels().norm_backward[int(c)];
  // Each chunk of rows sums its dgamma/dbeta in float64; the chunks' sums are added at the end.
  const int nt = std::max(1, get_num_threads());
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(nt, rows));
  std::vector<double> dg(gamma_in ? size_t(chunks * n) : 0, 0.0), db(has_beta ? size_t(chunks * n) : 0, 0.0);
  if (n > 0)
    parallel_for(0, chunks, 0, [&](int64_t lo, int64_t hi) {
      for (int64_t ch = lo; ch < hi; ++ch)
        fn(a, rows * ch / chunks, rows * (ch + 1) / chunks, gamma_in ? dg.data() + ch * n : nullptr,
           has_beta ? db.data() + ch * n : nullptr);
    });
  auto total = [&](const std::vector<double>& parts) {
    Tensor out = Tensor::empty(ns, DType::Float64);
    double* o = out.data<double>();
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t ch = 0; ch < chunks; ++ch) s += parts[size_t(ch * n + i)];
      o[i] = s;
    }
    return cast(out, gamma_in ? gamma_in->dtype() : x_in.dtype());
  };
  if (gamma_in) r.dgamma = total(dg);
  if (has_beta) r.dbeta = total(db);
  if (c != x_in.dtype()) r.dx = cast(r.dx, x_in.dtype());
  return r;
}

}  // namespace lamina

#include "ops/batch_norm.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "core/parallel.h"
#include "cpu/kernels.h"
#include "ops/copy.h"

namespace lamina {

namespace {

using Vec = std::vector<double>;

// Elements below which a second thread costs more than it saves: both passes stream the data
// once with a few flops per element.
constexpr int64_t kGrain = 1 << 15;
// Spatial sizes below this are folded into the channel dim: rows that short would spend more on
// per-row bookkeeping than on data, while a sample's C * HW positions form one vector loop.
constexpr int64_t kFoldBelow = 16;

DType compute_dtype(DType t) { return t == DType::Float64 ? DType::Float64 : DType::Float32; }

// The input (N, C, *) as the kernels see it once contiguous: (N, P, L) with P = C, L = HW, or
// P = C * HW, L = 1 when small spatial sizes are folded into the channels.
struct Layout {
  int64_t N = 0, C = 0, HW = 1, P = 0, L = 1;
  int64_t count() const { return N * HW; }  // elements per channel
};

Layout layout_of(const char* op, const Tensor& x) {
  require_cpu(x, op);
  LAMINA_CHECK(x.dim() >= 2, ShapeError, "[", op, "] expected an input of shape (N, C, *), got ", x.shape());
  LAMINA_CHECK(is_floating(x.dtype()), TypeError, "[", op, "] expected a floating point input, got ",
               dtype_name(x.dtype()));
  Layout l;
  l.N = x.shape()[0];
  l.C = x.shape()[1];
  for (int64_t d = 2; d < x.dim(); ++d) l.HW *= x.shape()[d];
  const bool fold = l.HW < kFoldBelow;
  l.P = fold ? l.C * l.HW : l.C;
  l.L = fold ? 1 : l.HW;
  return l;
}

void check_channels(const char* op, const char* name, const Tensor* t, const Tensor& x) {
  if (!t) return;
  require_cpu(*t, op);
  LAMINA_CHECK(t->dim() == 1 && t->shape()[0] == x.shape()[1], ShapeError, "[", op, "] ", name,
               " must have shape (", x.shape()[1], ",) for input ", x.shape(), ", got ", t->shape());
  LAMINA_CHECK(is_floating(t->dtype()), TypeError, "[", op, "] ", name, " must be floating point, got ",
               dtype_name(t->dtype()));
}

// A per-channel tensor's values in float64, or `fill` for an absent one.
Vec values(const Tensor* t, int64_t C, double fill) {
  if (!t) return Vec(static_cast<size_t>(C), fill);
  Tensor d = cast(*t, DType::Float64).contiguous();
  return Vec(d.data<double>(), d.data<double>() + C);
}

Tensor tensor_of(const Vec& v, DType dt) {
  Tensor t = Tensor::empty({int64_t(v.size())}, DType::Float64);
  std::copy(v.begin(), v.end(), t.data<double>());
  return cast(t, dt);
}

// A per-channel vector repeated over each channel's positions when the layout is folded.
Vec spread(const Layout& l, const Vec& v) {
  if (l.L == l.HW) return v;
  Vec out(static_cast<size_t>(l.P));
  for (int64_t c = 0; c < l.C; ++c) std::fill_n(out.begin() + c * l.HW, l.HW, v[size_t(c)]);
  return out;
}

// The stats kernel's per-channel sums (see cpu/kernels.h) over the whole batch. Threads take
// whole channels when there are enough of them (no partial sums to add); otherwise each takes a
// slice of the batch into its own partials, added here in a fixed order.
std::pair<Vec, Vec> channel_sums(const Layout& l, cpu::BatchNormArgs a, const Vec& shift, DType dt) {
  const Vec k = spread(l, shift);
  a.C = l.P;
  a.HW = l.L;
  a.shift = k.data();
  const auto fn = cpu::kernels().batch_norm_stats[int(dt)];
  const size_t P = size_t(l.P);
  Vec s1(P, 0.0), s2(P, 0.0);
  const int64_t chunks = std::clamp<int64_t>(l.N * l.P * l.L / kGrain, 1, std::max(1, get_num_threads()));
  if (chunks == 1) {
    fn(a, 0, l.N, 0, l.P, s1.data(), s2.data());
  } else if (l.P >= 4 * chunks || l.N < 2 * chunks) {
    parallel_for(0, l.P, (l.P + chunks - 1) / chunks,
                 [&](int64_t lo, int64_t hi) { fn(a, 0, l.N, lo, hi, s1.data(), s2.data()); });
  } else {
    Vec part(2 * size_t(chunks) * P, 0.0);
    parallel_for(0, chunks, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t ch = lo; ch < hi; ++ch)
        fn(a, l.N * ch / chunks, l.N * (ch + 1) / chunks, 0, l.P, &part[2 * size_t(ch) * P],
           &part[(2 * size_t(ch) + 1) * P]);
    });
    for (size_t ch = 0; ch < size_t(chunks); ++ch)
      for (size_t j = 0; j < P; ++j) {
        s1[j] += part[2 * ch * P + j];
        s2[j] += part[(2 * ch + 1) * P + j];
      }
  }
  if (l.L == l.HW) return {std::move(s1), std::move(s2)};
  Vec f1(static_cast<size_t>(l.C), 0.0), f2(f1);
  for (int64_t c = 0; c < l.C; ++c)
    for (int64_t i = 0; i < l.HW; ++i) {
      f1[size_t(c)] += s1[size_t(c * l.HW + i)];
      f2[size_t(c)] += s2[size_t(c * l.HW + i)];
    }
  return {std::move(f1), std::move(f2)};
}

// out = (x - shift) * p + q + dy * r per channel, threads over rows (a.x/a.dy/a.out set by the caller).
void apply(const Layout& l, cpu::BatchNormArgs a, const Vec& shift, const Vec& p, const Vec& q, const Vec& r,
           DType dt) {
  const Vec ks = spread(l, shift), ps = spread(l, p), qs = spread(l, q), rs = spread(l, r);
  a.C = l.P;
  a.HW = l.L;
  a.shift = ks.data();
  a.p = ps.data();
  a.q = qs.data();
  a.r = rs.data();
  const auto fn = cpu::kernels().batch_norm_apply[int(dt)];
  parallel_for(0, l.N * l.P, std::max<int64_t>(1, kGrain / l.L), [&](int64_t lo, int64_t hi) { fn(a, lo, hi); });
}

// running = (1 - momentum) * running + momentum * batch, in float64, written back in place.
void update_running(const Tensor* running, const Vec& batch, double momentum) {
  if (!running) return;
  Vec v = values(running, int64_t(batch.size()), 0.0);
  for (size_t c = 0; c < v.size(); ++c) v[c] = (1.0 - momentum) * v[c] + momentum * batch[c];
  copy_into(*running, tensor_of(v, DType::Float64));
}

double element(const Tensor& t, int64_t i) {
  return t.dtype() == DType::Float64 ? t.data<double>()[i] : double(t.data<float>()[i]);
}

}  // namespace

BatchNormForwardResult batch_norm_forward(const Tensor& x_in, const Tensor* weight, const Tensor* bias,
                                          const Tensor* running_mean, const Tensor* running_var, bool training,
                                          double momentum, double eps) {
  const char* op = "batch_norm";
  const Layout l = layout_of(op, x_in);
  check_channels(op, "running_mean", running_mean, x_in);
  check_channels(op, "running_var", running_var, x_in);
  check_channels(op, "weight", weight, x_in);
  check_channels(op, "bias", bias, x_in);
  LAMINA_CHECK(training || (running_mean && running_var), ValueError, "[", op,
               "] running_mean and running_var are required when training=False");
  LAMINA_CHECK(!training || x_in.numel() == 0 || l.count() > 1, ValueError, "[", op,
               "] expected more than 1 value per channel when training, got input size ", x_in.shape());
  const DType dt = compute_dtype(x_in.dtype());
  const Tensor x = cast(x_in, dt).contiguous();
  const int64_t C = l.C;
  const size_t nc = static_cast<size_t>(C);
  Vec mean(nc, 0.0), invstd(nc, 0.0);
  cpu::BatchNormArgs a;
  a.x = x.bytes();
  if (!training) {
    mean = values(running_mean, C, 0.0);
    const Vec var = values(running_var, C, 1.0);
    for (int64_t c = 0; c < C; ++c) invstd[size_t(c)] = 1.0 / std::sqrt(var[size_t(c)] + eps);
  } else if (x.numel() > 0) {  // an empty batch leaves the running statistics alone, as in PyTorch
    // Sums are taken around each channel's first element, so a large common offset cancels
    // exactly instead of swamping the variance.
    Vec shift(nc);
    for (int64_t c = 0; c < C; ++c) shift[size_t(c)] = element(x, c * l.HW);
    const auto [s1, s2] = channel_sums(l, a, shift, dt);
    const double n = double(l.count());
    Vec var(nc);
    for (size_t c = 0; c < nc; ++c) {
      const double d = s1[c] / n;
      mean[c] = shift[c] + d;
      var[c] = std::max(0.0, s2[c] / n - d * d);
      invstd[c] = 1.0 / std::sqrt(var[c] + eps);
      var[c] *= n / (n - 1.0);  // the running variance is the unbiased one
    }
    update_running(running_mean, mean, momentum);
    update_running(running_var, var, momentum);
  }
  const Vec w = values(weight, C, 1.0), b = values(bias, C, 0.0);
  Vec scale(nc);
  for (size_t c = 0; c < nc; ++c) scale[c] = invstd[c] * w[c];
  BatchNormForwardResult r{Tensor::empty(x.shape(), dt), tensor_of(mean, DType::Float64),
                          tensor_of(invstd, DType::Float64)};
  a.out = r.y.bytes();
  apply(l, a, mean, scale, b, scale, dt);
  if (dt != x_in.dtype()) r.y = cast(r.y, x_in.dtype());
  return r;
}

BatchNormBackwardResult batch_norm_backward(const Tensor& dy_in, const Tensor& x_in, const Tensor& mean_in,
                                            const Tensor& invstd_in, const Tensor* weight, bool training,
                                            bool need_dweight, bool need_dbias) {
  const char* op = "batch_norm_backward";
  const Layout l = layout_of(op, x_in);
  LAMINA_CHECK(dy_in.shape() == x_in.shape(), ShapeError, "[", op, "] gradient shape ", dy_in.shape(),
               " differs from input shape ", x_in.shape());
  require_cpu(dy_in, op);
  check_channels(op, "mean", &mean_in, x_in);
  check_channels(op, "invstd", &invstd_in, x_in);
  check_channels(op, "weight", weight, x_in);
  const DType dt = compute_dtype(x_in.dtype());
  const Tensor x = cast(x_in, dt).contiguous(), dy = cast(dy_in, dt).contiguous();
  const int64_t C = l.C;
  const size_t nc = static_cast<size_t>(C);
  const Vec mean = values(&mean_in, C, 0.0), invstd = values(&invstd_in, C, 0.0), w = values(weight, C, 1.0);
  cpu::BatchNormArgs a;
  a.x = x.bytes();
  a.dy = dy.bytes();
  // s1 = sum(dy), s2 = sum(dy * (x - mean)) per channel.
  Vec s1(nc, 0.0), s2(nc, 0.0);
  if ((training || need_dweight || need_dbias) && x.numel() > 0) std::tie(s1, s2) = channel_sums(l, a, mean, dt);
  // dx = invstd * w * (dy - mean(dy) - xhat * mean(dy * xhat)) with xhat = (x - mean) * invstd;
  // in eval mode the statistics are constants and dx = invstd * w * dy.
  const double n = double(std::max<int64_t>(l.count(), 1));
  Vec p(nc, 0.0), q(nc, 0.0), scale(nc);
  for (size_t c = 0; c < nc; ++c) {
    scale[c] = invstd[c] * w[c];
    if (training) {
      p[c] = -scale[c] * invstd[c] * invstd[c] * s2[c] / n;
      q[c] = -scale[c] * s1[c] / n;
    }
  }
  BatchNormBackwardResult r;
  r.dx = Tensor::empty(x.shape(), dt);
  a.out = r.dx.bytes();
  if (!training) a.x = nullptr;
  apply(l, a, mean, p, q, scale, dt);
  if (dt != x_in.dtype()) r.dx = cast(r.dx, x_in.dtype());
  const DType param_dt = weight ? weight->dtype() : x_in.dtype();
  if (need_dweight) {
    for (size_t c = 0; c < nc; ++c) s2[c] *= invstd[c];
    r.dweight = tensor_of(s2, param_dt);
  }
  if (need_dbias) r.dbias = tensor_of(s1, param_dt);
  return r;
}

}  // namespace lamina

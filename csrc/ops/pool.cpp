// Pooling: each output's window is the product of a row range and a column range, computed once
// per call for every output row and column (fixed windows clipped to the image, or adaptive
// ones), then planes (image, channel) run in parallel.
#include "ops/pool.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/parallel.h"
#include "ops/copy.h"

namespace lamina {

namespace {

DType compute_dtype(DType t) { return t == DType::Float64 ? DType::Float64 : DType::Float32; }

// Windows along one dim: output i reads inputs begin[i], begin[i] + step, ... below end[i];
// `size[i]` is its length counted with padding (avg_pool2d's count_include_pad divisor).
struct Axis {
  std::vector<int64_t> begin, end, size;
  int64_t step = 1;
};

int64_t pooled_size(int64_t in, int64_t k, int64_t s, int64_t pad, int64_t d, bool ceil_mode) {
  const int64_t span = in + 2 * pad - d * (k - 1) - 1;
  if (span < 0) return 0;
  int64_t out = (span + (ceil_mode ? s - 1 : 0)) / s + 1;
  // The last window must start inside the image or its left padding.
  if (ceil_mode && (out - 1) * s >= in + pad) --out;
  return out;
}

Axis fixed_axis(int64_t in, int64_t out, int64_t k, int64_t s, int64_t pad, int64_t d) {
  Axis a;
  a.step = d;
  for (int64_t o = 0; o < out; ++o) {
    const int64_t start = o * s - pad;
    const int64_t first = start < 0 ? start + (-start + d - 1) / d * d : start;
    a.begin.push_back(first);
    a.end.push_back(std::min(start + (k - 1) * d + 1, in));
    a.size.push_back(std::min(start + k, in + pad) - start);
  }
  return a;
}

Axis adaptive_axis(int64_t in, int64_t out) {
  Axis a;
  for (int64_t o = 0; o < out; ++o) {
    a.begin.push_back(o * in / out);
    a.end.push_back(((o + 1) * in + out - 1) / out);
    a.size.push_back(a.end.back() - a.begin.back());
  }
  return a;
}

struct Windows {
  int64_t planes = 0, H = 0, W = 0, OH = 0, OW = 0;
  Axis rows, cols;
};

Windows make_windows(const Shape& xs, const PoolOptions& o, const char* op) {
  LAMINA_CHECK(xs.size() == 4, ValueError, "[", op, "] expected a 4-D input (N, C, H, W), got shape ", xs);
  Windows w;
  w.planes = xs[0] * xs[1];
  w.H = xs[2];
  w.W = xs[3];
  if (o.adaptive) {
    LAMINA_CHECK(o.output_size[0] >= 1 && o.output_size[1] >= 1, ValueError, "[", op, "] output_size must be positive, got (",
                 o.output_size[0], ", ", o.output_size[1], ")");
    LAMINA_CHECK(w.H >= 1 && w.W >= 1, ValueError, "[", op, "] input shape ", xs, " has an empty plane");
    w.OH = o.output_size[0];
    w.OW = o.output_size[1];
    w.rows = adaptive_axis(w.H, w.OH);
    w.cols = adaptive_axis(w.W, w.OW);
    return w;
  }
  for (int i = 0; i < 2; ++i) {
    LAMINA_CHECK(o.kernel[i] >= 1 && o.stride[i] >= 1 && o.dilation[i] >= 1, ValueError, "[", op, "] kernel_size, stride "
                 "and dilation must be positive, got kernel_size (", o.kernel[0], ", ", o.kernel[1], "), stride (",
                 o.stride[0], ", ", o.stride[1], "), dilation (", o.dilation[0], ", ", o.dilation[1], ")");
    LAMINA_CHECK(o.padding[i] >= 0 && o.padding[i] <= o.kernel[i] / 2, ValueError, "[", op, "] padding (", o.padding[0],
                 ", ", o.padding[1], ") must be non-negative and at most half of kernel_size (", o.kernel[0], ", ",
                 o.kernel[1], ")");
  }
  w.OH = pooled_size(w.H, o.kernel[0], o.stride[0], o.padding[0], o.dilation[0], o.ceil_mode);
  w.OW = pooled_size(w.W, o.kernel[1], o.stride[1], o.padding[1], o.dilation[1], o.ceil_mode);
  LAMINA_CHECK(w.OH >= 1 && w.OW >= 1, ValueError, "[", op, "] input shape ", xs, " is too small for kernel_size (",
               o.kernel[0], ", ", o.kernel[1], ") with padding (", o.padding[0], ", ", o.padding[1], ") and dilation (",
               o.dilation[0], ", ", o.dilation[1], "): the output would be (", w.OH, ", ", w.OW, ")");
  w.rows = fixed_axis(w.H, w.OH, o.kernel[0], o.stride[0], o.padding[0], o.dilation[0]);
  w.cols = fixed_axis(w.W, w.OW, o.kernel[1], o.stride[1], o.padding[1], o.dilation[1]);
  return w;
}

void check_input(const Tensor& x, const char* op) {
  require_cpu(x, op);
  LAMINA_CHECK(is_floating(x.dtype()), TypeError, "[", op, "] expected a floating point input, got ",
               dtype_name(x.dtype()));
}

// The divisor of an average window: the override, the padded size or the count of inputs.
template <class T>
T divisor(const Windows& w, const PoolOptions& o, int64_t oy, int64_t ox) {
  if (o.divisor_override) return T(o.divisor_override);
  const Axis &r = w.rows, &c = w.cols;
  if (o.count_include_pad && !o.adaptive) return T(r.size[oy] * c.size[ox]);
  return T((r.end[oy] - r.begin[oy]) * (c.end[ox] - c.begin[ox]));
}

// Runs f(plane) over the planes in parallel, grain sized so a chunk is worth a thread.
template <class F>
void for_planes(const Windows& w, const F& f) {
  const int64_t work = std::max<int64_t>(1, w.OH * w.OW + w.H * w.W);
  parallel_for(0, w.planes, std::max<int64_t>(1, 8192 / work), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) f(p);
  });
}

// One tap of a row of regular max-pool windows: best[o] / arg[o] take x[o * s] (index
// base + o * s) when it is larger or NaN, unless best[o] is already NaN. Selects by bit masks:
// the data decide each comparison at random, which a branch predicts badly.
template <class T>
void max_tap(const T* x, int64_t s, int64_t base, int64_t n, T* best, int64_t* arg) {
  using U = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;
  for (int64_t o = 0; o < n; ++o) {
    const T v = x[o * s], b = best[o];
    const bool take = ((v > b) | (v != v)) & (b == b);
    const U mask = U(0) - U(take);
    U vb, bb;
    std::memcpy(&vb, &v, sizeof(T));
    std::memcpy(&bb, &b, sizeof(T));
    const U r = (vb & mask) | (bb & ~mask);
    std::memcpy(best + o, &r, sizeof(T));
    const int64_t m = -int64_t(take);
    arg[o] = ((base + o * s) & m) | (arg[o] & ~m);
  }
}

// An axis whose windows all start `s` apart from 0 and hold `k` consecutive elements (no
// padding reached, no dilation, no ragged last window); k and s are set when it returns true.
bool regular(const Axis& a, int64_t& k, int64_t& s) {
  if (a.step != 1 || a.begin.empty()) return false;
  k = a.end[0] - a.begin[0];
  s = a.begin.size() > 1 ? a.begin[1] - a.begin[0] : 1;
  for (size_t o = 0; o < a.begin.size(); ++o)
    if (a.begin[o] != int64_t(o) * s || a.end[o] - a.begin[o] != k) return false;
  return k >= 1 && s >= 1;
}

template <class F>
void dispatch(DType dt, const F& fn) {
  if (dt == DType::Float64) fn(double{});
  else fn(float{});
}

Shape out_shape(const Shape& xs, const Windows& w) { return {xs[0], xs[1], w.OH, w.OW}; }

}  // namespace

std::pair<Tensor, Tensor> max_pool2d(const Tensor& x_in, const PoolOptions& o) {
  const char* op = o.adaptive ? "adaptive_max_pool2d" : "max_pool2d";
  check_input(x_in, op);
  const Windows w = make_windows(x_in.shape(), o, op);
  const DType dt = compute_dtype(x_in.dtype());
  Tensor x = cast(x_in, dt).contiguous();
  Tensor y = Tensor::empty(out_shape(x.shape(), w), dt), idx = Tensor::empty(y.shape(), DType::Int64);
  dispatch(dt, [&](auto t) {
    using T = decltype(t);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    int64_t* ip = idx.data<int64_t>();
    const int64_t sy = w.rows.step, sx = w.cols.step;
    int64_t kh, strh, kw, strw;
    if (regular(w.rows, kh, strh) && regular(w.cols, kw, strw)) {
      // Every window full: a pass per tap over a whole output row, branch-free so it
      // vectorises. The first tap seeds the row; a NaN is kept once taken (the first NaN wins).
      for_planes(w, [&](int64_t p) {
        const T* in = xp + p * w.H * w.W;
        for (int64_t oy = 0; oy < w.OH; ++oy) {
          T* best = yp + (p * w.OH + oy) * w.OW;
          int64_t* arg = ip + (p * w.OH + oy) * w.OW;
          for (int64_t ky = 0; ky < kh; ++ky) {
            const int64_t iy = oy * strh + ky;
            const T* row = in + iy * w.W;
            for (int64_t kx = 0; kx < kw; ++kx) {
              if (ky == 0 && kx == 0) {
                for (int64_t ox = 0; ox < w.OW; ++ox) {
                  best[ox] = row[ox * strw];
                  arg[ox] = iy * w.W + ox * strw;
                }
                continue;
              }
              max_tap(row + kx, strw, iy * w.W + kx, w.OW, best, arg);
            }
          }
        }
      });
      return;
    }
    for_planes(w, [&](int64_t p) {
      const T* in = xp + p * w.H * w.W;
      for (int64_t oy = 0; oy < w.OH; ++oy)
        for (int64_t ox = 0; ox < w.OW; ++ox) {
          T best = -std::numeric_limits<T>::infinity();
          int64_t arg = w.rows.begin[oy] * w.W + w.cols.begin[ox];
          for (int64_t iy = w.rows.begin[oy]; iy < w.rows.end[oy]; iy += sy)
            for (int64_t ix = w.cols.begin[ox]; ix < w.cols.end[ox]; ix += sx) {
              const T v = in[iy * w.W + ix];
              if (v > best || std::isnan(v)) {
                best = v;
                arg = iy * w.W + ix;
                if (std::isnan(v)) goto done;
              }
            }
        done:
          const int64_t out = (p * w.OH + oy) * w.OW + ox;
          yp[out] = best;
          ip[out] = arg;
        }
    });
  });
  return {dt == x_in.dtype() ? y : cast(y, x_in.dtype()), idx};
}

Tensor avg_pool2d(const Tensor& x_in, const PoolOptions& o) {
  const char* op = o.adaptive ? "adaptive_avg_pool2d" : "avg_pool2d";
  check_input(x_in, op);
  LAMINA_CHECK(o.divisor_override >= 0, ValueError, "[", op, "] divisor_override must be positive, got ", o.divisor_override);
  const Windows w = make_windows(x_in.shape(), o, op);
  const DType dt = compute_dtype(x_in.dtype());
  Tensor x = cast(x_in, dt).contiguous();
  Tensor y = Tensor::empty(out_shape(x.shape(), w), dt);
  dispatch(dt, [&](auto t) {
    using T = decltype(t);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    for_planes(w, [&](int64_t p) {
      const T* in = xp + p * w.H * w.W;
      for (int64_t oy = 0; oy < w.OH; ++oy)
        for (int64_t ox = 0; ox < w.OW; ++ox) {
          T s = 0;
          for (int64_t iy = w.rows.begin[oy]; iy < w.rows.end[oy]; ++iy)
            for (int64_t ix = w.cols.begin[ox]; ix < w.cols.end[ox]; ++ix) s += in[iy * w.W + ix];
          yp[(p * w.OH + oy) * w.OW + ox] = s / divisor<T>(w, o, oy, ox);
        }
    });
  });
  return dt == x_in.dtype() ? y : cast(y, x_in.dtype());
}

Tensor max_pool2d_backward(const Tensor& dy_in, const Tensor& indices, const Shape& xs) {
  const char* op = "max_pool2d_backward";
  check_input(dy_in, op);
  LAMINA_CHECK(xs.size() == 4 && dy_in.dim() == 4 && indices.shape() == dy_in.shape() && dy_in.shape()[0] == xs[0] &&
               dy_in.shape()[1] == xs[1], ShapeError, "[", op, "] gradient shape ", dy_in.shape(), " and indices shape ",
               indices.shape(), " do not fit input shape ", xs);
  LAMINA_CHECK(indices.dtype() == DType::Int64, TypeError, "[", op, "] indices must be int64, got ", dtype_name(indices.dtype()));
  const DType dt = compute_dtype(dy_in.dtype());
  Tensor dy = cast(dy_in, dt).contiguous(), idx = indices.contiguous();
  Tensor dx = Tensor::empty(xs, dt);
  const int64_t HW = xs[2] * xs[3], OHW = dy.shape()[2] * dy.shape()[3], planes = xs[0] * xs[1];
  const int64_t* ip = idx.data<int64_t>();
  // Checked up front: nothing may throw inside the parallel loop.
  for (int64_t i = 0; i < idx.numel(); ++i)
    LAMINA_CHECK(ip[i] >= 0 && ip[i] < HW, IndexError, "[", op, "] index ", ip[i], " is outside a plane of ", HW,
                 " elements (input shape ", xs, ")");
  dispatch(dt, [&](auto t) {
    using T = decltype(t);
    const T* g = dy.data<T>();
    T* out = dx.data<T>();
    parallel_for(0, planes, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, HW + OHW)), [&](int64_t lo, int64_t hi) {
      std::memset(out + lo * HW, 0, size_t((hi - lo) * HW) * sizeof(T));
      for (int64_t p = lo; p < hi; ++p)
        for (int64_t i = 0; i < OHW; ++i) {
          out[p * HW + ip[p * OHW + i]] += g[p * OHW + i];
        }
    });
  });
  return dt == dy_in.dtype() ? dx : cast(dx, dy_in.dtype());
}

Tensor avg_pool2d_backward(const Tensor& dy_in, const Shape& xs, const PoolOptions& o) {
  const char* op = "avg_pool2d_backward";
  check_input(dy_in, op);
  const Windows w = make_windows(xs, o, op);
  LAMINA_CHECK(dy_in.shape() == out_shape(xs, w), ShapeError, "[", op, "] gradient shape ", dy_in.shape(),
               " does not match the output of input shape ", xs);
  const DType dt = compute_dtype(dy_in.dtype());
  Tensor dy = cast(dy_in, dt).contiguous();
  Tensor dx = Tensor::empty(xs, dt);
  dispatch(dt, [&](auto t) {
    using T = decltype(t);
    const T* g = dy.data<T>();
    T* out = dx.data<T>();
    for_planes(w, [&](int64_t p) {
      T* plane = out + p * w.H * w.W;
      std::memset(plane, 0, size_t(w.H * w.W) * sizeof(T));
      for (int64_t oy = 0; oy < w.OH; ++oy)
        for (int64_t ox = 0; ox < w.OW; ++ox) {
          const T v = g[(p * w.OH + oy) * w.OW + ox] / divisor<T>(w, o, oy, ox);
          for (int64_t iy = w.rows.begin[oy]; iy < w.rows.end[oy]; ++iy)
            for (int64_t ix = w.cols.begin[ox]; ix < w.cols.end[ox]; ++ix) plane[iy * w.W + ix] += v;
        }
    });
  });
  return dt == dy_in.dtype() ? dx : cast(dx, dy_in.dtype());
}

}  // namespace lamina

#include "ops/index.h"

#include <cstring>

#include "core/parallel.h"
#include "ops/copy.h"
#include "ops/elementwise.h"

namespace lamina {

namespace {

// Index tensor as int64 values wrapped into [0, size); IndexError on anything outside.
std::vector<int64_t> checked_indices(const Tensor& index, int64_t size, const char* op, int64_t dim) {
  LAMINA_CHECK(index.dtype() == DType::Int64 || index.dtype() == DType::Int32, TypeError, "[", op,
               "] expected an int64 or int32 index tensor, got ", dtype_name(index.dtype()));
  require_cpu(index, op);
  Tensor ic = cast(index, DType::Int64).contiguous();
  std::vector<int64_t> out(ic.data<int64_t>(), ic.data<int64_t>() + ic.numel());
  for (int64_t& v : out) {
    LAMINA_CHECK(v >= -size && v < size, IndexError, "[", op, "] index ", v, " is out of bounds for dimension ", dim,
                 " with size ", size);
    if (v < 0) v += size;
  }
  return out;
}

// Element offsets (in elements, through `strides`) of every multi-index over `sizes`, row-major.
std::vector<int64_t> offsets(const Shape& sizes, const Shape& strides) {
  std::vector<int64_t> out{0};
  for (size_t d = 0; d < sizes.size(); ++d) {
    std::vector<int64_t> next;
    next.reserve(out.size() * size_t(sizes[d]));
    for (int64_t o : out)
      for (int64_t i = 0; i < sizes[d]; ++i) next.push_back(o + i * strides[d]);
    out.swap(next);
  }
  return out;
}

Shape slice(const Shape& s, int64_t b, int64_t e) { return Shape(s.begin() + b, s.begin() + e); }

template <class T>
void add_elem(char* dst, const char* src) { *reinterpret_cast<T*>(dst) += *reinterpret_cast<const T*>(src); }

using AddFn = void (*)(char*, const char*);
AddFn add_fn(DType t, const char* op) {
  switch (t) {
    case DType::Float32: return add_elem<float>;
    case DType::Float64: return add_elem<double>;
    case DType::Int32: return add_elem<int32_t>;
    case DType::Int64: return add_elem<int64_t>;
    default: fail<TypeError>("[", op, "] accumulation is not implemented for ", dtype_name(t));
  }
}

}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  require_cpu(x, "index_select");
  LAMINA_CHECK(index.dim() <= 1, IndexError, "[index_select] index must be 0-d or 1-d, got shape ", index.shape());
  int64_t d = wrap_dim(dim, x.dim(), "index_select");
  int64_t size = x.dim() ? x.shape()[d] : 1;
  std::vector<int64_t> idx = checked_indices(index, size, "index_select", d);
  Tensor xc = x.contiguous();
  Shape shape = x.shape();
  if (x.dim()) shape[d] = int64_t(idx.size());
  Tensor out = Tensor::empty(shape, x.dtype());
  int64_t A = 1, K = 1, es = itemsize(x.dtype()), n = int64_t(idx.size());
  for (int64_t i = 0; i < d; ++i) A *= x.shape()[i];
  for (int64_t i = d + 1; i < x.dim(); ++i) K *= x.shape()[i];
  const char* src = xc.bytes();
  char* dst = out.bytes();
  parallel_for(0, A * n, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(K, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      int64_t a = r / n, i = r % n;
      std::memcpy(dst + r * K * es, src + (a * size + idx[i]) * K * es, size_t(K * es));
    }
  });
  return out;
}

void index_put_dim_(const Tensor& target, int64_t dim, const Tensor& index, const Tensor& src_in, bool accumulate) {
  const char* op = accumulate ? "index_add" : "index_copy";
  require_cpu(target, op);
  require_cpu(src_in, op);
  LAMINA_CHECK(index.dim() <= 1, IndexError, "[", op, "] index must be 0-d or 1-d, got shape ", index.shape());
  int64_t d = wrap_dim(dim, target.dim(), op);
  int64_t size = target.dim() ? target.shape()[d] : 1;
  std::vector<int64_t> idx = checked_indices(index, size, op, d);
  Shape sshape = target.shape();
  if (target.dim()) sshape[d] = int64_t(idx.size());
  DType c = (accumulate && (target.dtype() == DType::Float16 || target.dtype() == DType::BFloat16)) ? DType::Float32 : target.dtype();
  Tensor src = cast(src_in, c).expand(sshape).contiguous();
  bool direct = target.is_contiguous() && c == target.dtype();
  Tensor t = direct ? target : to(target, c, target.device(), true);
  int64_t A = 1, K = 1, es = itemsize(c), n = int64_t(idx.size());
  for (int64_t i = 0; i < d; ++i) A *= target.shape()[i];
  for (int64_t i = d + 1; i < target.dim(); ++i) K *= target.shape()[i];
  AddFn add = accumulate ? add_fn(c, op) : nullptr;
  char* tp = t.bytes();
  const char* sp = src.bytes();
  target.bump_version();
  parallel_for(0, A, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(n * K, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t a = lo; a < hi; ++a)
      for (int64_t i = 0; i < n; ++i) {
        char* drow = tp + (a * size + idx[i]) * K * es;
        const char* srow = sp + (a * n + i) * K * es;
        if (add) for (int64_t k = 0; k < K; ++k) add(drow + k * es, srow + k * es);
        else std::memcpy(drow, srow, size_t(K * es));
      }
  });
  if (!direct) copy_into(target, t);
}

namespace {
struct GatherGeom {
  int64_t A = 1, n = 1, K = 1;
  std::vector<int64_t> x_outer, x_inner, s_outer, s_inner;
};

void check_gather_shapes(const Tensor& x, int64_t d, const Tensor& index, const char* op, const Tensor* src) {
  LAMINA_CHECK(index.dim() == x.dim(), ValueError, "[", op, "] index ", index.shape(), " must have as many dims as input ",
               x.shape());
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i != d)
      LAMINA_CHECK(index.shape()[i] <= x.shape()[i], ValueError, "[", op, "] index ", index.shape(),
                   " is larger than input ", x.shape(), " at dim ", i);
    if (src)
      LAMINA_CHECK(index.shape()[i] <= src->shape()[i], ValueError, "[", op, "] index ", index.shape(),
                   " is larger than src ", src->shape(), " at dim ", i);
  }
}
}  // namespace

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  require_cpu(x, "gather");
  if (x.dim() == 0 && index.dim() == 0)  // PyTorch treats 0-d operands as one-element vectors
    return gather(x.reshape({1}), dim, index.reshape({1})).reshape({});
  int64_t d = wrap_dim(dim, x.dim(), "gather");
  check_gather_shapes(x, d, index, "gather", nullptr);
  int64_t size = x.dim() ? x.shape()[d] : 1;
  std::vector<int64_t> idx = checked_indices(index, size, "gather", d);
  Tensor out = Tensor::empty(index.shape(), x.dtype());
  if (!out.numel()) return out;
  int64_t nd = x.dim();
  Shape ish = index.shape();
  auto xo = offsets(slice(ish, 0, d), slice(x.strides(), 0, d));
  auto xi = offsets(slice(ish, d + 1, nd), slice(x.strides(), d + 1, nd));
  int64_t n = nd ? ish[d] : 1, xs = nd ? x.strides()[d] : 0, es = itemsize(x.dtype());
  int64_t K = int64_t(xi.size());
  const char* src = x.bytes();
  char* dst = out.bytes();
  parallel_for(0, int64_t(xo.size()) * n, std::max<int64_t>(1, (1 << 15) / K), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      int64_t a = r / n;
      for (int64_t k = 0; k < K; ++k)
        std::memcpy(dst + (r * K + k) * es, src + (xo[a] + idx[r * K + k] * xs + xi[k]) * es, size_t(es));
    }
  });
  return out;
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src_in, bool accumulate) {
  const char* op = accumulate ? "scatter_add" : "scatter";
  require_cpu(x, op);
  require_cpu(src_in, op);
  if (x.dim() == 0 && index.dim() == 0 && src_in.dim() == 0)
    return scatter(x.reshape({1}), dim, index.reshape({1}), src_in.reshape({1}), accumulate).reshape({});
  int64_t d = wrap_dim(dim, x.dim(), op);
  LAMINA_CHECK(src_in.dim() == x.dim(), ValueError, "[", op, "] src ", src_in.shape(), " must have as many dims as input ", x.shape());
  check_gather_shapes(x, d, index, op, &src_in);
  int64_t size = x.dim() ? x.shape()[d] : 1;
  std::vector<int64_t> idx = checked_indices(index, size, op, d);
  DType c = (accumulate && (x.dtype() == DType::Float16 || x.dtype() == DType::BFloat16)) ? DType::Float32 : x.dtype();
  Tensor out = to(x, c, x.device(), true);
  Tensor src = cast(src_in, c);
  if (!index.numel()) return cast(out, x.dtype());
  int64_t nd = x.dim();
  Shape ish = index.shape();
  auto oo = offsets(slice(ish, 0, d), slice(out.strides(), 0, d));
  auto oi = offsets(slice(ish, d + 1, nd), slice(out.strides(), d + 1, nd));
  auto so = offsets(slice(ish, 0, d), slice(src.strides(), 0, d));
  auto si = offsets(slice(ish, d + 1, nd), slice(src.strides(), d + 1, nd));
  int64_t n = nd ? ish[d] : 1, os = nd ? out.strides()[d] : 0, ss = nd ? src.strides()[d] : 0, es = itemsize(c);
  int64_t K = int64_t(oi.size());
  AddFn add = accumulate ? add_fn(c, op) : nullptr;
  char* dp = out.bytes();
  const char* sp = src.bytes();
  // Serial: indices may repeat, and accumulation order stays deterministic.
  for (int64_t r = 0; r < int64_t(oo.size()) * n; ++r) {
    int64_t a = r / n, i = r % n;
    for (int64_t k = 0; k < K; ++k) {
      char* dst = dp + (oo[a] + idx[r * K + k] * os + oi[k]) * es;
      const char* s = sp + (so[a] + i * ss + si[k]) * es;
      if (add) add(dst, s); else std::memcpy(dst, s, size_t(es));
    }
  }
  return cast(out, x.dtype());
}

Tensor nonzero(const Tensor& x) {
  require_cpu(x, "nonzero");
  Tensor b = cast(x, DType::Bool).contiguous();
  const bool* p = b.data<bool>();
  int64_t count = 0;
  for (int64_t i = 0; i < b.numel(); ++i) count += p[i];
  int64_t nd = x.dim();
  Tensor out = Tensor::empty({count, nd}, DType::Int64);
  int64_t* o = out.data<int64_t>();
  for (int64_t i = 0, row = 0; i < b.numel(); ++i) {
    if (!p[i]) continue;
    for (int64_t d = nd - 1, r = i; d >= 0; --d) { o[row * nd + d] = r % x.shape()[d]; r /= x.shape()[d]; }
    ++row;
  }
  return out;
}

Tensor one_hot(const Tensor& index, int64_t num_classes) {
  LAMINA_CHECK(index.dtype() == DType::Int64 || index.dtype() == DType::Int32, TypeError,
               "[one_hot] expected an integer tensor, got ", dtype_name(index.dtype()));
  LAMINA_CHECK(num_classes >= 0, ValueError, "[one_hot] num_classes must be non-negative, got ", num_classes);
  require_cpu(index, "one_hot");
  Tensor ic = cast(index, DType::Int64).contiguous();
  Shape shape = index.shape();
  shape.push_back(num_classes);
  Tensor out = Tensor::empty(shape, DType::Int64);
  std::memset(out.bytes(), 0, size_t(out.numel() * 8));
  const int64_t* ip = ic.data<int64_t>();
  for (int64_t i = 0; i < ic.numel(); ++i) {
    LAMINA_CHECK(ip[i] >= 0 && ip[i] < num_classes, IndexError, "[one_hot] class value ", ip[i],
                 " is outside [0, ", num_classes, ")");
    out.data<int64_t>()[i * num_classes + ip[i]] = 1;
  }
  return out;
}

Tensor cat(const std::vector<Tensor>& xs, int64_t dim) {
  LAMINA_CHECK(!xs.empty(), ValueError, "[cat] expected a non-empty list of tensors");
  // Legacy rule kept by PyTorch: 1-d empty tensors are skipped whatever their shape.
  std::vector<Tensor> parts;
  for (const Tensor& t : xs) if (!(t.dim() == 1 && t.numel() == 0)) parts.push_back(t);
  if (parts.empty()) return xs[0];
  const Tensor& ref = parts[0];
  LAMINA_CHECK(ref.dim() > 0, ValueError, "[cat] zero-dimensional tensor cannot be concatenated");
  int64_t d = wrap_dim(dim, ref.dim(), "cat");
  DType dt = ref.dtype();
  int64_t total = 0;
  for (const Tensor& t : parts) {
    LAMINA_CHECK(t.device() == ref.device(), RuntimeError, "[cat] expected all tensors on one device, got ",
                 ref.device().str(), " and ", t.device().str());
    LAMINA_CHECK(t.dim() == ref.dim(), ValueError, "[cat] tensors must have the same number of dims: ", ref.shape(),
                 " and ", t.shape());
    for (int64_t i = 0; i < ref.dim(); ++i)
      LAMINA_CHECK(i == d || t.shape()[i] == ref.shape()[i], ShapeError, "[cat] sizes of tensors must match except in dim ",
                   d, ": ", ref.shape(), " and ", t.shape());
    dt = promote(dt, t.dtype());
    total += t.shape()[d];
  }
  Shape shape = ref.shape();
  shape[d] = total;
  Tensor out = Tensor::empty(shape, dt, ref.device());
  int64_t off = 0;
  for (const Tensor& t : parts) {
    Shape sub = shape;
    sub[d] = t.shape()[d];
    if (sub[d]) copy_into(out.as_strided(sub, out.strides(), off * out.strides()[d]), t);
    off += t.shape()[d];
  }
  return out;
}

}  // namespace lamina

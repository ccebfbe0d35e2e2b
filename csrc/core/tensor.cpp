#include "core/tensor.h"

#include <algorithm>
#include <new>
#include <string>

#include "ops/copy.h"

namespace lamina {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) {
    LAMINA_CHECK(s >= 0, ValueError, "negative dimension in shape ", shape);
    if (s && n > INT64_MAX / s) fail<ValueError>("shape ", shape, " has too many elements");
    n *= s;
  }
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) { st[i] = acc; acc *= std::max<int64_t>(shape[i], 1); }
  return st;
}

Tensor::Tensor(std::shared_ptr<Storage> s, DType dt, Shape shape, Shape strides, int64_t offset)
    : storage_(std::move(s)), dtype_(dt), shape_(std::move(shape)), strides_(std::move(strides)),
      offset_(offset), numel_(numel_of(shape_)) {}

namespace {
// A std::bad_alloc (Python sees MemoryError) whose message says what could not be allocated.
struct AllocError : std::bad_alloc {
  std::string text;
  explicit AllocError(std::string t) : text(std::move(t)) {}
  const char* what() const noexcept override { return text.c_str(); }
};
}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dt, Device dev) {
  int64_t n = numel_of(shape), es = itemsize(dt);
  if (n > INT64_MAX / es)
    throw AllocError(msg("[empty] cannot allocate a ", dtype_name(dt), " tensor of shape ", shape,
                         ": its size in bytes does not fit in int64"));
  std::shared_ptr<Storage> storage;
  try {
    storage = Storage::allocate(n * es, dev);
  } catch (const std::bad_alloc&) {
    throw AllocError(msg("[empty] out of memory allocating ", n * es, " bytes for a ", dtype_name(dt),
                         " tensor of shape ", shape, " on ", dev.str()));
  }
  return Tensor(std::move(storage), dt, shape, contiguous_strides(shape), 0);
}

bool Tensor::is_contiguous() const {
  int64_t acc = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] == 1) continue;
    if (shape_[i] == 0) return true;
    if (strides_[i] != acc) return false;
    acc *= shape_[i];
  }
  return true;
}

Tensor Tensor::as_strided(const Shape& shape, const Shape& strides, int64_t offset) const {
  LAMINA_CHECK(shape.size() == strides.size(), ValueError, "[as_strided] shape ", shape,
               " and strides ", strides, " differ in length");
  int64_t n = numel_of(shape);
  if (n > 0) {
    // The lowest and highest element touched must lie inside the storage.
    int64_t lo = offset, hi = offset;
    for (size_t i = 0; i < shape.size(); ++i) {
      int64_t span = (shape[i] - 1) * strides[i];
      (span < 0 ? lo : hi) += span;
    }
    int64_t cap = storage_->nbytes() / itemsize(dtype_);
    LAMINA_CHECK(lo >= 0 && hi < cap, IndexError, "[as_strided] view of shape ", shape, " strides ", strides,
                 " offset ", offset, " leaves a storage of ", cap, " elements");
  }
  return Tensor(storage_, dtype_, shape, strides, offset);
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = empty(shape_, dtype_, device());
  copy_into(out, *this);
  return out;
}

Tensor Tensor::view_as_shape(const Shape& shape_in) const {
  Shape shape = infer_shape(shape_in, numel_, "view");
  if (is_contiguous()) return Tensor(storage_, dtype_, shape, contiguous_strides(shape), offset_);
  // Walk the old dims from the innermost, cutting them into chunks whose strides merge;
  // each chunk must be covered exactly by a run of new dims, which inherit its base stride.
  Shape ns(shape.size());
  int64_t vd = int64_t(shape.size()) - 1, base = strides_.back(), tn = 1, vn = 1;
  for (int64_t td = dim() - 1; td >= 0; --td) {
    tn *= shape_[td];
    bool chunk_end = td == 0 || (shape_[td - 1] != 1 && strides_[td - 1] != tn * base);
    if (!chunk_end) continue;
    while (vd >= 0 && (vn < tn || shape[vd] == 1)) {
      ns[vd] = vn * base;
      vn *= shape[vd];
      --vd;
    }
    if (vn != tn)
      fail<ShapeError>("[view] shape ", shape_, " with strides ", strides_, " cannot be viewed as ", shape,
                       " without a copy; use reshape instead");
    if (td > 0) { base = strides_[td - 1]; tn = 1; vn = 1; }
  }
  LAMINA_CHECK(vd == -1, ShapeError, "[view] cannot view shape ", shape_, " as ", shape);
  return Tensor(storage_, dtype_, shape, ns, offset_);
}

Tensor Tensor::reshape(const Shape& shape_in) const {
  Shape shape = infer_shape(shape_in, numel_, "reshape");
  try {
    return view_as_shape(shape);
  } catch (const ShapeError&) {
    return contiguous().view_as_shape(shape);
  }
}

Tensor Tensor::expand(const Shape& shape) const {
  LAMINA_CHECK(shape.size() >= shape_.size(), ShapeError, "[expand] cannot expand shape ", shape_, " to ", shape);
  size_t lead = shape.size() - shape_.size();
  Shape ns(shape.size(), 0), sh(shape);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) { LAMINA_CHECK(shape[i] >= 0, ShapeError, "[expand] cannot expand shape ", shape_, " to ", shape); continue; }
    int64_t s = shape_[i - lead];
    if (shape[i] == -1) sh[i] = s;
    if (sh[i] == s) ns[i] = strides_[i - lead];
    else LAMINA_CHECK(s == 1, ShapeError, "[expand] cannot expand shape ", shape_, " to ", shape,
                      ": size ", s, " at dim ", i - lead, " is not 1");
  }
  return Tensor(storage_, dtype_, sh, ns, offset_);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  LAMINA_CHECK(int64_t(dims.size()) == dim(), ValueError, "[permute] got ", dims.size(),
               " dims for a tensor of shape ", shape_);
  Shape sh(dims.size()), st(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], dim(), "permute");
    LAMINA_CHECK(!seen[d], ValueError, "[permute] repeated dim ", dims[i], " for shape ", shape_);
    seen[d] = true;
    sh[i] = shape_[d];
    st[i] = strides_[d];
  }
  return Tensor(storage_, dtype_, sh, st, offset_);
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  a = wrap_dim(a, dim(), "transpose");
  b = wrap_dim(b, dim(), "transpose");
  Shape sh = shape_, st = strides_;
  std::swap(sh[a], sh[b]);
  std::swap(st[a], st[b]);
  return Tensor(storage_, dtype_, sh, st, offset_);
}

int64_t wrap_dim(int64_t d, int64_t ndim, const char* op) {
  int64_t n = std::max<int64_t>(ndim, 1);
  LAMINA_CHECK(d >= -n && d < n, IndexError, "[", op, "] dimension out of range (expected to be in range of [",
               -n, ", ", n - 1, "], but got ", d, ")");
  return d < 0 ? d + n : d;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t x = i + a.size() >= n ? a[i + a.size() - n] : 1;
    int64_t y = i + b.size() >= n ? b[i + b.size() - n] : 1;
    LAMINA_CHECK(x == y || x == 1 || y == 1, ShapeError, "[", op, "] shapes ", a, " and ", b,
                 " cannot be broadcast together (size ", x, " vs ", y, " at dim ", i, ")");
    out[i] = x == 1 ? y : x;
  }
  return out;
}

Shape infer_shape(const Shape& s, int64_t numel, const char* op) {
  Shape out = s;
  int64_t known = 1, neg = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      LAMINA_CHECK(neg < 0, ValueError, "[", op, "] only one dimension can be inferred in shape ", s);
      neg = int64_t(i);
    } else {
      LAMINA_CHECK(s[i] >= 0, ValueError, "[", op, "] invalid shape ", s);
      known *= s[i];
    }
  }
  if (neg >= 0) {
    LAMINA_CHECK(known != 0 && numel % known == 0, ShapeError, "[", op, "] shape ", s,
                 " is invalid for input of size ", numel);
    out[neg] = numel / known;
  } else {
    LAMINA_CHECK(known == numel, ShapeError, "[", op, "] shape ", s, " is invalid for input of size ", numel);
  }
  return out;
}

}  // namespace lamina

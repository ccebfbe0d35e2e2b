// Tensor: a view (dtype, shape, strides in elements, offset in elements) over shared Storage.
// Views share storage; every view is checked to lie inside its storage when it is made.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "core/errors.h"
#include "core/storage.h"

namespace lamina {

using Shape = std::vector<int64_t>;

int64_t numel_of(const Shape& shape);  // throws ValueError on negative sizes or int64 overflow
Shape contiguous_strides(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<Storage> s, DType dt, Shape shape, Shape strides, int64_t offset);

  // New, uninitialised, contiguous tensor.
  static Tensor empty(const Shape& shape, DType dt, Device dev = {});

  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  int64_t dim() const { return int64_t(shape_.size()); }
  int64_t numel() const { return numel_; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_->device(); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  bool defined() const { return bool(storage_); }
  bool is_contiguous() const;

  char* bytes() const { return static_cast<char*>(storage_->data()) + offset_ * itemsize(dtype_); }
  template <class T> T* data() const { return reinterpret_cast<T*>(bytes()); }

  // A view with new geometry over the same storage; IndexError if it would leave the storage.
  Tensor as_strided(const Shape& shape, const Shape& strides, int64_t offset) const;
  Tensor contiguous() const;  // self when already contiguous
  Tensor view_as_shape(const Shape& shape) const;  // reshape without copy; ShapeError if impossible
  Tensor reshape(const Shape& shape) const;        // view when possible, else a copy
  Tensor expand(const Shape& shape) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t a, int64_t b) const;

  int64_t version() const { return storage_->version(); }
  void bump_version() const { storage_->bump_version(); }

 private:
  std::shared_ptr<Storage> storage_;
  DType dtype_ = DType::Float32;
  Shape shape_, strides_;
  int64_t offset_ = 0;
  int64_t numel_ = 0;
};

// Wraps a possibly negative dim into [0, ndim); IndexError names the op.
int64_t wrap_dim(int64_t d, int64_t ndim, const char* op);
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Shape of `s` after replacing a single -1 by what makes numel match.
Shape infer_shape(const Shape& s, int64_t numel, const char* op);

}  // namespace lamina

namespace lamina {
// Ops without a CUDA kernel yet call this first, so a CUDA tensor never reaches host code.
inline void require_cpu(const Tensor& t, const char* op) {
  LAMINA_CHECK(t.device().is_cpu(), NotImplementedError, "[", op, "] is not implemented on ", t.device().str(), " yet");
}
}  // namespace lamina

#include "ops/copy.h"

#include <cstring>
#include <limits>

#include "core/cuda_runtime.h"
#include "core/iterate.h"
#include "cuda/ops.h"

namespace lamina {

namespace {

template <class D, class S>
inline D convert(S v) {
  if constexpr (std::is_same_v<D, S>) return v;
  else if constexpr (std::is_same_v<S, bf16> || std::is_same_v<S, f16>) return convert<D>(to_float(v));
  else if constexpr (std::is_same_v<D, bf16>) return to_bf16(float(v));
  else if constexpr (std::is_same_v<D, f16>) return to_f16(float(v));
  else if constexpr (std::is_same_v<D, bool>) return v != S(0);
  else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<S>) {
    // Out-of-range float to int is UB in C++; saturate, and send NaN to 0.
    if (!(v == v)) return D(0);
    if (v >= S(std::numeric_limits<D>::max())) return std::numeric_limits<D>::max();
    if (v <= S(std::numeric_limits<D>::lowest())) return std::numeric_limits<D>::lowest();
    return D(v);
  } else return D(v);
}

template <class D, class S>
void cast_row(char* d, int64_t sd, const char* s, int64_t ss, int64_t n) {
  if (sd == sizeof(D) && ss == sizeof(S)) {
    D* dp = reinterpret_cast<D*>(d); const S* sp = reinterpret_cast<const S*>(s);
    for (int64_t i = 0; i < n; ++i) dp[i] = convert<D>(sp[i]);
  } else {
    for (int64_t i = 0; i < n; ++i)
      *reinterpret_cast<D*>(d + i * sd) = convert<D>(*reinterpret_cast<const S*>(s + i * ss));
  }
}

using CastRow = void (*)(char*, int64_t, const char*, int64_t, int64_t);

template <class D>
CastRow cast_from(DType s) {
  switch (s) {
    case DType::Bool: return cast_row<D, bool>;
    case DType::Int32: return cast_row<D, int32_t>;
    case DType::Int64: return cast_row<D, int64_t>;
    case DType::Float16: return cast_row<D, f16>;
    case DType::BFloat16: return cast_row<D, bf16>;
    case DType::Float32: return cast_row<D, float>;
    default: return cast_row<D, double>;
  }
}

CastRow cast_fn(DType d, DType s) {
  switch (d) {
    case DType::Bool: return cast_from<bool>(s);
    case DType::Int32: return cast_from<int32_t>(s);
    case DType::Int64: return cast_from<int64_t>(s);
    case DType::Float16: return cast_from<f16>(s);
    case DType::BFloat16: return cast_from<bf16>(s);
    case DType::Float32: return cast_from<float>(s);
    default: return cast_from<double>(s);
  }
}

void copy_cpu(const Tensor& dst, const Tensor& src) {
  auto L = make_layout<2>(dst.shape(), {&dst.strides(), &src.strides()}, {itemsize(dst.dtype()), itemsize(src.dtype())});
  CastRow fn = cast_fn(dst.dtype(), src.dtype());
  for_each_row<2>(L, {dst.bytes(), src.bytes()}, 1 << 16, [&](std::array<char*, 2> p, std::array<int64_t, 2> st, int64_t n) {
    fn(p[0], st[0], p[1], st[1], n);
  });
}

}  // namespace

void copy_into(const Tensor& dst, const Tensor& src_in) {
  // A source that shares memory with the destination is read in full before any write.
  if (src_in.storage() == dst.storage() && dst.numel() > 0) return copy_into(dst, to(src_in, src_in.dtype(), src_in.device(), true));
  Tensor src = src_in.expand(dst.shape());
  dst.bump_version();
  if (dst.numel() == 0) return;
  Device dd = dst.device(), sd = src.device();
  if (dd.is_cpu() && sd.is_cpu()) return copy_cpu(dst, src);
  // On one GPU a strided, casting kernel does it all, unless it is a plain byte copy.
  const bool plain = src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous() &&
                     src.shape() == src_in.shape();
  if (dd == sd && !plain) return cuda::copy(dst, src);
  // Across devices, contiguous bytes of the destination dtype move: cast and gather on the
  // source's side first, scatter on the destination's side after.
  if (src.dtype() != dst.dtype() || !src.is_contiguous() || src.shape() != src_in.shape())
    return copy_into(dst, to(src, dst.dtype(), sd, true));
  if (!dst.is_contiguous()) {
    Tensor tmp = Tensor::empty(dst.shape(), dst.dtype(), dd);
    copy_into(tmp, src);
    return copy_into(dst, tmp);
  }
  int64_t nbytes = dst.numel() * itemsize(dst.dtype());
  if (dd.is_cuda() && sd.is_cpu()) cuda::memcpy(dst.bytes(), src.bytes(), nbytes, cuda::CopyKind::HostToDevice, dd.index);
  else if (dd.is_cpu() && sd.is_cuda()) cuda::memcpy(dst.bytes(), src.bytes(), nbytes, cuda::CopyKind::DeviceToHost, sd.index);
  else {
    if (sd != dd) cuda::synchronize(sd.index);  // the source device's queued writes land first
    cuda::memcpy(dst.bytes(), src.bytes(), nbytes, cuda::CopyKind::DeviceToDevice, dd.index);
  }
}

Tensor to(const Tensor& src, DType dt, Device dev, bool force_copy) {
  if (!force_copy && src.dtype() == dt && src.device() == dev) return src;
  Tensor out = Tensor::empty(src.shape(), dt, dev);
  copy_into(out, src);
  return out;
}

Tensor cast(const Tensor& src, DType dt) { return to(src, dt, src.device()); }

namespace {
template <int S>
void where_row(std::array<char*, 4> p, std::array<int64_t, 4> st, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    bool c = *reinterpret_cast<const bool*>(p[1] + i * st[1]);
    std::memcpy(p[0] + i * st[0], c ? p[2] + i * st[2] : p[3] + i * st[3], S);
  }
}
}  // namespace

Tensor where(const Tensor& cond_in, const Tensor& a, const Tensor& b) {
  LAMINA_CHECK(a.dtype() == b.dtype(), TypeError, "[where] branches differ in dtype: ", dtype_name(a.dtype()),
               " and ", dtype_name(b.dtype()));
  LAMINA_CHECK(a.device() == b.device() && a.device() == cond_in.device(), RuntimeError,
               "[where] expected all tensors on one device, got ", cond_in.device().str(), ", ", a.device().str(),
               " and ", b.device().str());
  Tensor cond = cast(cond_in, DType::Bool);
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  if (out.device().is_cuda()) {
    cuda::where(out, cond, a, b);
    return out;
  }
  Tensor ce = cond.expand(shape), ae = a.expand(shape), be = b.expand(shape);
  int64_t es = itemsize(a.dtype());
  auto L = make_layout<4>(shape, {&out.strides(), &ce.strides(), &ae.strides(), &be.strides()}, {es, 1, es, es});
  auto fn = es == 1 ? where_row<1> : es == 2 ? where_row<2> : es == 4 ? where_row<4> : where_row<8>;
  for_each_row<4>(L, {out.bytes(), ce.bytes(), ae.bytes(), be.bytes()}, 1 << 16, fn);
  return out;
}

}  // namespace lamina

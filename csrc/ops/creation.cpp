#include "ops/creation.h"

#include <cmath>
#include <cstring>

#include "core/cuda_runtime.h"
#include "core/parallel.h"
#include "ops/copy.h"

namespace lamina {

namespace {

// Writes values v(i) for i in [0, n) into a contiguous tensor of dtype dt.
template <class F>
void fill_indexed(const Tensor& out, const F& v) {
  const int64_t n = out.numel();
  auto run = [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    parallel_for(0, n, 1 << 15, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        double x = v(i);
        if constexpr (std::is_same_v<T, bf16>) p[i] = to_bf16(float(x));
        else if constexpr (std::is_same_v<T, f16>) p[i] = to_f16(float(x));
        else if constexpr (std::is_same_v<T, bool>) p[i] = x != 0;
        else p[i] = T(x);
      }
    });
  };
  switch (out.dtype()) {
    case DType::Bool: run(out.data<bool>()); break;
    case DType::Int32: run(out.data<int32_t>()); break;
    case DType::Int64: run(out.data<int64_t>()); break;
    case DType::Float16: run(out.data<f16>()); break;
    case DType::BFloat16: run(out.data<bf16>()); break;
    case DType::Float32: run(out.data<float>()); break;
    case DType::Float64: run(out.data<double>()); break;
  }
}

// The bit pattern of `value` stored as dtype dt (for the CUDA fill kernel).
uint64_t value_bits(double value, DType dt) {
  Tensor one = Tensor::empty({1}, dt);
  fill_indexed(one, [&](int64_t) { return value; });
  uint64_t bits = 0;
  std::memcpy(&bits, one.bytes(), itemsize(dt));
  return bits;
}

}  // namespace

Tensor full(const Shape& shape, double value, DType dt, Device dev) {
  Tensor out = Tensor::empty(shape, dt, dev);
  if (dev.is_cuda()) {
    cuda::fill(out.bytes(), out.numel(), itemsize(dt), value_bits(value, dt), dev.index);
    return out;
  }
  if (value == 0) std::memset(out.bytes(), 0, size_t(out.numel() * itemsize(dt)));
  else fill_indexed(out, [&](int64_t) { return value; });
  return out;
}

Tensor arange(double start, double end, double step, DType dt) {
  LAMINA_CHECK(step != 0, ValueError, "[arange] step must be nonzero");
  LAMINA_CHECK(std::isfinite(start) && std::isfinite(end), ValueError, "[arange] unsupported range: ", start, " -> ", end);
  LAMINA_CHECK((end - start) / step >= 0 || start == end, ValueError, "[arange] upper bound and step sign are inconsistent: start ",
               start, ", end ", end, ", step ", step);
  double count = std::ceil((end - start) / step);
  LAMINA_CHECK(count < 9.2e18, ValueError, "[arange] too many elements: ", count);
  int64_t n = std::max<int64_t>(0, int64_t(count));
  Tensor out = Tensor::empty({n}, dt);
  fill_indexed(out, [&](int64_t i) { return start + double(i) * step; });
  return out;
}

Tensor linspace(double start, double end, int64_t steps, DType dt) {
  LAMINA_CHECK(steps >= 0, ValueError, "[linspace] number of steps must be non-negative, got ", steps);
  Tensor out = Tensor::empty({steps}, dt);
  double step = steps > 1 ? (end - start) / double(steps - 1) : 0;
  // Fill from both ends so the last element is exactly `end`, as PyTorch does; a single
  // step is `start`.
  int64_t half = steps / 2;
  fill_indexed(out, [&](int64_t i) {
    if (steps == 1) return start;
    return i < half ? start + step * double(i) : end - step * double(steps - 1 - i);
  });
  return out;
}

Tensor eye(int64_t n, int64_t m, DType dt) {
  LAMINA_CHECK(n >= 0 && m >= 0, ValueError, "[eye] sizes must be non-negative, got n=", n, ", m=", m);
  Tensor out = Tensor::empty({n, m}, dt);
  fill_indexed(out, [&](int64_t i) { return (m && i / m == i % m) ? 1.0 : 0.0; });
  return out;
}

Tensor random(const Shape& shape, Distribution dist, double a, double b, DType dt, Generator& gen) {
  Tensor out = Tensor::empty(shape, dt);
  const int64_t n = out.numel();
  if (dist == Distribution::Integer)
    LAMINA_CHECK(b > a, ValueError, "[randint] expects low < high, got low=", a, ", high=", b);
  if (dist == Distribution::Normal) LAMINA_CHECK(b >= 0, ValueError, "[normal] std must be non-negative, got ", b);
  // One Philox call yields 4 words: two doubles' worth of 53-bit mantissas.
  auto [seed, base] = gen.reserve(uint64_t((n + 1) / 2));
  const double range = b - a;
  auto u01 = [](uint32_t hi, uint32_t lo) {  // uniform in [0, 1) with 53 random bits
    return double((uint64_t(hi) << 21) ^ (lo >> 11)) * (1.0 / 9007199254740992.0);
  };
  fill_indexed(out, [&](int64_t i) {
    auto w = philox(seed, 0, base + uint64_t(i / 2));
    int64_t j = i % 2;
    double u = u01(w[2 * j], w[2 * j + 1]);
    switch (dist) {
      case Distribution::Uniform: {
        double v = a + range * u;
        return v < b ? v : a;  // rounding could reach b; keep the interval half-open
      }
      case Distribution::Integer: return std::floor(a + range * u);
      default: {
        // Box-Muller on the pair (u of this element, u of its partner).
        double u1 = u01(w[0], w[1]), u2 = u01(w[2], w[3]);
        double r = std::sqrt(-2.0 * std::log1p(-u1));
        double t = 6.283185307179586 * u2;
        return a + b * r * (j ? std::sin(t) : std::cos(t));
      }
    }
  });
  return out;
}

Tensor triangle(const Tensor& x_in, int64_t k, bool upper) {
  const char* name = upper ? "triu" : "tril";
  LAMINA_CHECK(x_in.dim() >= 2, ValueError, "[", name, "] input must have at least 2 dimensions, got shape ", x_in.shape());
  require_cpu(x_in, name);
  Tensor out = to(x_in, x_in.dtype(), x_in.device(), true);
  int64_t R = x_in.shape()[x_in.dim() - 2], C = x_in.shape()[x_in.dim() - 1], es = itemsize(x_in.dtype());
  int64_t mats = (R * C) != 0 ? out.numel() / (R * C) : 0;
  char* p = out.bytes();
  parallel_for(0, mats * R, 1 << 12, [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {
      int64_t i = row % R;
      char* rp = p + row * C * es;
      // tril keeps j <= i + k; triu keeps j >= i + k.
      int64_t keep_lo = upper ? std::max<int64_t>(0, std::min<int64_t>(C, i + k)) : 0;
      int64_t keep_hi = upper ? C : std::max<int64_t>(0, std::min<int64_t>(C, i + k + 1));
      std::memset(rp, 0, size_t(keep_lo * es));
      std::memset(rp + keep_hi * es, 0, size_t((C - keep_hi) * es));
    }
  });
  return out;
}

}  // namespace lamina

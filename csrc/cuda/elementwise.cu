// Elementwise kernels: binary and unary ops (the gradient helpers included), casting copies
// and where, over strided and broadcast operands through OffsetCalc. One kernel template per
// arity; each op is a small functor instantiated only for the dtypes the CPU table has
// (cpu/elementwise_kernels.cpp), so both backends accept and refuse the same inputs.
#include <cmath>

#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace lamina::cuda {

namespace {

template <class T> constexpr bool is_fp = std::is_floating_point_v<T>;

template <class T> __device__ __forceinline__ T dsigmoid(T x) { return T(1) / (T(1) + exp(-x)); }

// ---- binary ops (same semantics as the CPU functors: Python's floor division and modulo,
// NaN-propagating maximum/minimum, wrapping integer pow).
struct Add { template <class T> __device__ T operator()(T a, T b) const { if constexpr (std::is_same_v<T, bool>) return a || b; else return T(a + b); } };
struct Sub { template <class T> __device__ T operator()(T a, T b) const { return T(a - b); } };
struct Mul { template <class T> __device__ T operator()(T a, T b) const { if constexpr (std::is_same_v<T, bool>) return a && b; else return T(a * b); } };
struct Div { template <class T> __device__ T operator()(T a, T b) const { return a / b; } };
struct FloorDiv {
  template <class T> __device__ T operator()(T a, T b) const {
    if constexpr (is_fp<T>) {
      if (b == T(0)) return a / b;
      T mod = fmod(a, b);
      T div = (a - mod) / b;
      if (mod != T(0) && ((b < T(0)) != (mod < T(0)))) div -= T(1);
      if (div == T(0)) return copysign(T(0), a / b);
      T fl = floor(div);
      return div - fl > T(0.5) ? fl + T(1) : fl;
    } else {
      if (b == T(-1)) return T(0) - a;
      T q = a / b;
      return (a % b != 0 && ((a < 0) != (b < 0))) ? T(q - 1) : q;
    }
  }
};
struct Mod {
  template <class T> __device__ T operator()(T a, T b) const {
    if constexpr (is_fp<T>) {
      T r = fmod(a, b);
      return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
    } else {
      if (b == T(-1)) return T(0);
      T r = a % b;
      return (r != 0 && ((r < 0) != (b < 0))) ? T(r + b) : r;
    }
  }
};
struct Pow {
  template <class T> __device__ T operator()(T a, T b) const {
    if constexpr (is_fp<T>) return pow(a, b);
    else {
      if (b < 0) return a == 1 ? T(1) : a == T(-1) ? ((b & 1) ? T(-1) : T(1)) : T(0);
      using U = std::make_unsigned_t<T>;
      U r = 1, x = U(a);
      for (T e = b; e; e >>= 1) { if (e & 1) r *= x; x *= x; }
      return T(r);
    }
  }
};
struct Maximum { template <class T> __device__ T operator()(T a, T b) const { if constexpr (is_fp<T>) { if (a != a) return a; if (b != b) return b; } return a > b ? a : b; } };
struct Minimum { template <class T> __device__ T operator()(T a, T b) const { if constexpr (is_fp<T>) { if (a != a) return a; if (b != b) return b; } return a < b ? a : b; } };
struct Atan2 { template <class T> __device__ T operator()(T a, T b) const { return atan2(a, b); } };
// The six comparisons share one kernel per dtype, and the three bitwise ops another: the op
// is a uniform branch, and nvcc compiles (per architecture) a fifth of the kernels.
struct Compare {
  Params p;  // v[0]: the BinaryOp
  template <class T> __device__ bool operator()(T a, T b) const {
    switch (cpu::BinaryOp(int(p.v[0]))) {
      case cpu::BinaryOp::Eq: return a == b;
      case cpu::BinaryOp::Ne: return a != b;
      case cpu::BinaryOp::Lt: return a < b;
      case cpu::BinaryOp::Le: return a <= b;
      case cpu::BinaryOp::Gt: return a > b;
      default: return a >= b;
    }
  }
};
struct Bitwise {
  Params p;  // v[0]: the BinaryOp
  template <class T> __device__ T operator()(T a, T b) const {
    switch (cpu::BinaryOp(int(p.v[0]))) {
      case cpu::BinaryOp::And: return T(a & b);
      case cpu::BinaryOp::Or: return T(a | b);
      default: return T(a ^ b);
    }
  }
};

struct ReluGrad { template <class T> __device__ T operator()(T x, T g) const { return x > 0 ? g : T(0); } };
struct GeluGrad {
  template <class T> __device__ T operator()(T x, T g) const {
    T cdf = T(0.5) * erfc(x * T(-0.70710678118654752440));
    T pdf = exp(T(-0.5) * x * x) * T(0.39894228040143267794);
    return g * (cdf + x * pdf);
  }
};
struct GeluTanhGrad {
  template <class T> __device__ T operator()(T x, T g) const {
    const T k = T(0.79788456080286535588), c = T(0.044715);
    T s = dsigmoid(T(2) * k * (x + c * x * x * x));
    T dinner = k * (T(1) + T(3) * c * x * x);
    return g * (s + T(2) * x * s * (T(1) - s) * dinner);
  }
};
struct SiluGrad { template <class T> __device__ T operator()(T x, T g) const { T s = dsigmoid(x); return g * s * (T(1) + x * (T(1) - s)); } };
struct SoftplusGrad {
  Params p;
  template <class T> __device__ T operator()(T x, T g) const {
    T beta = T(p.v[0]), thr = T(p.v[1]);
    return x * beta > thr ? g : g * dsigmoid(x * beta);
  }
};
struct SigmoidGradFromOut { template <class T> __device__ T operator()(T y, T g) const { return g * y * (T(1) - y); } };
struct TanhGradFromOut { template <class T> __device__ T operator()(T y, T g) const { return g * (T(1) - y * y); } };

// ---- unary ops
struct Neg { template <class T> __device__ T operator()(T a) const { if constexpr (std::is_same_v<T, bool>) return a; else return T(T(0) - a); } };
struct Abs { template <class T> __device__ T operator()(T a) const { if constexpr (is_fp<T>) return fabs(a); else return a < 0 ? T(T(0) - a) : a; } };
struct Sign { template <class T> __device__ T operator()(T a) const { if constexpr (is_fp<T>) { if (a != a) return a; } return T((a > T(0)) - (a < T(0))); } };
struct Exp { template <class T> __device__ T operator()(T a) const { return exp(a); } };
struct Expm1 { template <class T> __device__ T operator()(T a) const { return expm1(a); } };
struct Log { template <class T> __device__ T operator()(T a) const { return log(a); } };
struct Log1p { template <class T> __device__ T operator()(T a) const { return log1p(a); } };
struct Log2 { template <class T> __device__ T operator()(T a) const { return log2(a); } };
struct Sqrt { template <class T> __device__ T operator()(T a) const { return sqrt(a); } };
struct Rsqrt { template <class T> __device__ T operator()(T a) const { return T(1) / sqrt(a); } };
struct Reciprocal { template <class T> __device__ T operator()(T a) const { return T(1) / a; } };
struct Square { template <class T> __device__ T operator()(T a) const { return T(a * a); } };
struct Sin { template <class T> __device__ T operator()(T a) const { return sin(a); } };
struct Cos { template <class T> __device__ T operator()(T a) const { return cos(a); } };
struct Tanh { template <class T> __device__ T operator()(T a) const { return tanh(a); } };
struct Sigmoid { template <class T> __device__ T operator()(T a) const { return dsigmoid(a); } };
struct Relu { template <class T> __device__ T operator()(T a) const { return a > T(0) ? a : (a != a ? a : T(0)); } };
struct Gelu { template <class T> __device__ T operator()(T x) const { return T(0.5) * x * erfc(x * T(-0.70710678118654752440)); } };
struct GeluTanh {
  template <class T> __device__ T operator()(T x) const {
    return x * dsigmoid(T(2) * T(0.79788456080286535588) * (x + T(0.044715) * x * x * x));
  }
};
struct Silu { template <class T> __device__ T operator()(T x) const { return x * dsigmoid(x); } };
struct Softplus {
  Params p;
  template <class T> __device__ T operator()(T x) const {
    T beta = T(p.v[0]), thr = T(p.v[1]), bx = x * beta;
    return bx > thr ? x : log1p(exp(bx)) / beta;
  }
};
struct LeakyRelu { Params p; template <class T> __device__ T operator()(T x) const { return x > 0 ? x : x * T(p.v[0]); } };
struct Erf { template <class T> __device__ T operator()(T x) const { return erf(x); } };
struct Floor { template <class T> __device__ T operator()(T a) const { if constexpr (is_fp<T>) return floor(a); else return a; } };
struct Ceil { template <class T> __device__ T operator()(T a) const { if constexpr (is_fp<T>) return ceil(a); else return a; } };
struct Round { template <class T> __device__ T operator()(T a) const { if constexpr (is_fp<T>) return rint(a); else return a; } };
struct Trunc { template <class T> __device__ T operator()(T a) const { if constexpr (is_fp<T>) return trunc(a); else return a; } };
struct Not { template <class T> __device__ T operator()(T a) const { if constexpr (std::is_same_v<T, bool>) return !a; else return T(~a); } };
struct Clamp {
  Params p;  // {has_min, min, has_max, max}
  template <class T> __device__ T operator()(T a) const {
    T r = a;
    if (p.v[0] != 0 && r < T(p.v[1])) r = T(p.v[1]);
    if (p.v[2] != 0 && r > T(p.v[3])) r = T(p.v[3]);
    return r;
  }
};
struct PowScalar { Params p; template <class T> __device__ T operator()(T a) const { return pow(a, T(p.v[0])); } };
struct AddScalar { Params p; template <class T> __device__ T operator()(T a) const { return T(a + T(p.v[0])); } };
struct MulScalar { Params p; template <class T> __device__ T operator()(T a) const { return T(a * T(p.v[0])); } };

template <class T, class = void> struct has_params : std::false_type {};
template <class T> struct has_params<T, std::void_t<decltype(std::declval<T>().p)>> : std::true_type {};
template <class Op> Op make_op(const Params& p) {
  if constexpr (has_params<Op>::value) return Op{p}; else return Op{};
}

Params params_of(const std::vector<double>& v) {
  Params p;
  for (size_t i = 0; i < v.size() && i < 4; ++i) p.v[i] = v[i];
  return p;
}

template <class T> __device__ __forceinline__ T load(const char* p) { return *reinterpret_cast<const T*>(p); }
template <class T> __device__ __forceinline__ void store(char* p, T v) { *reinterpret_cast<T*>(p) = v; }

template <class Op, class T, class O>
__global__ void binary_kernel(int64_t n, OffsetCalc<3> calc, char* out, const char* a, const char* b, Op op) {
  LAMINA_GRID_STRIDE(i, n) {
    int64_t o[3];
    calc.get(i, o);
    store<O>(out + o[0], O(op(load<T>(a + o[1]), load<T>(b + o[2]))));
  }
}

template <class Op, class T>
__global__ void unary_kernel(int64_t n, OffsetCalc<2> calc, char* out, const char* a, Op op) {
  LAMINA_GRID_STRIDE(i, n) {
    int64_t o[2];
    calc.get(i, o);
    store<T>(out + o[0], op(load<T>(a + o[1])));
  }
}

// Dtype families an op is defined for, as in the CPU table.
enum : unsigned { kF = 1, kI = 2, kB = 4, kCmp = 8 };

template <unsigned Kinds, class T>
constexpr bool supports() {
  if constexpr (std::is_same_v<T, bool>) return (Kinds & kB) != 0;
  else if constexpr (std::is_integral_v<T>) return (Kinds & kI) != 0;
  else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) return (Kinds & kF) != 0;
  else return false;  // 16-bit floats compute in float32 (ops/elementwise.cpp casts them)
}

template <class Op, unsigned Kinds>
void launch_binary(const char* name, const Tensor& out, const Tensor& a, const Tensor& b, const Params& p) {
  const int dev = out.device().index;
  visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (supports<Kinds, T>()) {
      using O = std::conditional_t<(Kinds & kCmp) != 0, bool, T>;
      auto calc = make_offset_calc<3>(out.shape(), {&out.strides(), &a.strides(), &b.strides()},
                                      {int64_t(sizeof(O)), int64_t(sizeof(T)), int64_t(sizeof(T))}, name);
      const int64_t n = out.numel();
      binary_kernel<Op, T, O><<<blocks_for(n), kThreads, 0, stream(dev)>>>(n, calc, out.bytes(), a.bytes(), b.bytes(),
                                                                          make_op<Op>(p));
      LAMINA_CUDA_CHECK(name, dev);
    } else {
      fail<TypeError>("[", name, "] not implemented for ", dtype_name(a.dtype()), " on CUDA");
    }
  });
}

template <class Op, unsigned Kinds>
void launch_unary(const char* name, const Tensor& out, const Tensor& a, const Params& p) {
  const int dev = out.device().index;
  visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (supports<Kinds, T>()) {
      auto calc = make_offset_calc<2>(out.shape(), {&out.strides(), &a.strides()},
                                      {int64_t(sizeof(T)), int64_t(sizeof(T))}, name);
      const int64_t n = out.numel();
      unary_kernel<Op, T><<<blocks_for(n), kThreads, 0, stream(dev)>>>(n, calc, out.bytes(), a.bytes(), make_op<Op>(p));
      LAMINA_CUDA_CHECK(name, dev);
    } else {
      fail<TypeError>("[", name, "] not implemented for ", dtype_name(a.dtype()), " on CUDA");
    }
  });
}

// Reads one element of any dtype at p and converts it to D.
template <class D>
__device__ __forceinline__ D load_as(const char* p, DType s) {
  switch (s) {
    case DType::Bool: return convert<D>(load<bool>(p));
    case DType::Int32: return convert<D>(load<int32_t>(p));
    case DType::Int64: return convert<D>(load<int64_t>(p));
    case DType::Float16: return convert<D>(load<__half>(p));
    case DType::BFloat16: return convert<D>(load<__nv_bfloat16>(p));
    case DType::Float32: return convert<D>(load<float>(p));
    default: return convert<D>(load<double>(p));
  }
}

// One instantiation per destination type; the source type is a uniform branch per element,
// which costs nothing next to the memory traffic and saves 42 instantiations per architecture.
template <class D>
__global__ void cast_kernel(int64_t n, OffsetCalc<2> calc, char* dst, const char* src, DType s) {
  LAMINA_GRID_STRIDE(i, n) {
    int64_t o[2];
    calc.get(i, o);
    store<D>(dst + o[0], load_as<D>(src + o[1], s));
  }
}

template <int S>
struct Bytes { alignas(S) unsigned char b[S]; };

template <int S>
__global__ void where_kernel(int64_t n, OffsetCalc<4> calc, char* out, const char* c, const char* a, const char* b) {
  LAMINA_GRID_STRIDE(i, n) {
    int64_t o[4];
    calc.get(i, o);
    store<Bytes<S>>(out + o[0], load<bool>(c + o[1]) ? load<Bytes<S>>(a + o[2]) : load<Bytes<S>>(b + o[3]));
  }
}

}  // namespace

void binary(cpu::BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, const std::vector<double>& params) {
  if (out.numel() == 0) return;
  set_device(out.device().index);
  const Params p = params_of(params);
  using BO = cpu::BinaryOp;
  constexpr unsigned FI = kF | kI, FIB = kF | kI | kB, IB = kI | kB, CMP = kF | kI | kB | kCmp;
  switch (op) {
    case BO::Add: return launch_binary<Add, FIB>("add_kernel", out, a, b, p);
    case BO::Sub: return launch_binary<Sub, FI>("sub_kernel", out, a, b, p);
    case BO::Mul: return launch_binary<Mul, FIB>("mul_kernel", out, a, b, p);
    case BO::Div: return launch_binary<Div, kF>("div_kernel", out, a, b, p);
    case BO::FloorDiv: return launch_binary<FloorDiv, FI>("floor_divide_kernel", out, a, b, p);
    case BO::Mod: return launch_binary<Mod, FI>("remainder_kernel", out, a, b, p);
    case BO::Pow: return launch_binary<Pow, FI>("pow_kernel", out, a, b, p);
    case BO::Maximum: return launch_binary<Maximum, FIB>("maximum_kernel", out, a, b, p);
    case BO::Minimum: return launch_binary<Minimum, FIB>("minimum_kernel", out, a, b, p);
    case BO::Atan2: return launch_binary<Atan2, kF>("atan2_kernel", out, a, b, p);
    case BO::Eq: case BO::Ne: case BO::Lt: case BO::Le: case BO::Gt: case BO::Ge:
      return launch_binary<Compare, CMP>("compare_kernel", out, a, b, Params{{double(int(op))}});
    case BO::And: case BO::Or: case BO::Xor:
      return launch_binary<Bitwise, IB>("bitwise_kernel", out, a, b, Params{{double(int(op))}});
    case BO::ReluGrad: return launch_binary<ReluGrad, kF>("relu_backward_kernel", out, a, b, p);
    case BO::GeluGrad: return launch_binary<GeluGrad, kF>("gelu_backward_kernel", out, a, b, p);
    case BO::GeluTanhGrad: return launch_binary<GeluTanhGrad, kF>("gelu_tanh_backward_kernel", out, a, b, p);
    case BO::SiluGrad: return launch_binary<SiluGrad, kF>("silu_backward_kernel", out, a, b, p);
    case BO::SoftplusGrad: return launch_binary<SoftplusGrad, kF>("softplus_backward_kernel", out, a, b, p);
    case BO::SigmoidGradFromOut: return launch_binary<SigmoidGradFromOut, kF>("sigmoid_backward_kernel", out, a, b, p);
    case BO::TanhGradFromOut: return launch_binary<TanhGradFromOut, kF>("tanh_backward_kernel", out, a, b, p);
    default: fail<NotImplementedError>("[cuda] binary op ", int(op), " has no CUDA kernel");
  }
}

void unary(cpu::UnaryOp op, const Tensor& out, const Tensor& a, const std::vector<double>& params) {
  if (out.numel() == 0) return;
  set_device(out.device().index);
  const Params p = params_of(params);
  using UO = cpu::UnaryOp;
  constexpr unsigned FI = kF | kI;
  switch (op) {
    case UO::Neg: return launch_unary<Neg, FI>("neg_kernel", out, a, p);
    case UO::Abs: return launch_unary<Abs, FI>("abs_kernel", out, a, p);
    case UO::Sign: return launch_unary<Sign, FI>("sign_kernel", out, a, p);
    case UO::Exp: return launch_unary<Exp, kF>("exp_kernel", out, a, p);
    case UO::Expm1: return launch_unary<Expm1, kF>("expm1_kernel", out, a, p);
    case UO::Log: return launch_unary<Log, kF>("log_kernel", out, a, p);
    case UO::Log1p: return launch_unary<Log1p, kF>("log1p_kernel", out, a, p);
    case UO::Log2: return launch_unary<Log2, kF>("log2_kernel", out, a, p);
    case UO::Sqrt: return launch_unary<Sqrt, kF>("sqrt_kernel", out, a, p);
    case UO::Rsqrt: return launch_unary<Rsqrt, kF>("rsqrt_kernel", out, a, p);
    case UO::Reciprocal: return launch_unary<Reciprocal, kF>("reciprocal_kernel", out, a, p);
    case UO::Square: return launch_unary<Square, FI>("square_kernel", out, a, p);
    case UO::Sin: return launch_unary<Sin, kF>("sin_kernel", out, a, p);
    case UO::Cos: return launch_unary<Cos, kF>("cos_kernel", out, a, p);
    case UO::Tanh: return launch_unary<Tanh, kF>("tanh_kernel", out, a, p);
    case UO::Sigmoid: return launch_unary<Sigmoid, kF>("sigmoid_kernel", out, a, p);
    case UO::Relu: return launch_unary<Relu, FI>("relu_kernel", out, a, p);
    case UO::Gelu: return launch_unary<Gelu, kF>("gelu_kernel", out, a, p);
    case UO::GeluTanh: return launch_unary<GeluTanh, kF>("gelu_tanh_kernel", out, a, p);
    case UO::Silu: return launch_unary<Silu, kF>("silu_kernel", out, a, p);
    case UO::Softplus: return launch_unary<Softplus, kF>("softplus_kernel", out, a, p);
    case UO::LeakyRelu: return launch_unary<LeakyRelu, kF>("leaky_relu_kernel", out, a, p);
    case UO::Erf: return launch_unary<Erf, kF>("erf_kernel", out, a, p);
    case UO::Floor: return launch_unary<Floor, FI>("floor_kernel", out, a, p);
    case UO::Ceil: return launch_unary<Ceil, FI>("ceil_kernel", out, a, p);
    case UO::Round: return launch_unary<Round, FI>("round_kernel", out, a, p);
    case UO::Trunc: return launch_unary<Trunc, FI>("trunc_kernel", out, a, p);
    case UO::Not: return launch_unary<Not, kI | kB>("bitwise_not_kernel", out, a, p);
    case UO::Clamp: return launch_unary<Clamp, FI>("clamp_kernel", out, a, p);
    case UO::PowScalar: return launch_unary<PowScalar, kF>("pow_scalar_kernel", out, a, p);
    case UO::AddScalar: return launch_unary<AddScalar, kF>("add_scalar_kernel", out, a, p);
    case UO::MulScalar: return launch_unary<MulScalar, kF>("mul_scalar_kernel", out, a, p);
    default: fail<NotImplementedError>("[cuda] unary op ", int(op), " has no CUDA kernel");
  }
}

void copy(const Tensor& dst, const Tensor& src_in) {
  if (dst.numel() == 0) return;
  const int dev = dst.device().index;
  set_device(dev);
  Tensor src = src_in.expand(dst.shape());
  auto calc = make_offset_calc<2>(dst.shape(), {&dst.strides(), &src.strides()},
                                  {itemsize(dst.dtype()), itemsize(src.dtype())}, "copy");
  const int64_t n = dst.numel();
  visit_dtype(dst.dtype(), [&](auto tag) {
    using D = decltype(tag);
    cast_kernel<D><<<blocks_for(n), kThreads, 0, stream(dev)>>>(n, calc, dst.bytes(), src.bytes(), src.dtype());
    LAMINA_CUDA_CHECK("cast_kernel", dev);
  });
}

void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  if (out.numel() == 0) return;
  const int dev = out.device().index;
  set_device(dev);
  const int64_t es = itemsize(out.dtype()), n = out.numel();
  Tensor ce = cond.expand(out.shape()), ae = a.expand(out.shape()), be = b.expand(out.shape());
  auto calc = make_offset_calc<4>(out.shape(), {&out.strides(), &ce.strides(), &ae.strides(), &be.strides()},
                                  {es, 1, es, es}, "where");
  auto go = [&](auto kernel) {
    kernel<<<blocks_for(n), kThreads, 0, stream(dev)>>>(n, calc, out.bytes(), ce.bytes(), ae.bytes(), be.bytes());
    LAMINA_CUDA_CHECK("where_kernel", dev);
  };
  if (es == 1) go(where_kernel<1>);
  else if (es == 2) go(where_kernel<2>);
  else if (es == 4) go(where_kernel<4>);
  else go(where_kernel<8>);
}

}  // namespace lamina::cuda

// Elementwise inner loops, compiled once per ISA (CMake sets LAMINA_ISA and the -m flags).
// Each loop takes byte strides; the unit-stride and broadcast-scalar cases get their own
// plain loops so the compiler vectorises them. Integer division and modulo never see a zero
// divisor here: ops/elementwise.cpp rejects it first.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "cpu/kernels.h"

// Everything here lives in a namespace named after the ISA: inline helpers compiled with
// different -m flags must never be merged by the linker.
namespace lamina::cpu::LAMINA_ISA {
#include "cpu/fast_math.h"
namespace {

template <class T> constexpr bool is_fp = std::is_floating_point_v<T>;

// ---- binary ops: operator()(a, b) -> result; P holds the params pointer when needed.
struct Add { template <class T> T operator()(T a, T b) const { if constexpr (std::is_same_v<T, bool>) return a || b; else return T(a + b); } };
struct Sub { template <class T> T operator()(T a, T b) const { return T(a - b); } };
struct Mul { template <class T> T operator()(T a, T b) const { if constexpr (std::is_same_v<T, bool>) return a && b; else return T(a * b); } };
struct Div { template <class T> T operator()(T a, T b) const { return a / b; } };
struct FloorDiv {
  template <class T> T operator()(T a, T b) const {
    if constexpr (is_fp<T>) {
      // Python's rule (and PyTorch's): the quotient that pairs with the floored remainder, so
      // 1.0 // 0.1 == 9, -3 // inf == -1 and inf // 2 is NaN; floor(a / b) gets all three wrong.
      if (b == T(0)) return a / b;
      T mod = std::fmod(a, b);
      T div = (a - mod) / b;
      if (mod != T(0) && ((b < T(0)) != (mod < T(0)))) div -= T(1);
      if (div == T(0)) return std::copysign(T(0), a / b);
      T fl = std::floor(div);
      return div - fl > T(0.5) ? fl + T(1) : fl;
    } else {
      if (b == T(-1)) return T(0) - a;  // avoids INT_MIN / -1 overflow trap
      T q = a / b;
      return (a % b != 0 && ((a < 0) != (b < 0))) ? T(q - 1) : q;
    }
  }
};
struct Mod {
  template <class T> T operator()(T a, T b) const {
    if constexpr (is_fp<T>) {
      T r = std::fmod(a, b);
      return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
    } else {
      if (b == T(-1)) return T(0);
      T r = a % b;
      return (r != 0 && ((r < 0) != (b < 0))) ? T(r + b) : r;
    }
  }
};
struct Pow {
  template <class T> T operator()(T a, T b) const {
    if constexpr (is_fp<T>) return std::pow(a, b);
    else {
      if (b < 0) return a == 1 ? T(1) : a == T(-1) ? ((b & 1) ? T(-1) : T(1)) : T(0);
      using U = std::make_unsigned_t<T>;  // wrap like C on overflow, without UB
      U r = 1, x = U(a);
      for (T e = b; e; e >>= 1) { if (e & 1) r *= x; x *= x; }
      return T(r);
    }
  }
};
struct Maximum { template <class T> T operator()(T a, T b) const { if constexpr (is_fp<T>) { if (a != a) return a; if (b != b) return b; } return a > b ? a : b; } };
struct Minimum { template <class T> T operator()(T a, T b) const { if constexpr (is_fp<T>) { if (a != a) return a; if (b != b) return b; } return a < b ? a : b; } };
struct Atan2 { template <class T> T operator()(T a, T b) const { return std::atan2(a, b); } };
struct Eq { template <class T> bool operator()(T a, T b) const { return a == b; } };
struct Ne { template <class T> bool operator()(T a, T b) const { return a != b; } };
struct Lt { template <class T> bool operator()(T a, T b) const { return a < b; } };
struct Le { template <class T> bool operator()(T a, T b) const { return a <= b; } };
struct Gt { template <class T> bool operator()(T a, T b) const { return a > b; } };
struct Ge { template <class T> bool operator()(T a, T b) const { return a >= b; } };
struct And { template <class T> T operator()(T a, T b) const { return T(a & b); } };
struct Or { template <class T> T operator()(T a, T b) const { return T(a | b); } };
struct Xor { template <class T> T operator()(T a, T b) const { return T(a ^ b); } };

struct ReluGrad { template <class T> T operator()(T x, T g) const { return x > 0 ? g : T(0); } };
struct GeluGrad {
  template <class T> T operator()(T x, T g) const {
    T cdf = T(0.5) * verfc(x * T(-0.70710678118654752440));  // 1 + erf(v) cancels for v << 0
    T pdf = vexp(T(-0.5) * x * x) * T(0.39894228040143267794);
    return g * (cdf + x * pdf);
  }
};
struct GeluTanhGrad {
  template <class T> T operator()(T x, T g) const {
    const T k = T(0.79788456080286535588), c = T(0.044715);
    // With s = sigmoid(2u) = (1 + tanh(u)) / 2, and 1 - tanh(u)^2 = 4 s (1 - s): no cancellation for x << 0.
    T s = vsigmoid(T(2) * k * (x + c * x * x * x));
    T dinner = k * (T(1) + T(3) * c * x * x);
    return g * (s + T(2) * x * s * (T(1) - s) * dinner);
  }
};
struct SiluGrad {
  template <class T> T operator()(T x, T g) const { T s = vsigmoid(x); return g * s * (T(1) + x * (T(1) - s)); }
};
struct SoftplusGrad {
  const double* p;
  template <class T> T operator()(T x, T g) const {
    T beta = T(p[0]), thr = T(p[1]);
    return x * beta > thr ? g : g * vsigmoid(x * beta);
  }
};
struct SigmoidGradFromOut { template <class T> T operator()(T y, T g) const { return g * y * (T(1) - y); } };
struct TanhGradFromOut { template <class T> T operator()(T y, T g) const { return g * (T(1) - y * y); } };

// ---- unary ops
struct Neg { template <class T> T operator()(T a) const { if constexpr (std::is_same_v<T, bool>) return a; else return T(T(0) - a); } };
struct Abs { template <class T> T operator()(T a) const { if constexpr (is_fp<T>) return std::fabs(a); else return a < 0 ? T(T(0) - a) : a; } };
struct Sign { template <class T> T operator()(T a) const { if constexpr (is_fp<T>) { if (a != a) return a; } return T((a > T(0)) - (a < T(0))); } };
struct Exp { template <class T> T operator()(T a) const { return vexp(a); } };
struct Expm1 { template <class T> T operator()(T a) const { return vexpm1(a); } };
struct Log { template <class T> T operator()(T a) const { return vlog(a); } };
struct Log1p { template <class T> T operator()(T a) const { return std::log1p(a); } };
struct Log2 { template <class T> T operator()(T a) const { return vlog(a) * T(1.44269504088896340736); } };
struct Sqrt { template <class T> T operator()(T a) const { return std::sqrt(a); } };
struct Rsqrt { template <class T> T operator()(T a) const { return T(1) / std::sqrt(a); } };
struct Reciprocal { template <class T> T operator()(T a) const { return T(1) / a; } };
struct Square { template <class T> T operator()(T a) const { return T(a * a); } };
struct Sin { template <class T> T operator()(T a) const { return std::sin(a); } };
struct Cos { template <class T> T operator()(T a) const { return std::cos(a); } };
struct Tanh { template <class T> T operator()(T a) const { return vtanh(a); } };
struct Sigmoid { template <class T> T operator()(T a) const { return vsigmoid(a); } };
struct Relu { template <class T> T operator()(T a) const { return a > T(0) ? a : (a != a ? a : T(0)); } };
// x * Phi(x) with Phi written through erfc: 1 + erf(v) loses every digit to cancellation for v << 0.
struct Gelu { template <class T> T operator()(T x) const { return T(0.5) * x * verfc(x * T(-0.70710678118654752440)); } };
// 0.5 x (1 + tanh(u)) == x sigmoid(2u), which keeps its relative accuracy for x << 0.
struct GeluTanh {
  template <class T> T operator()(T x) const {
    return x * vsigmoid(T(2) * T(0.79788456080286535588) * (x + T(0.044715) * x * x * x));
  }
};
struct Silu { template <class T> T operator()(T x) const { return x * vsigmoid(x); } };
struct Softplus {
  const double* p;
  template <class T> T operator()(T x) const {
    T beta = T(p[0]), thr = T(p[1]), bx = x * beta;
    return bx > thr ? x : std::log1p(vexp(bx)) / beta;
  }
};
struct LeakyRelu { const double* p; template <class T> T operator()(T x) const { return x > 0 ? x : x * T(p[0]); } };
struct Erf { template <class T> T operator()(T x) const { return verf(x); } };
struct Floor { template <class T> T operator()(T a) const { if constexpr (is_fp<T>) return std::floor(a); else return a; } };
struct Ceil { template <class T> T operator()(T a) const { if constexpr (is_fp<T>) return std::ceil(a); else return a; } };
struct Round { template <class T> T operator()(T a) const { if constexpr (is_fp<T>) return std::nearbyint(a); else return a; } };
struct Trunc { template <class T> T operator()(T a) const { if constexpr (is_fp<T>) return std::trunc(a); else return a; } };
struct Not { template <class T> T operator()(T a) const { if constexpr (std::is_same_v<T, bool>) return !a; else return T(~a); } };
// params: {has_min, min, has_max, max}; NaN passes through like PyTorch.
struct Clamp {
  const double* p;
  template <class T> T operator()(T a) const {
    T r = a;
    if (p[0] != 0 && r < T(p[1])) r = T(p[1]);
    if (p[2] != 0 && r > T(p[3])) r = T(p[3]);
    return r;
  }
};
struct PowScalar { const double* p; template <class T> T operator()(T a) const { return std::pow(a, T(p[0])); } };
struct AddScalar { const double* p; template <class T> T operator()(T a) const { return T(a + T(p[0])); } };
struct MulScalar { const double* p; template <class T> T operator()(T a) const { return T(a * T(p[0])); } };

// Ops with a `p` member read their parameters from it.
template <class T, class = void> struct has_params : std::false_type {};
template <class T> struct has_params<T, std::void_t<decltype(std::declval<T>().p)>> : std::true_type {};
template <class Op> Op make_op(const double* p) {
  if constexpr (has_params<Op>::value) return Op{p}; else return Op{};
}

template <class Op, class T, class O>
void binary_loop(int64_t n, const char* a, int64_t sa, const char* b, int64_t sb, char* o, int64_t so,
                 const double* p) {
  const Op op = make_op<Op>(p);
  constexpr int64_t ts = sizeof(T), os = sizeof(O);
  if (so == os && sa == ts && sb == ts) {
    const T* A = reinterpret_cast<const T*>(a); const T* B = reinterpret_cast<const T*>(b); O* R = reinterpret_cast<O*>(o);
    for (int64_t i = 0; i < n; ++i) R[i] = O(op(A[i], B[i]));
  } else if (so == os && sa == 0 && sb == ts) {
    const T av = *reinterpret_cast<const T*>(a); const T* B = reinterpret_cast<const T*>(b); O* R = reinterpret_cast<O*>(o);
    for (int64_t i = 0; i < n; ++i) R[i] = O(op(av, B[i]));
  } else if (so == os && sa == ts && sb == 0) {
    const T* A = reinterpret_cast<const T*>(a); const T bv = *reinterpret_cast<const T*>(b); O* R = reinterpret_cast<O*>(o);
    for (int64_t i = 0; i < n; ++i) R[i] = O(op(A[i], bv));
  } else {
    for (int64_t i = 0; i < n; ++i)
      *reinterpret_cast<O*>(o + i * so) =
          O(op(*reinterpret_cast<const T*>(a + i * sa), *reinterpret_cast<const T*>(b + i * sb)));
  }
}

template <class Op, class T>
void unary_loop(int64_t n, const char* a, int64_t sa, char* o, int64_t so, const double* p) {
  const Op op = make_op<Op>(p);
  if (sa == sizeof(T) && so == sizeof(T)) {
    const T* A = reinterpret_cast<const T*>(a); T* R = reinterpret_cast<T*>(o);
    for (int64_t i = 0; i < n; ++i) R[i] = op(A[i]);
  } else {
    for (int64_t i = 0; i < n; ++i)
      *reinterpret_cast<T*>(o + i * so) = op(*reinterpret_cast<const T*>(a + i * sa));
  }
}

constexpr int F32 = int(DType::Float32), F64 = int(DType::Float64), I32 = int(DType::Int32),
              I64 = int(DType::Int64), B = int(DType::Bool);

template <class Op> void bin_float(Kernels& k, BinaryOp op) {
  k.binary[int(op)][F32] = binary_loop<Op, float, float>;
  k.binary[int(op)][F64] = binary_loop<Op, double, double>;
}
template <class Op> void bin_int(Kernels& k, BinaryOp op) {
  k.binary[int(op)][I32] = binary_loop<Op, int32_t, int32_t>;
  k.binary[int(op)][I64] = binary_loop<Op, int64_t, int64_t>;
}
template <class Op> void bin_cmp(Kernels& k, BinaryOp op) {
  k.binary[int(op)][F32] = binary_loop<Op, float, bool>;
  k.binary[int(op)][F64] = binary_loop<Op, double, bool>;
  k.binary[int(op)][I32] = binary_loop<Op, int32_t, bool>;
  k.binary[int(op)][I64] = binary_loop<Op, int64_t, bool>;
  k.binary[int(op)][B] = binary_loop<Op, bool, bool>;
}
template <class Op> void un_float(Kernels& k, UnaryOp op) {
  k.unary[int(op)][F32] = unary_loop<Op, float>;
  k.unary[int(op)][F64] = unary_loop<Op, double>;
}
template <class Op> void un_int(Kernels& k, UnaryOp op) {
  k.unary[int(op)][I32] = unary_loop<Op, int32_t>;
  k.unary[int(op)][I64] = unary_loop<Op, int64_t>;
}

}  // namespace
}  // namespace lamina::cpu::LAMINA_ISA

namespace lamina::cpu {

void LAMINA_ISA_FN(register_elementwise, LAMINA_ISA)(Kernels& k) {
  using namespace LAMINA_ISA;
  using BO = BinaryOp;
  bin_float<Add>(k, BO::Add); bin_int<Add>(k, BO::Add); k.binary[int(BO::Add)][B] = binary_loop<Add, bool, bool>;
  bin_float<Sub>(k, BO::Sub); bin_int<Sub>(k, BO::Sub);
  bin_float<Mul>(k, BO::Mul); bin_int<Mul>(k, BO::Mul); k.binary[int(BO::Mul)][B] = binary_loop<Mul, bool, bool>;
  bin_float<Div>(k, BO::Div);
  bin_float<FloorDiv>(k, BO::FloorDiv); bin_int<FloorDiv>(k, BO::FloorDiv);
  bin_float<Mod>(k, BO::Mod); bin_int<Mod>(k, BO::Mod);
  bin_float<Pow>(k, BO::Pow); bin_int<Pow>(k, BO::Pow);
  bin_float<Maximum>(k, BO::Maximum); bin_int<Maximum>(k, BO::Maximum); k.binary[int(BO::Maximum)][B] = binary_loop<Maximum, bool, bool>;
  bin_float<Minimum>(k, BO::Minimum); bin_int<Minimum>(k, BO::Minimum); k.binary[int(BO::Minimum)][B] = binary_loop<Minimum, bool, bool>;
  bin_float<Atan2>(k, BO::Atan2);
  bin_cmp<Eq>(k, BO::Eq); bin_cmp<Ne>(k, BO::Ne); bin_cmp<Lt>(k, BO::Lt);
  bin_cmp<Le>(k, BO::Le); bin_cmp<Gt>(k, BO::Gt); bin_cmp<Ge>(k, BO::Ge);
  bin_int<And>(k, BO::And); k.binary[int(BO::And)][B] = binary_loop<And, bool, bool>;
  bin_int<Or>(k, BO::Or); k.binary[int(BO::Or)][B] = binary_loop<Or, bool, bool>;
  bin_int<Xor>(k, BO::Xor); k.binary[int(BO::Xor)][B] = binary_loop<Xor, bool, bool>;
  bin_float<ReluGrad>(k, BO::ReluGrad);
  bin_float<GeluGrad>(k, BO::GeluGrad);
  bin_float<GeluTanhGrad>(k, BO::GeluTanhGrad);
  bin_float<SiluGrad>(k, BO::SiluGrad);
  bin_float<SoftplusGrad>(k, BO::SoftplusGrad);
  bin_float<SigmoidGradFromOut>(k, BO::SigmoidGradFromOut);
  bin_float<TanhGradFromOut>(k, BO::TanhGradFromOut);

  using UO = UnaryOp;
  un_float<Neg>(k, UO::Neg); un_int<Neg>(k, UO::Neg);
  un_float<Abs>(k, UO::Abs); un_int<Abs>(k, UO::Abs);
  un_float<Sign>(k, UO::Sign); un_int<Sign>(k, UO::Sign);
  un_float<Exp>(k, UO::Exp); un_float<Expm1>(k, UO::Expm1); un_float<Log>(k, UO::Log);
  un_float<Log1p>(k, UO::Log1p); un_float<Log2>(k, UO::Log2); un_float<Sqrt>(k, UO::Sqrt);
  un_float<Rsqrt>(k, UO::Rsqrt); un_float<Reciprocal>(k, UO::Reciprocal);
  un_float<Square>(k, UO::Square); un_int<Square>(k, UO::Square);
  un_float<Sin>(k, UO::Sin); un_float<Cos>(k, UO::Cos); un_float<Tanh>(k, UO::Tanh);
  un_float<Sigmoid>(k, UO::Sigmoid); un_float<Relu>(k, UO::Relu); un_int<Relu>(k, UO::Relu);
  un_float<Gelu>(k, UO::Gelu); un_float<GeluTanh>(k, UO::GeluTanh); un_float<Silu>(k, UO::Silu);
  un_float<Softplus>(k, UO::Softplus); un_float<LeakyRelu>(k, UO::LeakyRelu); un_float<Erf>(k, UO::Erf);
  un_float<Floor>(k, UO::Floor); un_int<Floor>(k, UO::Floor);
  un_float<Ceil>(k, UO::Ceil); un_int<Ceil>(k, UO::Ceil);
  un_float<Round>(k, UO::Round); un_int<Round>(k, UO::Round);
  un_float<Trunc>(k, UO::Trunc); un_int<Trunc>(k, UO::Trunc);
  un_int<Not>(k, UO::Not); k.unary[int(UO::Not)][B] = unary_loop<Not, bool>;
  un_float<Clamp>(k, UO::Clamp); un_int<Clamp>(k, UO::Clamp);
  un_float<PowScalar>(k, UO::PowScalar);
  un_float<AddScalar>(k, UO::AddScalar); un_float<MulScalar>(k, UO::MulScalar);
}

}  // namespace lamina::cpu

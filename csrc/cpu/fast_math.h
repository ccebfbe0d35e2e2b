// Branch-free float32 exp/log/expm1/tanh that GCC vectorises inside plain loops, so each ISA
// build of a kernel file gets SIMD transcendentals without intrinsics. Accuracy: a few ulp
// (relative error < 5e-7) on the normal range; NaN and infinities propagate like libm.
// float64 paths call libm: they serve references and gradcheck, where accuracy comes first.
// Included inside each ISA namespace (see elementwise_kernels.cpp), hence no namespace here.

inline float bits_to_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t float_to_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

inline float fast_exp(float x) {
  // exp(x) = 2^n * exp(r), n = round(x / ln2), |r| <= ln2/2; degree-7 Taylor for exp(r).
  float xc = x < -87.33654f ? -87.33654f : (x > 88.72283f ? 88.72283f : x);
  float n = std::nearbyint(xc * 1.44269504088896341f);
  float r = xc - n * 0.693359375f;   // ln2 split into a short high part and a low remainder
  r = r - n * -2.12194440e-4f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // 2^n built in two steps so n = 128 (x near the overflow edge) stays finite.
  int32_t ni = int32_t(n);
  int32_t n1 = ni > 0 ? ni - 1 : ni;
  float y = p * bits_to_float(uint32_t(n1 + 127) << 23) * (ni > 0 ? 2.0f : 1.0f);
  y = x < -87.33654f ? 0.0f : y;
  y = x > 88.72283f ? INFINITY : y;
  return x != x ? x : y;
}

inline float fast_expm1(float x) {
  // Near zero exp(x)-1 cancels; use its Taylor series there (|x| < 0.5, degree 9).
  float p = 1.0f / 362880.0f;
  p = p * x + 1.0f / 40320.0f;
  p = p * x + 1.0f / 5040.0f;
  p = p * x + 1.0f / 720.0f;
  p = p * x + 1.0f / 120.0f;
  p = p * x + 1.0f / 24.0f;
  p = p * x + 1.0f / 6.0f;
  p = p * x + 0.5f;
  p = p * x * x + x;
  float e = fast_exp(x) - 1.0f;
  return (x > -0.5f && x < 0.5f) ? p : e;
}

inline float fast_log(float x) {
  // x = m * 2^e with m in [sqrt(1/2), sqrt(2)); log(m) = 2 atanh(s), s = (m-1)/(m+1).
  bool denorm = x < 1.17549435e-38f;
  float xs = denorm ? x * 8388608.0f : x;  // 2^23 lifts subnormals into the normal range
  uint32_t u = float_to_bits(xs);
  int32_t e = int32_t((u >> 23) & 0xff) - 127;
  float m = bits_to_float((u & 0x007fffffu) | 0x3f800000u);
  bool big = m > 1.41421356f;
  m = big ? m * 0.5f : m;
  e = big ? e + 1 : e;
  float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  float p = 2.0f / 9.0f;
  p = p * s2 + 2.0f / 7.0f;
  p = p * s2 + 2.0f / 5.0f;
  p = p * s2 + 2.0f / 3.0f;
  p = p * s2 + 2.0f;
  float ef = float(e) - (denorm ? 23.0f : 0.0f);
  float y = p * s + ef * 0.693147180559945f;
  y = x == 0.0f ? -INFINITY : y;
  y = x < 0.0f ? NAN : y;
  y = x == INFINITY ? INFINITY : y;
  return x != x ? x : y;
}

inline float fast_tanh(float x) {
  // tanh|x| = -t / (t + 2) with t = expm1(-2|x|) in (-1, 0]: no clamp needed for large |x|
  // (a clamp here gives GCC a value range that stops it vectorising the loop).
  float ax = std::fabs(x);
  float t = fast_expm1(-2.0f * ax);
  float y = -t / (t + 2.0f);
  y = std::copysign(y, x);
  return x != x ? x : y;
}

// erf(a) / a as a polynomial P in s = a * a, for |a| < 1.
inline float erf_over_x(float s) {
  float p = -5.6679572889e-04f;
  p = p * s + 4.9274117575e-03f;
  p = p * s + -2.6720887843e-02f;
  p = p * s + 1.1280578727e-01f;
  p = p * s + -3.7612390668e-01f;
  return p * s + 1.1283791471e+00f;
}

// erfc(a) for a >= 0: 1 - a P(a^2) below 1; above, exp(-a^2) Q(1/a) / a, with the rounding
// error of a^2 put back (a split into 12-bit halves, whose products are exact), which would
// otherwise cost up to 5e-6 relative near a = 9. P and Q were fitted for this file (weighted
// least squares on Chebyshev nodes, relative error); the result is within 1e-6 relative.
inline float fast_erfc_pos(float a) {
  a = a < 10.0f ? a : 10.0f;  // erfc(10) is below float's range; keeps inf from giving inf - inf
  const float s = a * a;
  const float small = 1.0f - a * erf_over_x(s);
  const float t = 1.0f / a;
  float q = -6.0411981032e-02f;
  q = q * t + 3.0314889819e-01f;
  q = q * t + -5.6632506040e-01f;
  q = q * t + 3.2259304719e-01f;
  q = q * t + 4.8757881783e-01f;
  q = q * t + -1.0598110273e+00f;
  q = q * t + 7.8310406139e-01f;
  q = q * t + -7.2560271781e-02f;
  q = q * t + -2.7336248076e-01f;
  q = q * t + -5.7594127080e-04f;
  q = q * t + 5.6420549391e-01f;
  const float ah = bits_to_float(float_to_bits(a) & 0xfffff000u), al = a - ah;
  const float err = ((ah * ah - s) + 2.0f * ah * al) + al * al;  // a * a - s, exactly enough
  const float big = fast_exp(-s) * (1.0f - err) * q * t;
  return a < 1.0f ? small : big;
}

inline float fast_erfc(float x) {
  const float e = fast_erfc_pos(std::fabs(x));
  const float y = x < 0.0f ? 2.0f - e : e;
  return x != x ? x : y;
}

inline float fast_erf(float x) {
  // Below 1, x P(x^2) directly: 1 - erfc would cancel.
  const float ax = std::fabs(x);
  const float y = ax < 1.0f ? x * erf_over_x(x * x) : std::copysign(1.0f - fast_erfc_pos(ax), x);
  return x != x ? x : y;
}

inline float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

// Overloads so kernels can be written once for float and double.
inline float vexp(float x) { return fast_exp(x); }
inline double vexp(double x) { return std::exp(x); }
inline float vexpm1(float x) { return fast_expm1(x); }
inline double vexpm1(double x) { return std::expm1(x); }
inline float vlog(float x) { return fast_log(x); }
inline double vlog(double x) { return std::log(x); }
inline float vtanh(float x) { return fast_tanh(x); }
inline double vtanh(double x) { return std::tanh(x); }
inline float vsigmoid(float x) { return fast_sigmoid(x); }
inline double vsigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline float verf(float x) { return fast_erf(x); }
inline double verf(double x) { return std::erf(x); }
inline float verfc(float x) { return fast_erfc(x); }
inline double verfc(double x) { return std::erfc(x); }


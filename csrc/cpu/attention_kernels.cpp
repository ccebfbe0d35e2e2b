// Fused scaled dot-product attention, FlashAttention-2 style, compiled once per ISA (see
// CMakeLists.txt). The L x S score matrix never exists: each work item walks one block of BQ
// queries against blocks of keys and keeps only block-sized tiles.
//
// Layout: scores are always held key-major, one key per row and one query per vector lane
// (St = K * Q^T), in strips of NR queries. Then
//   - the online softmax runs down the rows with per-query vectors: maxima, rescale factors,
//     running sums and the saved log-sum-exp (LSE) are elementwise, never horizontal;
//   - every product reads q, k, v and dO in their natural row-major layout, either as the
//     broadcast operand (any strides) or as the vector operand (rows), so K and V are never
//     transposed; only the query block's Q^T and dO^T are packed, once per block, into strips.
//
// Forward (one query block): for each key block and each strip of NR queries, St = K_j Q_s^T
// (k = E, Q pre-scaled by scale * log2(e), so the softmax runs on base-2 exponentials) lands in
// an L1-sized strip buffer, the online softmax turns it into P^T in place, and
// O_s^T = alpha * O_s^T + V_j^T P^T (k = keys) updates the strip's output, with the rescale by
// alpha folded into the store. At the end each query keeps its output row and its LSE.
//
// Backward: per (query block, key block) pair, St and dPt = V_j dO_i^T are recomputed strip by
// strip, P = exp(S - LSE), dS = P * (dP - D) with D = rowsum(dO * O), then
// dV_j += P^T dO_i, dK_j += dS^T Q_i, dQ_i += dS K_j over the whole block. The work items never
// share an output row (see the passes in kernels.h), so there are no atomics and no per-thread
// copies of the gradients.
//
// Every tile product goes through one register-blocked micro-kernel of the GEMM's shape (MR x NR
// accumulators, GCC vector extensions): A(i, p) = A[i * ai + p * ap] is broadcast, B(p, j) =
// B[p * ldb + j] is read in vectors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <limits>
#include <new>
#include <numeric>
#include <type_traits>
#include <vector>

#include "core/cpu_features.h"
#include "core/random.h"
#include "cpu/gemm_tile.h"
#include "cpu/kernels.h"

namespace lamina::cpu::LAMINA_ISA {
#include "cpu/fast_math.h"
namespace {

// The GEMM's register tile shape (cpu/gemm_tile.h).
template <class T>
using Shape = Tile<T>;

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// Query and key blocks are multiples of lcm(MR, NR) (queries and keys are rows of one product
// and columns of another); ops/attention.cpp picks the multiple from the cache sizes. The
// forward's key blocks are internal and sized per call so that one block of K and V fills L1.
template <class T>
constexpr int block_step() {
  return Shape<T>::MR / std::gcd(Shape<T>::MR, Shape<T>::NR) * Shape<T>::NR;
}

template <class T>
int64_t forward_keys(int64_t E, int64_t Ev) {
  constexpr int64_t MR = Shape<T>::MR;
  const int64_t keys = cpu_info().l1d / (int64_t(sizeof(T)) * std::max<int64_t>(E + Ev, 1));
  return std::clamp<int64_t>(keys / MR, 4, 16) * MR;
}

enum class Store { Set, Add, Rescale, SetMax };

// C(0:M, 0:NR) (+)= A(0:M, 0:k) * B(0:k, 0:NR), A(i, p) = A[i * ai + p * ap], B(p, j) =
// B[p * ldb + j]; Set: C = AB, Add: C += AB, Rescale: C = C * scale[j] + AB; SetMax: C = AB
// and scale[j] (written) = max(scale[j], column j of AB), the softmax's running maximum taken
// while the scores are still in registers. Kept out of line: inlined into the loops around
// it, GCC spills an accumulator. kUnit (ai == 1) reads a column of A through one pointer,
// where the general layout keeps a pointer per row, more than x86-64 has registers for.
template <class T, int M, bool kUnit>
__attribute__((noinline)) void micro(int64_t k, const T* A, int64_t ai, int64_t ap, const T* B, int64_t ldb, T* C,
                                     int64_t ldc, Store mode, const T* scale) {
  using Sh = Shape<T>;
  using V = typename Sh::V;
  using VU = typename Sh::VU;
  constexpr int L = Sh::L;
  V acc[M][2];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) acc[i][0] = acc[i][1] = V{};
  const T* rows[M];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) rows[i] = A + i * ai;
#pragma GCC unroll 4
  for (int64_t p = 0; p < k; ++p) {
    const V b0 = *reinterpret_cast<const VU*>(B + p * ldb);
    const V b1 = *reinterpret_cast<const VU*>(B + p * ldb + L);
    const T* col = A + p * ap;
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const T a = kUnit ? col[i] : rows[i][p * ap];
      acc[i][0] += b0 * a;
      acc[i][1] += b1 * a;
    }
  }
  V s0{}, s1{};
  if (mode == Store::Rescale || mode == Store::SetMax) {
    s0 = *reinterpret_cast<const VU*>(scale);
    s1 = *reinterpret_cast<const VU*>(scale + L);
  }
  if (mode == Store::SetMax) {
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      s0 = acc[i][0] > s0 ? acc[i][0] : s0;
      s1 = acc[i][1] > s1 ? acc[i][1] : s1;
    }
    *reinterpret_cast<VU*>(const_cast<T*>(scale)) = s0;
    *reinterpret_cast<VU*>(const_cast<T*>(scale) + L) = s1;
  }
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
    VU* c0 = reinterpret_cast<VU*>(C + i * ldc);
    VU* c1 = reinterpret_cast<VU*>(C + i * ldc + L);
    if (mode == Store::Set || mode == Store::SetMax) {
      *c0 = acc[i][0];
      *c1 = acc[i][1];
    } else if (mode == Store::Add) {
      *c0 = *c0 + acc[i][0];
      *c1 = *c1 + acc[i][1];
    } else {
      *c0 = *c0 * s0 + acc[i][0];
      *c1 = *c1 * s1 + acc[i][1];
    }
  }
}

// micro<T, mr> for a run-time mr in 1 .. MR.
template <class T, int M = Shape<T>::MR>
inline void micro_rows(int64_t mr, int64_t k, const T* A, int64_t ai, int64_t ap, const T* B, int64_t ldb, T* C,
                       int64_t ldc, Store mode, const T* scale) {
  if constexpr (M > 1) {
    if (mr < M) return micro_rows<T, M - 1>(mr, k, A, ai, ap, B, ldb, C, ldc, mode, scale);
  }
  if (ai == 1) micro<T, M, true>(k, A, ai, ap, B, ldb, C, ldc, mode, scale);
  else micro<T, M, false>(k, A, ai, ap, B, ldb, C, ldc, mode, scale);
}

// C (m x n) (+)= A * B with the micro-kernel, strip by strip of NR columns. B must be readable
// NR columns wide past n (callers pad), A only inside m x k.
template <class T>
void product(int64_t m, int64_t n, int64_t k, const T* A, int64_t ai, int64_t ap, const T* B, int64_t ldb, T* C,
             int64_t ldc, Store mode, const T* scale = nullptr) {
  using Sh = Shape<T>;
  constexpr int MR = Sh::MR, NR = Sh::NR;
  for (int64_t j0 = 0; j0 < n; j0 += NR) {
    const int64_t nr = std::min<int64_t>(NR, n - j0);
    for (int64_t i0 = 0; i0 < m; i0 += MR) {
      const int64_t mr = std::min<int64_t>(MR, m - i0);
      T* c = C + i0 * ldc + j0;
      if (nr == NR) {
        micro_rows<T>(mr, k, A + i0 * ai, ai, ap, B + j0, ldb, c, ldc, mode, scale ? scale + j0 : nullptr);
        continue;
      }
      // A ragged last strip goes through a full-width tile (never with SetMax: the forward's
      // strips are whole).
      alignas(64) T buf[MR * NR];
      micro_rows<T>(mr, k, A + i0 * ai, ai, ap, B + j0, ldb, buf, NR, Store::Set, nullptr);
      for (int64_t i = 0; i < mr; ++i)
        for (int64_t j = 0; j < nr; ++j) {
          T& x = c[i * ldc + j];
          x = mode == Store::Set ? buf[i * NR + j] : mode == Store::Add ? x + buf[i * NR + j] : x * scale[j0 + j] + buf[i * NR + j];
        }
    }
  }
}

// Line-aligned storage for the tiles: a strip row of NR values then spans whole cache lines,
// and a vector load never straddles two.
template <class T>
struct LineAllocator {
  using value_type = T;
  LineAllocator() = default;
  template <class U>
  LineAllocator(const LineAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
  template <class U>
  bool operator==(const LineAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const LineAllocator<U>&) const { return false; }
};

// Per-thread tiles, grown on demand and reused across calls (allocation would dominate small
// items). Fresh memory is zeroed, so padding that is read but never written stays finite.
template <class T>
T* scratch(int slot, int64_t n) {
  thread_local std::vector<T, LineAllocator<T>> bufs[16];
  auto& b = bufs[slot];
  if (int64_t(b.size()) < n) b.resize(size_t(n));
  return b.data();
}

// Rows r < rows (width cols, row stride lds) as strips of NR rows transposed: element (r, c)
// goes to dst[(r / NR) * cols * NR + c * NR + r % NR], times mul; the lanes past `rows` in the
// last strip are zeroed.
template <class T>
void pack_strips(int64_t rows, int64_t cols, const T* src, int64_t lds, T* dst, T mul = T(1)) {
  constexpr int64_t NR = Shape<T>::NR, L = Shape<T>::L;
  for (int64_t r0 = 0; r0 < rows; r0 += NR) {
    T* d = dst + r0 * cols;
    const int64_t nr = std::min(NR, rows - r0);
    int64_t c0 = 0;
    if (nr == NR) {
      // Whole L x L blocks, transposed in registers.
      for (; c0 + L <= cols; c0 += L)
        for (int64_t rb = 0; rb < NR; rb += L) transpose_block(src + (r0 + rb) * lds + c0, lds, d + c0 * NR + rb, NR, mul);
    }
    for (int64_t c = c0; c < cols; ++c) {
      for (int64_t r = 0; r < nr; ++r) d[c * NR + r] = src[(r0 + r) * lds + c] * mul;
      for (int64_t r = nr; r < NR; ++r) d[c * NR + r] = T(0);
    }
  }
}

// Row-major rows x cols at src as a B operand: src itself when its rows are whole strips wide,
// else a copy with rows padded to a multiple of NR in `pad`. Sets ld to the row stride.
template <class T>
const T* as_rows(int64_t rows, int64_t cols, const T* src, T* pad, int64_t& ld) {
  constexpr int64_t NR = Shape<T>::NR;
  if (cols % NR == 0) {
    ld = cols;
    return src;
  }
  ld = round_up(cols, NR);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(pad + r * ld, src + r * cols, size_t(cols) * sizeof(T));
  return pad;
}

constexpr double kInf = std::numeric_limits<double>::infinity();

// Dropout multipliers for row i of head h, keys j0 .. j0 + n: 1 / (1 - p) where kept, else 0.
template <class T>
void dropout_row(const AttentionArgs& a, int64_t h, int64_t i, int64_t j0, int64_t n, T* z) {
  const uint64_t thresh = uint64_t(a.dropout_p * 4294967296.0);
  const T keep = a.dropout_p < 1 ? T(1.0 / (1.0 - a.dropout_p)) : T(0);
  uint64_t e = (uint64_t(h) * uint64_t(a.L) + uint64_t(i)) * uint64_t(a.S) + uint64_t(j0);
  for (int64_t t = 0; t < n;) {
    const auto w = philox(a.seed, 0, a.offset + e / 4);
    for (uint64_t r = e % 4; r < 4 && t < n; ++r, ++t, ++e) z[t] = uint64_t(w[r]) >= thresh ? keep : T(0);
  }
}

// Dropout multipliers of a strip: z[j * NR + r] for query row i + r (r < nq), keys j0 .. j0 + n.
template <class T>
void dropout_strip(const AttentionArgs& a, int64_t h, int64_t i, int64_t nq, int64_t j0, int64_t n, T* row, T* z) {
  constexpr int64_t NR = Shape<T>::NR;
  for (int64_t r = 0; r < nq; ++r) {
    dropout_row(a, h, i + r, j0, n, row);
    for (int64_t j = 0; j < n; ++j) z[j * NR + r] = row[j];
  }
}

// round(x) for float lanes, and p * 2^n for integral n (0 where x < lo; NaN where x is NaN),
// the two ends of the softmax exps below. With AVX-512 each is one instruction (vrndscaleps,
// and vscalefps zero-masked by one compare); the portable path rounds by the 1.5 * 2^23 trick,
// builds 2^n from its bits and selects.
template <class V>
inline V round_lanes(V x) {
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64) return V(_mm512_mask_roundscale_ps(__m512(x), __mmask16(0xFFFF), __m512(x),
                                                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#endif
  return (x + 12582912.0f) - 12582912.0f;
}

template <class V>
inline V scale_pow2(V p, V n, V x, float lo) {
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64)
    return V(_mm512_maskz_scalef_ps(_mm512_cmp_ps_mask(__m512(x), _mm512_set1_ps(lo), _CMP_NLT_UQ), __m512(p), __m512(n)));
#endif
  typedef int32_t VI __attribute__((vector_size(sizeof(V))));
  const V y = p * reinterpret_cast<V>((__builtin_convertvector(n, VI) + 127) << 23);
  return x < lo ? V{} : y;
}

// exp on whole vectors for softmax arguments (x - max <= 0, or -inf): Cephes' expf polynomial on
// |r| <= ln2 / 2. Fewer steps than vexp, which also guards the overflow and subnormal ranges:
// below -87.3 the result is 0, and a NaN argument gives NaN. float64 takes std::exp per lane.
template <class V>
inline V softmax_exp(V x) {
  using T = std::remove_reference_t<decltype(x[0])>;
  if constexpr (std::is_same_v<T, float>) {
    const V n = round_lanes(V(x * 1.44269504088896341f));
    V r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    V p = V{} + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return scale_pow2(p, n, x, -87.33654f);
  } else {
    return map_lanes(x, [](T v) { return std::exp(v); });
  }
}

// 2^x on whole vectors for the forward's softmax, whose scores are kept in base-2 units (Q is
// pre-scaled by log2(e)), which saves the multiply an exp pays to get there: 2^x = 2^n * 2^f,
// n = round(x), |f| <= 1/2, 2^f by a degree-5 polynomial fitted for this file (relative
// error 2.2e-7). Below -126 the result is 0; NaN stays NaN. float64 takes std::exp2 per lane.
template <class V>
inline V softmax_exp2(V x) {
  using T = std::remove_reference_t<decltype(x[0])>;
  if constexpr (std::is_same_v<T, float>) {
    const V n = round_lanes(x);
    const V f = x - n;
    V p = V{} + 1.3266971337e-03f;
    p = p * f + 9.6754607127e-03f;
    p = p * f + 5.5507426220e-02f;
    p = p * f + 2.4022121736e-01f;
    p = p * f + 6.9314694915e-01f;
    p = p * f + 1.0000000710e+00f;
    return scale_pow2(p, n, x, -126.0f);
  } else {
    return map_lanes(x, [](T v) { return std::exp2(v); });
  }
}

constexpr double kLog2e = 1.4426950408889634074, kLn2 = 0.69314718055994530942;

template <class T>
const T* mask_of(const AttentionArgs& a, int64_t h) {
  return a.mask ? static_cast<const T*>(a.mask) + a.mask_off[h] : nullptr;
}

// Keys from j0 (at most bk) that some query of i .. i + nq - 1 may see under the causal mask.
inline int64_t causal_keys(const AttentionArgs& a, int64_t i, int64_t nq, int64_t j0, int64_t bk) {
  return a.causal ? std::clamp<int64_t>(i + nq - j0, 0, bk) : bk;
}

// Strip scores s (n keys x NR query lanes, queries i .. i + nq - 1, keys j0 ..): adds the mask
// (times `unit`: log2(e) for scores in base-2 units) and hides the keys the causal mask hides
// with `hidden`.
template <class T>
void mask_strip(const AttentionArgs& a, const T* mask, int64_t i, int64_t nq, int64_t j0, int64_t n, T* s, int64_t ld,
                T hidden, T unit = T(1)) {
  constexpr int64_t NR = Shape<T>::NR;
  if (mask)
    for (int64_t j = 0; j < n; ++j) {
      const T* mj = mask + (j0 + j) * a.mask_sj + i * a.mask_si;
      for (int64_t r = 0; r < nq; ++r) s[j * ld + r] += mj[r * a.mask_si] * unit;
    }
  if (a.causal)
    for (int64_t j = std::max<int64_t>(0, i - j0); j < n; ++j)
      for (int64_t r = 0; r < std::min<int64_t>(NR, j0 + j - i); ++r) s[j * ld + r] = hidden;
}

// Backward of the softmax over a strip (n keys x NR query lanes, rows ld apart): scores p
// become P = exp(p - lse) and dP in ds becomes dS = P * (dP * Z - D) * scale; with dropout
// (z: multipliers, NR per key) p becomes P * Z, the weights that multiplied V.
template <class T>
void softmax_grad_strip(int64_t n, T* p, T* ds, int64_t ld, const T* lse, const T* d, const T* z, T scale) {
  using Sh = Shape<T>;
  using V = typename Sh::V;
  using VU = typename Sh::VU;
  constexpr int64_t NR = Sh::NR, L = Sh::L, NV = Sh::NV;
  auto at = [](const T* q) -> VU& { return *reinterpret_cast<VU*>(const_cast<T*>(q)); };
  V l[NV], dd[NV];
  for (int64_t v = 0; v < NV; ++v) {
    l[v] = at(lse + v * L);
    dd[v] = at(d + v * L);
  }
  for (int64_t j = 0; j < n; ++j)
    for (int64_t v = 0; v < NV; ++v) {
      const int64_t o = j * ld + v * L;
      const V pr = softmax_exp(V(at(p + o) - l[v]));
      if (z) {
        const V zj = at(z + j * NR + v * L);
        at(ds + o) = pr * (at(ds + o) * zj - dd[v]) * scale;
        at(p + o) = pr * zj;
      } else {
        at(ds + o) = pr * (at(ds + o) - dd[v]) * scale;
        at(p + o) = pr;
      }
    }
}

// One key block of the online softmax over a strip of scores in base-2 units: s (n x NR)
// becomes 2^(s - new max), m (running max), l (running sum) are updated and alpha gets the
// factor the earlier partial output must be rescaled by. `new_max`, when given, is the new
// maximum already taken by the product that wrote s.
template <class T>
void softmax_strip(int64_t n, T* s, T* m, T* l, T* alpha, const T* new_max) {
  using Sh = Shape<T>;
  using V = typename Sh::V;
  using VU = typename Sh::VU;
  constexpr int64_t NR = Sh::NR, L = Sh::L, NV = Sh::NV;
  auto at = [](T* p) -> VU& { return *reinterpret_cast<VU*>(p); };
  V mx[NV], mu[NV], sum[NV];
  for (int64_t v = 0; v < NV; ++v) mx[v] = at(const_cast<T*>(new_max ? new_max : m) + v * L);
  for (int64_t j = 0; j < n && !new_max; ++j)
    for (int64_t v = 0; v < NV; ++v) {
      const V x = at(s + j * NR + v * L);
      mx[v] = x > mx[v] ? x : mx[v];
    }
  for (int64_t v = 0; v < NV; ++v) {
    // A query with nothing visible yet keeps max -inf; subtracting 0 then gives exp(-inf) = 0.
    mu[v] = mx[v] == T(-kInf) ? V{} : mx[v];
    const V al = softmax_exp2(V(at(m + v * L) - mu[v]));
    at(alpha + v * L) = al;
    at(m + v * L) = mx[v];
    sum[v] = at(l + v * L) * al;
  }
  for (int64_t j = 0; j < n; ++j)
    for (int64_t v = 0; v < NV; ++v) {
      const V p = softmax_exp2(V(at(s + j * NR + v * L) - mu[v]));
      at(s + j * NR + v * L) = p;
      sum[v] += p;
    }
  for (int64_t v = 0; v < NV; ++v) at(l + v * L) = sum[v];
}

template <class T>
void forward_item(const AttentionArgs& a, int64_t item) {
  using Sh = Shape<T>;
  constexpr int64_t NR = Sh::NR;
  const int64_t BQ = a.bq, L = a.L, S = a.S, E = a.E, Ev = a.Ev, BK = forward_keys<T>(E, Ev);
  const int64_t nqb = (L + BQ - 1) / BQ, h = item / nqb, i0 = item % nqb * BQ, bq = std::min(BQ, L - i0);
  const int64_t ns = (bq + NR - 1) / NR, kv = a.kv_of[h];
  const T* q = static_cast<const T*>(a.q) + (h * L + i0) * E;
  const T* k = static_cast<const T*>(a.k) + kv * S * E;
  const T* v = static_cast<const T*>(a.v) + kv * S * Ev;
  const T* mask = mask_of<T>(a, h);
  T* Qs = scratch<T>(0, ns * E * NR);
  T* Os = scratch<T>(1, ns * Ev * NR);
  T* St = scratch<T>(2, BK * NR);
  T* st = scratch<T>(3, (2 * ns + 2) * NR + BK * (NR + 1));
  T *mrow = st, *lrow = st + ns * NR, *alpha = st + 2 * ns * NR, *mnew = alpha + NR, *z = mnew + NR, *zrow = z + BK * NR;

  pack_strips(bq, E, q, E, Qs, T(a.scale * kLog2e));  // scores in base-2 units
  std::fill(mrow, mrow + ns * NR, T(-kInf));
  std::fill(lrow, lrow + ns * NR, T(0));
  std::fill(Os, Os + ns * Ev * NR, T(0));
  const int64_t jend = a.causal ? std::min(S, i0 + bq) : S;
  for (int64_t j0 = 0; j0 < jend; j0 += BK) {
    const int64_t bk = std::min(BK, jend - j0);
    for (int64_t s = 0; s < ns; ++s) {
      const int64_t qi = i0 + s * NR, nq = std::min(NR, bq - s * NR), nk = causal_keys(a, qi, nq, j0, bk);
      if (nk == 0) continue;
      // Without a mask on this strip, its product also takes the running maximum.
      const bool fused = !mask && (!a.causal || j0 + nk <= qi + 1);
      if (fused) std::copy(mrow + s * NR, mrow + (s + 1) * NR, mnew);
      product<T>(nk, NR, E, k + j0 * E, E, 1, Qs + s * E * NR, NR, St, NR, fused ? Store::SetMax : Store::Set, mnew);
      mask_strip(a, mask, qi, nq, j0, nk, St, NR, T(-kInf), T(kLog2e));
      softmax_strip(nk, St, mrow + s * NR, lrow + s * NR, alpha, fused ? mnew : nullptr);
      if (a.dropout_p > 0) {
        dropout_strip(a, h, qi, nq, j0, nk, zrow, z);
        for (int64_t j = 0; j < nk * NR; ++j) St[j] *= z[j];
      }
      product<T>(Ev, NR, nk, v + j0 * Ev, 1, Ev, St, NR, Os + s * Ev * NR, NR, Store::Rescale, alpha);
    }
  }
  T* out = static_cast<T*>(a.out) + (h * L + i0) * Ev;
  T* lse = static_cast<T*>(a.lse) + h * L + i0;
  for (int64_t i = 0; i < bq; ++i) {
    const T l = lrow[i];
    const T inv = l > T(0) ? T(1) / l : T(0);  // fully masked rows give 0, as PyTorch does
    const T* o = Os + i / NR * Ev * NR + i % NR;
    for (int64_t e = 0; e < Ev; ++e) out[i * Ev + e] = o[e * NR] * inv;
  }
  // The running maximum is in base-2 units; a loop of its own so the logarithms vectorise.
  for (int64_t i = 0; i < bq; ++i) {
    const T l = lrow[i], m = mrow[i];
    lse[i] = l > T(0) ? (m == T(-kInf) ? T(0) : m * T(kLn2)) + vlog(l) : T(-kInf);
  }
}

// Backward tiles of one thread: the query-side operands of the current query block and the
// key-side operands of the current key block, each packed once and used by every pair.
template <class T>
struct Backward {
  using Sh = Shape<T>;
  static constexpr int64_t NR = Sh::NR;
  const AttentionArgs& a;
  const int64_t L, S, E, Ev, BQ, BK, BQp;
  T *Qs, *dOs, *Qpad, *dOpad, *Kpad, *D, *lse, *Pt, *dSt, *z, *zrow;
  const T *Qr = nullptr, *dOr = nullptr, *Kr = nullptr, *Kn = nullptr, *Vn = nullptr, *mask = nullptr;
  int64_t ldq = 0, lddo = 0, ldk = 0;
  int64_t h = -1, i0 = 0, bq = 0, kv = -1, j0 = 0, bk = 0;

  explicit Backward(const AttentionArgs& args)
      : a(args), L(a.L), S(a.S), E(a.E), Ev(a.Ev), BQ(a.bq), BK(a.bk), BQp(round_up(BQ, NR)) {
    Qs = scratch<T>(0, BQp * E);
    dOs = scratch<T>(1, BQp * Ev);
    Qpad = scratch<T>(2, BQ * round_up(E, NR));
    dOpad = scratch<T>(3, BQ * round_up(Ev, NR));
    Kpad = scratch<T>(4, BK * round_up(E, NR));
    D = scratch<T>(5, 2 * BQp);
    lse = D + BQp;
    Pt = scratch<T>(6, BK * BQp);
    dSt = scratch<T>(7, BK * BQp);
    z = scratch<T>(8, BK * NR + BK);
    zrow = z + BK * NR;
  }

  void load_queries(int64_t head, int64_t ib) {
    h = head;
    i0 = ib * BQ;
    bq = std::min(BQ, L - i0);
    mask = mask_of<T>(a, h);
    const T* q = static_cast<const T*>(a.q) + (h * L + i0) * E;
    const T* dO = static_cast<const T*>(a.dout) + (h * L + i0) * Ev;
    const T* O = static_cast<const T*>(a.out) + (h * L + i0) * Ev;
    pack_strips(bq, E, q, E, Qs, T(a.scale));
    pack_strips(bq, Ev, dO, Ev, dOs);
    Qr = as_rows(bq, E, q, Qpad, ldq);
    dOr = as_rows(bq, Ev, dO, dOpad, lddo);
    for (int64_t i = 0; i < BQp; ++i) {
      T d = 0;
      if (i < bq)
        for (int64_t e = 0; e < Ev; ++e) d += dO[i * Ev + e] * O[i * Ev + e];
      D[i] = d;
      // Fully masked rows (LSE -inf) and the padding lanes get P = exp(s - inf) = 0.
      const T l = i < bq ? static_cast<const T*>(a.lse)[h * L + i0 + i] : T(-kInf);
      lse[i] = l == T(-kInf) ? T(kInf) : l;
    }
  }

  void load_keys(int64_t kvh, int64_t jb) {
    kv = kvh;
    j0 = jb * BK;
    bk = std::min(BK, S - j0);
    Kn = static_cast<const T*>(a.k) + (kv * S + j0) * E;
    Vn = static_cast<const T*>(a.v) + (kv * S + j0) * Ev;
    Kr = as_rows(bk, E, Kn, Kpad, ldk);
  }

  // True when the causal mask hides every key from `jstart` on from the loaded query block.
  bool hidden(int64_t jstart) const { return a.causal && jstart > i0 + bq - 1; }

  // Pt and dSt (bk x BQp, one key per row) for the loaded pair, strip by strip of queries.
  void scores() {
    const T scale = T(a.scale);
    for (int64_t s = 0; s * NR < bq; ++s) {
      const int64_t qi = i0 + s * NR, nq = std::min(NR, bq - s * NR), nk = causal_keys(a, qi, nq, j0, bk);
      T* p = Pt + s * NR;
      T* ds = dSt + s * NR;
      product<T>(nk, NR, E, Kn, E, 1, Qs + s * E * NR, NR, p, BQp, Store::Set);
      product<T>(nk, NR, Ev, Vn, Ev, 1, dOs + s * Ev * NR, NR, ds, BQp, Store::Set);
      mask_strip(a, mask, qi, nq, j0, nk, p, BQp, T(-kInf));
      const T* z_ = nullptr;
      if (a.dropout_p > 0) {
        dropout_strip(a, h, qi, nq, j0, nk, zrow, z);
        z_ = z;
      }
      softmax_grad_strip(nk, p, ds, BQp, lse + s * NR, D + s * NR, z_, scale);
      for (int64_t j = nk; j < bk; ++j) {
        std::fill(p + j * BQp, p + j * BQp + NR, T(0));
        std::fill(ds + j * BQp, ds + j * BQp + NR, T(0));
      }
    }
  }

  // The loaded (query block, key block) pair: dq and/or dk, dv accumulate into the outputs.
  void pair(bool want_dq, bool want_dkv) {
    scores();
    if (want_dkv) {
      T* dk = static_cast<T*>(a.dk) + (kv * S + j0) * E;
      T* dv = static_cast<T*>(a.dv) + (kv * S + j0) * Ev;
      product<T>(bk, Ev, bq, Pt, BQp, 1, dOr, lddo, dv, Ev, Store::Add);
      product<T>(bk, E, bq, dSt, BQp, 1, Qr, ldq, dk, E, Store::Add);
    }
    if (want_dq) {
      T* dq = static_cast<T*>(a.dq) + (h * L + i0) * E;
      product<T>(bq, E, bk, dSt, 1, BQp, Kr, ldk, dq, E, Store::Add);
    }
  }
};

template <class T>
void zero(void* base, int64_t offset, int64_t n) {
  std::memset(static_cast<T*>(base) + offset, 0, size_t(n) * sizeof(T));
}

template <class T>
void backward_item(const AttentionArgs& a, int pass, int64_t item) {
  Backward<T> b(a);
  const int64_t L = a.L, S = a.S, BQ = b.BQ, BK = b.BK;
  const int64_t nqb = (L + BQ - 1) / BQ, nkb = (S + BK - 1) / BK;
  if (pass == kAttnQ) {
    const int64_t h = item / nqb;
    b.load_queries(h, item % nqb);
    zero<T>(a.dq, (h * L + b.i0) * a.E, b.bq * a.E);
    for (int64_t jb = 0; jb < nkb && !b.hidden(jb * BK); ++jb) {
      b.load_keys(a.kv_of[h], jb);
      b.pair(true, false);
    }
    return;
  }
  const int64_t kv = pass == kAttnKV ? item / nkb : item;
  const int64_t jb_lo = pass == kAttnKV ? item % nkb : 0, jb_hi = pass == kAttnKV ? jb_lo + 1 : nkb;
  const int64_t rows = std::min(S, jb_hi * BK) - jb_lo * BK;
  zero<T>(a.dk, (kv * S + jb_lo * BK) * a.E, rows * a.E);
  zero<T>(a.dv, (kv * S + jb_lo * BK) * a.Ev, rows * a.Ev);
  if (pass == kAttnKV) b.load_keys(kv, jb_lo);
  for (int64_t t = a.head_start[kv]; t < a.head_start[kv + 1]; ++t) {
    const int64_t h = a.heads[t];
    if (pass == kAttnAll) zero<T>(a.dq, h * L * a.E, L * a.E);
    for (int64_t ib = 0; ib < nqb; ++ib) {
      // Causal: query blocks that end before this key block see none of it.
      if (pass == kAttnKV && a.causal && jb_lo * BK > std::min(L, (ib + 1) * BQ) - 1) continue;
      b.load_queries(h, ib);
      if (pass == kAttnKV) {
        b.pair(false, true);
        continue;
      }
      for (int64_t jb = 0; jb < nkb && !b.hidden(jb * BK); ++jb) {
        b.load_keys(kv, jb);
        b.pair(true, true);
      }
    }
  }
}

}  // namespace
}  // namespace lamina::cpu::LAMINA_ISA

namespace lamina::cpu {

void LAMINA_ISA_FN(register_attention, LAMINA_ISA)(Kernels& k) {
  using namespace LAMINA_ISA;
  constexpr int F32 = int(DType::Float32), F64 = int(DType::Float64);
  k.attention_forward[F32] = forward_item<float>;
  k.attention_forward[F64] = forward_item<double>;
  k.attention_backward[F32] = backward_item<float>;
  k.attention_backward[F64] = backward_item<double>;
  k.attention_tile[F32][0] = k.attention_tile[F32][1] = block_step<float>();
  k.attention_tile[F64][0] = k.attention_tile[F64][1] = block_step<double>();
}

}  // namespace lamina::cpu

// Native-width SIMD vectors for the per-ISA kernel files, as GCC vector extensions: the same
// source becomes AVX-512, AVX2 or SSE2 code. Reductions written as plain loops over arrays of
// accumulators get unrolled into scalars before the vectoriser sees them; these types keep the
// lanes explicit. Loads and stores are unaligned.
#pragma once
#include <cstdint>
#include <cstring>
#include <utility>

namespace lamina::cpu::LAMINA_ISA {

// LAMINA_WIDE_VECTORS gives AVX2 code the AVX-512 shapes (64-byte vectors, the AVX-512 tile
// sizes), each vector split into two by the compiler: a build option (LAMINA_EMULATE_AVX512) for
// exercising the AVX-512 kernels' blocking and fringe logic on a CPU without AVX-512.
#if defined(__AVX512F__) || defined(LAMINA_WIDE_VECTORS)
constexpr int kVecBytes = 64;
#elif defined(__AVX2__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;
#endif
template <class T> constexpr int kLanes = kVecBytes / int(sizeof(T));
template <class T> struct Lanes { typedef T type __attribute__((vector_size(kVecBytes))); };
template <class T> using LanesT = typename Lanes<T>::type;
// The same vector type at element alignment, for loads and stores through a cast pointer.
template <class T> struct LanesUnaligned { typedef T type __attribute__((vector_size(kVecBytes), aligned(sizeof(T)))); };
template <class T> using LanesU = typename LanesUnaligned<T>::type;

// Lanes from p, p + s, p + 2s, ... (s == 1: one unaligned load).
template <class T>
inline LanesT<T> load_lanes(const T* p, int64_t s = 1) {
  LanesT<T> v;
  if (s == 1) {
    std::memcpy(&v, p, sizeof(v));
  } else {
    for (int l = 0; l < kLanes<T>; ++l) v[l] = p[l * s];
  }
  return v;
}
template <class T>
inline void store_lanes(T* p, LanesT<T> v) { std::memcpy(p, &v, sizeof(v)); }

namespace detail {
// One butterfly stage of an in-register transpose: rows i and i + B swap their off-diagonal
// B x B blocks.
template <int B, class V, std::size_t... I>
inline void swap_blocks(V& x, V& y, std::index_sequence<I...>) {
  constexpr int L = int(sizeof...(I));
  const V lo = __builtin_shufflevector(x, y, ((int(I) & B) ? L + int(I) - B : int(I))...);
  const V hi = __builtin_shufflevector(x, y, ((int(I) & B) ? L + int(I) : int(I) + B)...);
  x = lo;
  y = hi;
}
template <int B, class V, int L>
inline void transpose_stage(V (&v)[L]) {
  if constexpr (B >= 1) {
    for (int i = 0; i < L; ++i)
      if (!(i & B)) swap_blocks<B>(v[i], v[i + B], std::make_index_sequence<L>{});
    transpose_stage<B / 2>(v);
  }
}
}  // namespace detail

// Transposes the L x L block held as L vectors of L lanes (v[r][c] becomes v[c][r]) in
// log2(L) shuffle stages.
template <class T>
inline void transpose_lanes(LanesT<T> (&v)[kLanes<T>]) {
  detail::transpose_stage<kLanes<T> / 2>(v);
}

// The L x L block at src (rows lds apart) transposed into dst (rows ldd apart), times mul:
// dst[c * ldd + r] = src[r * lds + c] * mul. L row vectors in, L column vectors out. With
// rows < L, only that many source rows are read and each destination row gets that many values.
template <class T>
inline void transpose_block(const T* src, int64_t lds, T* dst, int64_t ldd, T mul = T(1), int64_t rows = kLanes<T>) {
  constexpr int L = kLanes<T>;
  LanesT<T> v[L];
  for (int r = 0; r < L; ++r) v[r] = r < rows ? load_lanes(src + r * lds) * mul : LanesT<T>{};
  transpose_lanes<T>(v);
  for (int c = 0; c < L; ++c) {
    if (rows == L) store_lanes(dst + c * ldd, v[c]);
    else
      for (int64_t r = 0; r < rows; ++r) dst[c * ldd + r] = v[c][r];
  }
}

// f applied to each lane of v (scalar fallbacks, e.g. libm for float64).
template <class V, class F>
inline V map_lanes(V v, const F& f) {
  for (size_t l = 0; l < sizeof(V) / sizeof(v[0]); ++l) v[l] = f(v[l]);
  return v;
}

namespace detail {
// The sum of the Bytes / sizeof(T) values of a vector at v, halving it until two remain.
template <class T, int Bytes>
inline T halving_sum(const void* v) {
  if constexpr (Bytes == 2 * int(sizeof(T))) {
    T p[2];
    std::memcpy(p, v, sizeof(p));
    return p[0] + p[1];
  } else {
    typedef T Half __attribute__((vector_size(Bytes / 2)));
    Half lo, hi;
    std::memcpy(&lo, v, sizeof(Half));
    std::memcpy(&hi, static_cast<const char*>(v) + sizeof(Half), sizeof(Half));
    lo += hi;
    return halving_sum<T, Bytes / 2>(&lo);
  }
}
}  // namespace detail

// The sum of v's lanes by halving: log2(L) dependent additions instead of a chain of L.
template <class T>
inline T hsum(LanesT<T> v) {
  return detail::halving_sum<T, kVecBytes>(&v);
}

}  // namespace lamina::cpu::LAMINA_ISA

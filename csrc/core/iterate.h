// N-d iteration over K operands of one shape (broadcast operands carry stride 0).
// Dims of size 1 are dropped and dims whose strides chain are merged, so most calls reduce
// to one long row that the kernels see with unit stride and vectorise.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"

namespace lamina {

template <int K>
struct StridedLayout {
  std::vector<int64_t> sizes;                  // outer..inner, coalesced
  std::array<std::vector<int64_t>, K> bytes;   // byte strides per operand, same order
  int64_t numel = 1;
};

// Operand k is viewed with `strides[k]` (elements) and `elsize[k]` bytes per element over `shape`.
template <int K>
StridedLayout<K> make_layout(const Shape& shape, const std::array<const Shape*, K>& strides,
                             const std::array<int64_t, K>& elsize);

// Calls row(ptrs, inner_byte_strides, n) for every inner row; splits across threads when
// the total work passes `grain` elements.
template <int K, class F>
void for_each_row(const StridedLayout<K>& L, std::array<char*, K> base, int64_t grain, const F& row) {
  if (L.numel == 0) return;
  const int64_t nd = int64_t(L.sizes.size());
  if (nd == 0) {
    std::array<int64_t, K> z{};
    row(base, z, int64_t(1));
    return;
  }
  const int64_t inner = L.sizes[nd - 1];
  std::array<int64_t, K> inner_st;
  for (int k = 0; k < K; ++k) inner_st[k] = L.bytes[k][nd - 1];
  const int64_t rows = L.numel / inner;
  if (rows == 1) {
    // One long row: split it.
    parallel_for(0, inner, grain, [&](int64_t lo, int64_t hi) {
      std::array<char*, K> p;
      for (int k = 0; k < K; ++k) p[k] = base[k] + lo * inner_st[k];
      row(p, inner_st, hi - lo);
    });
    return;
  }
  parallel_for(0, rows, std::max<int64_t>(1, grain / inner), [&](int64_t lo, int64_t hi) {
    // Decompose the first row index into a multi-index over the outer dims.
    std::vector<int64_t> idx(nd - 1);
    std::array<char*, K> p = base;
    int64_t r = lo;
    for (int64_t d = nd - 2; d >= 0; --d) {
      idx[d] = r % L.sizes[d];
      r /= L.sizes[d];
      for (int k = 0; k < K; ++k) p[k] += idx[d] * L.bytes[k][d];
    }
    for (int64_t i = lo; i < hi; ++i) {
      row(p, inner_st, inner);
      for (int64_t d = nd - 2; d >= 0; --d) {
        for (int k = 0; k < K; ++k) p[k] += L.bytes[k][d];
        if (++idx[d] < L.sizes[d]) break;
        for (int k = 0; k < K; ++k) p[k] -= L.bytes[k][d] * L.sizes[d];
        idx[d] = 0;
      }
    }
  });
}

}  // namespace lamina

#include "core/iterate.h"

namespace lamina {

template <int K>
StridedLayout<K> make_layout(const Shape& shape, const std::array<const Shape*, K>& strides,
                             const std::array<int64_t, K>& elsize) {
  StridedLayout<K> L;
  L.numel = numel_of(shape);
  const size_t nd = shape.size();
  for (size_t d = 0; d < nd; ++d) {
    if (shape[d] == 1) continue;
    bool merge = !L.sizes.empty();
    for (int k = 0; k < K && merge; ++k) {
      int64_t off = int64_t(strides[k]->size()) - int64_t(nd);  // operands may have fewer dims (broadcast)
      int64_t st = int64_t(d) + off >= 0 ? (*strides[k])[d + off] * elsize[k] : 0;
      merge = L.bytes[k].back() == st * shape[d];
    }
    if (merge) {
      L.sizes.back() *= shape[d];
      for (int k = 0; k < K; ++k) {
        int64_t off = int64_t(strides[k]->size()) - int64_t(nd);
        L.bytes[k].back() = int64_t(d) + off >= 0 ? (*strides[k])[d + off] * elsize[k] : 0;
      }
    } else {
      L.sizes.push_back(shape[d]);
      for (int k = 0; k < K; ++k) {
        int64_t off = int64_t(strides[k]->size()) - int64_t(nd);
        L.bytes[k].push_back(int64_t(d) + off >= 0 ? (*strides[k])[d + off] * elsize[k] : 0);
      }
    }
  }
  return L;
}

template StridedLayout<1> make_layout<1>(const Shape&, const std::array<const Shape*, 1>&, const std::array<int64_t, 1>&);
template StridedLayout<2> make_layout<2>(const Shape&, const std::array<const Shape*, 2>&, const std::array<int64_t, 2>&);
template StridedLayout<3> make_layout<3>(const Shape&, const std::array<const Shape*, 3>&, const std::array<int64_t, 3>&);
template StridedLayout<4> make_layout<4>(const Shape&, const std::array<const Shape*, 4>&, const std::array<int64_t, 4>&);

}  // namespace lamina

// The GEMM's register tile, shared by the GEMM (B read from packed micro-panels) and the direct
// convolution (B rows read straight from the input planes through a table of tap offsets):
// MR rows of A times NR = 2 vectors of B, the MR x NR block of C held in registers for the whole
// K loop. MR fills the register file of the ISA this file is compiled for.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu/vec.h"

namespace lamina::cpu::LAMINA_ISA {

// 64-byte vectors: 14 x 2 zmm accumulators + 2 B vectors + 1 broadcast = 31 of 32 registers;
// 32-byte: 6 x 2 ymm accumulators + 2 + 1 = 15 of 16; SSE2: 4 x 2 xmm accumulators.
constexpr int kTileRows = kVecBytes == 64 ? 14 : kVecBytes == 32 ? 6 : 4;

template <class T>
struct Tile {
  using V = LanesT<T>;
  using VU = LanesU<T>;                // V at element alignment
  static constexpr int L = kLanes<T>;  // lanes per vector
  static constexpr int MR = kTileRows;
  static constexpr int NV = 2;         // vectors per row of the tile
  static constexpr int NR = NV * L;
};

// acc[i][j] = sum over k < kc of A[k][i] * B[k][j * L ..] for i < M, j < N (the rest of acc
// zero), with arow(k) the address of A's M values for k (an A micro-panel: Ap + k * MR) and
// brow(k) the address of B row k: its vector j (L values, 64-byte aligned when kAligned) at
// brow(k) + j * vs (vs = L: N * L contiguous values).
// When `next` is given, the first 2 * next_rows iterations each fetch one line of the next C
// tile (rows of NR values, ldc apart): its lines arrive while this tile computes, and one line
// per k keeps the outstanding misses well within the L1 miss buffers, which the whole tile
// requested at once would overrun and stall on.
template <class T, bool kAligned, int M, int N, class ARow, class BRow>
inline void tile_product(int64_t kc, const ARow& arow, const BRow& brow,
                         typename Tile<T>::V (&acc)[Tile<T>::MR][Tile<T>::NV], const T* next, int64_t ldc,
                         int64_t next_rows, int64_t vs) {
  using S = Tile<T>;
  using V = typename S::V;
  constexpr int MR = S::MR, NV = S::NV, NR = S::NR;
  // Summed in a local array, which stays in registers: acc, reached through a reference, might
  // alias what brow reads, and would be stored back on every k.
  V c[M][N];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < N; ++j) c[i][j] = V{};
  auto step = [&](int64_t k) __attribute__((always_inline)) {
    const T* b = brow(k);
    V bv[N];
#pragma GCC unroll 4
    for (int j = 0; j < N; ++j) {
      if constexpr (kAligned) bv[j] = *reinterpret_cast<const V*>(b + j * vs);
      else bv[j] = load_lanes(b + j * vs);
    }
    const T* a = arow(k);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      T ai = a[i];
#pragma GCC unroll 4
      for (int j = 0; j < N; ++j) c[i][j] += bv[j] * ai;
    }
  };
  const int64_t kp = next ? std::min(kc, 2 * next_rows) : 0;
  for (int64_t k = 0; k < kp; ++k) {
    step(k);
    __builtin_prefetch(next + (k >> 1) * ldc + (k & 1) * (NR - 1), 1, 2);
  }
#pragma GCC unroll 4
  for (int64_t k = kp; k < kc; ++k) step(k);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[i][j] = i < M && j < N ? c[i][j] : V{};
}

// The tile product for the top-left mr x nr of the tile (B rows need only nr values): the
// whole-tile loop, or a narrower one (one vector of B; MR/2, MR/4 or one row of A) where that
// covers the fringe, so a tile of a few leftover rows or columns costs in proportion to its size.
template <class T, bool kAligned, class ARow, class BRow>
inline void tile_product(int64_t mr, int64_t nr, int64_t kc, const ARow& arow, const BRow& brow,
                         typename Tile<T>::V (&acc)[Tile<T>::MR][Tile<T>::NV], const T* next = nullptr,
                         int64_t ldc = 0, int64_t next_rows = 0, int64_t vs = Tile<T>::L) {
  using S = Tile<T>;
  constexpr int MR = S::MR, M2 = (MR + 1) / 2, M4 = (MR + 3) / 4;
  auto rows = [&](auto n) __attribute__((always_inline)) {
    constexpr int N = decltype(n)::value;
    if (mr > M2) tile_product<T, kAligned, MR, N>(kc, arow, brow, acc, next, ldc, next_rows, vs);
    else if (mr > M4) tile_product<T, kAligned, M2, N>(kc, arow, brow, acc, next, ldc, next_rows, vs);
    else if (mr > 1) tile_product<T, kAligned, M4, N>(kc, arow, brow, acc, next, ldc, next_rows, vs);
    else tile_product<T, kAligned, 1, N>(kc, arow, brow, acc, next, ldc, next_rows, vs);
  };
  if (nr > S::L) rows(std::integral_constant<int, 2>{});
  else rows(std::integral_constant<int, 1>{});
}

// The tile into buf as MR rows of NR values (for stores of a partial tile).
template <class T>
inline void spill_tile(const typename Tile<T>::V (&acc)[Tile<T>::MR][Tile<T>::NV], T* buf) {
  using S = Tile<T>;
  for (int i = 0; i < S::MR; ++i)
    for (int j = 0; j < S::NV; ++j) std::memcpy(buf + i * S::NR + j * S::L, &acc[i][j], sizeof(acc[i][j]));
}

// The top-left mr x nr of the tile written to C (rows ldc apart), or added to it with `add`:
// whole vectors for a full tile, element by element through a spilled copy otherwise.
template <class T>
inline void store_tile(const typename Tile<T>::V (&acc)[Tile<T>::MR][Tile<T>::NV], T* C, int64_t ldc, bool add,
                       int64_t mr, int64_t nr) {
  using S = Tile<T>;
  using VU = typename S::VU;
  constexpr int MR = S::MR, NV = S::NV, NR = S::NR, L = S::L;
  if (mr == MR && nr == NR) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) {
        VU* c = reinterpret_cast<VU*>(C + i * ldc + j * L);
        *c = add ? *c + acc[i][j] : acc[i][j];
      }
    return;
  }
  alignas(64) T buf[MR * NR];
  spill_tile<T>(acc, buf);
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t j = 0; j < nr; ++j) C[i * ldc + j] = add ? C[i * ldc + j] + buf[i * NR + j] : buf[i * NR + j];
}

}  // namespace lamina::cpu::LAMINA_ISA

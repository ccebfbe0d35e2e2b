// GEMM, Goto/BLIS style, compiled once per ISA (see CMakeLists.txt).
//
//   C (M x N, row stride ldc) = A (M x K, strides rsa/csa) * B (K x N, strides rsb/csb)
//                               [+ bias per column] [-> activation]
//
// Blocking: for each KC-deep slice of K, B's columns are packed into NR-wide micro-panels
// (all of them, or as many as about 8 MiB holds); then for each chunk of at most MC rows, A's
// rows are packed into MR-high micro-panels, and for each NC-wide column block of the packed B
// (which stays in L2 while it is used) the micro-kernel multiplies A micro-panels by B
// micro-panels, the MR x NR tile of C held in registers for the whole KC loop. One of the two
// micro-panels stays in L1 while the other kind streams past it from L2:
// a B micro-panel (NR values per k) where it fits in L1 beside an A one, else an A micro-panel
// (MR values per k; a full-depth B micro-panel would fill L1 on its own). Packing reads A and
// B through their strides, so transposed or sliced operands cost nothing extra. MC/KC/NC come
// from the caller, derived from the detected cache sizes; MR/NR come from the register file of
// the ISA this file is compiled for. Vectors are GCC vector extensions, so the same source
// becomes AVX-512, AVX2 or SSE2 code and -mfma turns acc += a * b into fused multiply-adds.
//
// Small or skinny products (few rows, or little work in total) skip packing: rows of C are
// built as AXPYs over contiguous rows of B, or as dot products when B is stored transposed.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/cpu_features.h"
#include "core/parallel.h"
#include "core/scratch.h"
#include "cpu/gemm_tile.h"
#include "cpu/kernels.h"

namespace lamina::cpu::LAMINA_ISA {
#include "cpu/fast_math.h"
namespace {

// Packing buffers, kept per thread and grown on demand: a fresh allocation per call would
// come from mmap and pay a page fault per 4 KiB on every product.
template <class T>
T* scratch(ScratchSlot slot, int64_t n) {
  return static_cast<T*>(thread_scratch(slot, n * int64_t(sizeof(T)) + 64));
}

// ---- epilogue: bias per column and per row, then the activation
template <class T>
inline T activate(T v, int act) {
  switch (act) {
    case 1: return v > T(0) ? v : T(0);
    case 2: return T(0.5) * v * verfc(-v * T(0.70710678118654752440));
    case 3: {
      T u = T(0.79788456080286535588) * (v + T(0.044715) * v * v * v);
      return v * vsigmoid(T(2) * u);
    }
    case 4: return v * vsigmoid(v);
    default: return v;
  }
}

template <class T>
void epilogue(T* C, int64_t ldc, int64_t mr, int64_t nr, const T* bias, const T* row_bias, int act) {
  if (!bias && !row_bias && !act) return;
  for (int64_t i = 0; i < mr; ++i) {
    T* row = C + i * ldc;
    if (bias)
      for (int64_t j = 0; j < nr; ++j) row[j] += bias[j];
    if (row_bias)
      for (int64_t j = 0; j < nr; ++j) row[j] += row_bias[i];
    if (act)
      for (int64_t j = 0; j < nr; ++j) row[j] = activate(row[j], act);
  }
}

// ---- micro-kernel: C[mr x nr] (+)= Ap (MR x kc, packed) * Bp (kc x NR, packed) [+ col_bias
// (nr values) + row_bias (mr values)], the biases added in registers before the store; the
// rows of the C tile that comes next (`next`, `next_rows` of them) are fetched during the K loop.
template <class T>
void micro_kernel(int64_t kc, const T* __restrict Ap, const T* __restrict Bp, T* C, int64_t ldc, bool add,
                  int64_t mr, int64_t nr, const T* next, int64_t next_rows, const T* col_bias, const T* row_bias) {
  using S = Tile<T>;
  constexpr int MR = S::MR, NV = S::NV, NR = S::NR, L = S::L;
  typename S::V acc[MR][NV];
  tile_product<T, true>(
      mr, nr, kc, [Ap](int64_t k) { return Ap + k * S::MR; }, [Bp](int64_t k) { return Bp + k * S::NR; }, acc, next, ldc,
      next_rows);
  if (col_bias || row_bias) {
    alignas(64) T cb[NR] = {}, rb[MR] = {};
    if (col_bias) std::memcpy(cb, col_bias, sizeof(T) * size_t(nr));
    if (row_bias) std::memcpy(rb, row_bias, sizeof(T) * size_t(mr));
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NV; ++j) acc[i][j] += load_lanes(cb + j * L) + rb[i];
  }
  store_tile<T>(acc, C, ldc, add, mr, nr);
}

// ---- packing: zero-padded micro-panels, reading through any strides

// `panels` whole micro-panels of width W (k-major, W values per k, kc values of k each) from
// an operand whose values for one k lie in a contiguous run at src + k * ld (row-major B,
// column-major A): a group of panels at a time, k by k, so each run is read whole instead of
// W values from a different page per k and panel. Runs lie ld apart, a stride the hardware
// prefetchers may not follow: the run four k ahead is requested. Eight panels a group: for the
// AVX2 A tile (a K = 8192 product's transposed A), groups of 4, 16, 21 or 32 packed 1.2-1.5x
// slower.
template <int W, class T>
void pack_runs(const T* src, int64_t ld, int64_t kc, int64_t panels, T* dst) {
  constexpr int64_t kGroup = 8, kAhead = 4, kLine = 64 / int64_t(sizeof(T));
  for (int64_t p0 = 0; p0 < panels; p0 += kGroup) {
    const int64_t p1 = std::min(panels, p0 + kGroup);
    for (int64_t k = 0; k < kc; ++k) {
      const T* run = src + k * ld;
      if (k + kAhead < kc)
        for (int64_t e = p0 * W; e < p1 * W; e += kLine) __builtin_prefetch(run + kAhead * ld + e);
      for (int64_t p = p0; p < p1; ++p) std::memcpy(dst + (p * kc + k) * W, run + p * W, sizeof(T) * W);
    }
  }
}

template <class T>
void pack_a(const T* A, int64_t rsa, int64_t csa, int64_t mc, int64_t kc, T* Ap) {
  constexpr int MR = Tile<T>::MR;
  int64_t ip = 0;
  if (rsa == 1 && csa != 1) {  // column-major A (a transposed operand): whole panels as runs
    pack_runs<MR>(A, csa, kc, mc / MR, Ap);
    ip = mc / MR * MR;
  }
  for (; ip < mc; ip += MR) {
    int64_t mr = std::min<int64_t>(MR, mc - ip);
    T* dst = Ap + ip * kc;
    if (csa == 1 && mr == MR) {
      // All MR rows advance together, read as MR sequential streams: L values of L rows at a
      // time, transposed in registers into L runs of the panel, then the last k one by one.
      constexpr int L = Tile<T>::L;
      const T* rows[MR];
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) rows[i] = A + (ip + i) * rsa;
      int64_t k = 0;
      for (; k + L <= kc; k += L)
        for (int r0 = 0; r0 < MR; r0 += L) {
          const int n = std::min(L, MR - r0);
          LanesT<T> v[L];
          for (int r = 0; r < L; ++r) v[r] = r < n ? load_lanes(rows[r0 + r] + k) : LanesT<T>{};
          // The same line of the next panel's rows: MR short streams the prefetchers miss.
          for (int r = 0; r < n; ++r) __builtin_prefetch(rows[r0 + r] + k + MR * rsa);
          transpose_lanes<T>(v);
          for (int c = 0; c < L; ++c) {
            // A whole vector spills past the run into the first lanes of the next, whose own
            // store comes after and overwrites them; the panel's last run is stored exactly.
            T* d = dst + (k + c) * MR + r0;
            if (n == L || (r0 == 0 && (c + 1 < L || k + L < kc))) store_lanes(d, v[c]);
            else std::memcpy(d, &v[c], sizeof(T) * size_t(n));
          }
        }
      for (; k < kc; ++k)
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) dst[k * MR + i] = rows[i][k];
      continue;
    }
    if (csa == 1) {
      for (int64_t i = 0; i < mr; ++i) {
        const T* row = A + (ip + i) * rsa;
        for (int64_t k = 0; k < kc; ++k) dst[k * MR + i] = row[k];
      }
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        const T* col = A + k * csa + ip * rsa;
        for (int64_t i = 0; i < mr; ++i) dst[k * MR + i] = col[i * rsa];
      }
    }
    for (int64_t i = mr; i < MR; ++i)
      for (int64_t k = 0; k < kc; ++k) dst[k * MR + i] = T(0);
  }
}

template <class T>
void pack_b_panel(const T* B, int64_t rsb, int64_t csb, int64_t kc, int64_t nr, T* dst) {
  constexpr int NR = Tile<T>::NR, L = Tile<T>::L;
  if (csb == 1 && nr == NR) {
    for (int64_t k = 0; k < kc; ++k) std::memcpy(dst + k * NR, B + k * rsb, sizeof(T) * NR);
    return;
  }
  int64_t k0 = 0;
  if (rsb == 1 && nr == NR) {
    // Column-major B (a transposed operand, or the patches of a weight gradient): L x L blocks,
    // L columns read as runs of L values, transposed in registers into L rows of the panel.
    for (; k0 + L <= kc; k0 += L)
      for (int jb = 0; jb < NR; jb += L) transpose_block(B + jb * csb + k0, csb, dst + k0 * NR + jb, NR);
    if (k0 == kc) return;
  }
  if (rsb == 1) {
    for (int64_t j = 0; j < nr; ++j) {
      const T* col = B + j * csb;
      for (int64_t k = k0; k < kc; ++k) dst[k * NR + j] = col[k];
    }
  } else {
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t j = 0; j < nr; ++j) dst[k * NR + j] = B[k * rsb + j * csb];
  }
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t j = nr; j < NR; ++j) dst[k * NR + j] = T(0);
}

// The n columns of B (kc rows) from column 0 on into ceil(n / NR) micro-panels at dst; the
// whole panels of a row-major B as runs (pack_runs).
template <class T>
void pack_b_panels(const T* B, int64_t rsb, int64_t csb, int64_t kc, int64_t n, T* dst) {
  constexpr int NR = Tile<T>::NR;
  const int64_t full = csb == 1 ? n / NR : 0;
  pack_runs<NR>(B, rsb, kc, full, dst);
  for (int64_t jr = full; jr * NR < n; ++jr)
    pack_b_panel(B + jr * NR * csb, rsb, csb, kc, std::min<int64_t>(NR, n - jr * NR), dst + jr * NR * kc);
}

template <class T>
void gemm_packed(const GemmArgs& g) {
  using S = Tile<T>;
  constexpr int MR = S::MR, NR = S::NR;
  const T* A = reinterpret_cast<const T*>(g.A);
  const T* B = reinterpret_cast<const T*>(g.B);
  T* C = reinterpret_cast<T*>(g.C);
  const T* bias = reinterpret_cast<const T*>(g.bias);
  const T* row_bias = reinterpret_cast<const T*>(g.row_bias);
  const int64_t M = g.M, N = g.N, K = g.K;
  const int64_t kc = std::min(K, std::max<int64_t>(16, g.kc));
  const int64_t nc = std::max<int64_t>(NR, g.nc / NR * NR);
  // Rows in chunks of at most MC (even ones), which bounds the packed A.
  const int64_t mc = std::max<int64_t>(MR, g.mc), tiles = (M + MR - 1) / MR, chunks = (tiles * MR + mc - 1) / mc,
                chunk = (tiles + chunks - 1) / chunks;
  const T* const aprepacked = reinterpret_cast<const T*>(g.Apacked);
  const T* const bprepacked = reinterpret_cast<const T*>(g.Bpacked);
  // B is packed in blocks of one K slice by up to nsb columns (whole NC blocks), each by the
  // whole team before any row chunk uses it, and once however many row chunks there are.
  // Blocks alternate between two buffers, so the threads meet once per block: a thread done
  // with block b packs its part of block b + 1 into the other buffer (which every thread left
  // before the last meeting), taking groups of micro-panels from a shared counter, so that a
  // thread that finishes early packs more while the other is still computing.
  constexpr int64_t kBBlockBytes = int64_t(8) << 20, kGroup = 4;
  const int64_t n_pad = (N + NR - 1) / NR * NR;
  const int64_t nsb = bprepacked ? n_pad : std::min(n_pad, std::max(nc, kBBlockBytes / (kc * int64_t(sizeof(T))) / nc * nc));
  // Shared by the team: the chunk's rows of A for one K slice, and two blocks of B.
  T* const apack = aprepacked ? nullptr : scratch<T>(ScratchSlot::GemmA, chunk * MR * kc);
  T* const bpack = bprepacked ? nullptr : scratch<T>(ScratchSlot::GemmB, 2 * nsb * kc);
  std::atomic<int64_t> groups_taken{0};  // micro-panel groups handed out, over all blocks
  // The tiles' loops: each B micro-panel (NR values per k) kept in L1 across the A micro-panels
  // (MR values per k) streaming from L2 where the two fit in L1 together, which moves the
  // fewest bytes from L2; else, an A micro-panel kept in L1 across the B micro-panels of one
  // NC block (which stays in L2).
  const bool b_outer = kc * (MR + NR) * int64_t(sizeof(T)) <= cpu_info().l1d;
  const int64_t n_jb = (N + nsb - 1) / nsb, blocks = (K + kc - 1) / kc * n_jb;
  // Block b of B: K slice b / n_jb (from row pc, kcur deep), columns from jb (nbcur of them);
  // packed into buffer b % 2.
  struct Block {
    int64_t pc, jb, kcur, nbcur;
  };
  auto block_at = [&](int64_t b) {
    const int64_t pc = b / n_jb * kc, jb = b % n_jb * nsb;
    return Block{pc, jb, std::min(kc, K - pc), std::min(nsb, N - jb)};
  };
  parallel_team([&](int t, int nt) {
    auto share = [&](int64_t lo, int64_t hi) {
      return std::pair<int64_t, int64_t>(lo + (hi - lo) * t / nt, lo + (hi - lo) * (t + 1) / nt);
    };
    int64_t groups_before = 0;  // groups of the blocks before the one being packed
    auto pack_block = [&](int64_t b) {
      const auto [pc, jb, kcur, nbcur] = block_at(b);
      const int64_t panels = (nbcur + NR - 1) / NR, end = groups_before + (panels + kGroup - 1) / kGroup;
      T* const dst = bpack + (b % 2) * nsb * kc;
      for (int64_t i = groups_taken.load(std::memory_order_relaxed); i < end;) {
        if (!groups_taken.compare_exchange_weak(i, i + 1, std::memory_order_relaxed)) continue;
        const int64_t q0 = (i - groups_before) * kGroup, q1 = std::min(panels, q0 + kGroup);
        pack_b_panels(B + pc * g.rsb + (jb + q0 * NR) * g.csb, g.rsb, g.csb, kcur, std::min(nbcur, q1 * NR) - q0 * NR,
                      dst + q0 * NR * kcur);
        i = groups_taken.load(std::memory_order_relaxed);
      }
      groups_before = end;
    };
    if (!bprepacked) {
      pack_block(0);
      team_barrier(nt);
    }
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const Block bk = block_at(blk);  // plain names: the tiles' lambdas capture them
      const int64_t pc = bk.pc, jb = bk.jb, kcur = bk.kcur, nbcur = bk.nbcur;
      const bool add = pc > 0 || g.accumulate, last = pc + kcur >= K;
      // B micro-panel jr (from column jc on) of this K slice: packed, or in the prepacked B.
      const T* const bblock = bpack ? bpack + (blk % 2) * nsb * kc : nullptr;
      auto b_panel = [&](int64_t jc, int64_t jr) {
        return bprepacked ? bprepacked + (jc / NR + jr) * NR * K + pc * NR : bblock + ((jc - jb) / NR + jr) * NR * kcur;
      };
      for (int64_t ic = 0; ic < tiles; ic += chunk) {
        const int64_t ic_end = std::min(tiles, ic + chunk);
        // With enough rows, each thread takes an equal share of the chunk's A micro-panels
        // (packing them itself) and sweeps every B micro-panel with each; otherwise the
        // threads split B's.
        const bool split_rows = ic_end - ic >= 2 * int64_t(nt);
        const auto [p0, p1] = split_rows ? share(ic, ic_end) : std::pair<int64_t, int64_t>(ic, ic_end);
        // A thread's own panels (split rows) start where they would for a full KC slice, so
        // that packing the next slice (shallower panels) never reaches another thread's
        // current ones.
        T* const own = apack ? apack + (split_rows ? (p0 - ic) * MR * kc : 0) : nullptr;
        const int64_t own_row = split_rows ? p0 * MR : ic * MR;
        if (!aprepacked) {
          if (!split_rows) team_barrier(nt);  // every thread is done with the previous panels
          const auto [q0, q1] = split_rows ? std::pair<int64_t, int64_t>(p0, p1) : share(ic, ic_end);
          if (q0 < q1)
            pack_a(A + q0 * MR * g.rsa + pc * g.csa, g.rsa, g.csa, std::min(M, q1 * MR) - q0 * MR, kcur,
                   own + (q0 * MR - own_row) * kcur);
          if (!split_rows) team_barrier(nt);
        }
        // The A micro-panel of this K slice holding row ir: packed above, or in the prepacked A.
        auto a_panel = [&](int64_t ir) { return aprepacked ? aprepacked + ir * K + pc * MR : own + (ir - own_row) * kcur; };
        const int64_t r0 = p0 * MR, r1 = std::min(M, p1 * MR);
        for (int64_t jc = jb; jc < jb + nbcur; jc += nc) {
          const int64_t ncur = std::min(nc, jb + nbcur - jc), n_jr = (ncur + NR - 1) / NR;
          const auto [j0, j1] = split_rows ? std::pair<int64_t, int64_t>(0, n_jr) : share(0, n_jr);
          auto tile = [&](int64_t ir, int64_t jr, const T* next, int64_t next_rows) {
            const int64_t mr = std::min<int64_t>(MR, r1 - ir), nr = std::min<int64_t>(NR, ncur - jr * NR);
            T* c = C + ir * g.ldc + jc + jr * NR;
            micro_kernel<T>(kcur, a_panel(ir), b_panel(jc, jr), c, g.ldc, add, mr, nr, next, next_rows,
                            last && bias ? bias + jc + jr * NR : nullptr, last && row_bias ? row_bias + ir : nullptr);
            if (last && g.act) epilogue<T>(c, g.ldc, mr, nr, nullptr, nullptr, g.act);
          };
          // Each tile is passed the address of the one computed next, whose lines it fetches.
          if (b_outer) {
            for (int64_t jr = j0; jr < j1; ++jr)
              for (int64_t ir = r0; ir < r1; ir += MR) {
                const T* c = C + ir * g.ldc + jc + jr * NR;
                const bool col_end = ir + MR >= r1;
                tile(ir, jr, !col_end ? c + MR * g.ldc : jr + 1 < j1 ? C + r0 * g.ldc + jc + (jr + 1) * NR : nullptr,
                     std::min<int64_t>(MR, !col_end ? r1 - ir - MR : r1 - r0));
              }
          } else {
            for (int64_t ir = r0; ir < r1; ir += MR)
              for (int64_t jr = j0; jr < j1; ++jr) {
                const T* c = C + ir * g.ldc + jc + jr * NR;
                const bool row_end = jr + 1 == j1;
                tile(ir, jr, !row_end ? c + NR : ir + MR < r1 ? C + (ir + MR) * g.ldc + jc + j0 * NR : nullptr,
                     !row_end ? std::min<int64_t>(MR, r1 - ir) : std::min<int64_t>(MR, r1 - ir - MR));
              }
          }
        }
      }
      if (!bprepacked && blk + 1 < blocks) {
        pack_block(blk + 1);
        team_barrier(nt);  // block blk + 1 is packed, and no thread still reads block blk - 1's buffer
      }
    }
  });
}

// ---- small and skinny products: no packing

// out[u] = a . b_u for the nb <= 4 columns b_u = b + u * cs (K contiguous values each, like a):
// one load of a feeds four columns, two accumulators per column cover the FMA latency. Columns
// past nb repeat the last one (computed, not stored), so the loop has no column test.
template <class T>
inline void dot4(const T* a, const T* b, int64_t cs, int64_t K, int nb, T* out) {
  using V = LanesT<T>;
  constexpr int L = kLanes<T>;
  const T* col[4];
  for (int u = 0; u < 4; ++u) col[u] = b + std::min(u, nb - 1) * cs;
  V s0[4] = {}, s1[4] = {};
  int64_t k = 0;
  for (; k + 2 * L <= K; k += 2 * L) {
    const V a0 = load_lanes(a + k), a1 = load_lanes(a + k + L);
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) {
      s0[u] += a0 * load_lanes(col[u] + k);
      s1[u] += a1 * load_lanes(col[u] + k + L);
    }
  }
  if (k + L <= K) {
    const V a0 = load_lanes(a + k);
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) s0[u] += a0 * load_lanes(col[u] + k);
    k += L;
  }
  T r[4];
#pragma GCC unroll 4
  for (int u = 0; u < 4; ++u) r[u] = hsum<T>(s0[u] + s1[u]);
  for (; k < K; ++k)
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) r[u] += a[k] * col[u][k];
  for (int u = 0; u < nb; ++u) out[u] = r[u];
}

template <class T>
void gemm_direct(const GemmArgs& g) {
  const T* A = reinterpret_cast<const T*>(g.A);
  const T* B = reinterpret_cast<const T*>(g.B);
  T* C = reinterpret_cast<T*>(g.C);
  const T* bias = reinterpret_cast<const T*>(g.bias);
  const T* row_bias = reinterpret_cast<const T*>(g.row_bias);
  const int64_t M = g.M, N = g.N, K = g.K;
  // B stored transposed (or a single column): rows of A dot columns of B, both contiguous.
  const bool dots = g.rsb == 1 && g.csa == 1 && (g.csb != 1 || N == 1);
  auto rows = [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    for (int64_t i = i0; i < i1; ++i) {
      T* c = C + i * g.ldc;
      const T* a = A + i * g.rsa;
      if (dots) {
        for (int64_t j = j0; j < j1; j += 4) {
          const int nb = int(std::min<int64_t>(4, j1 - j));
          T d[4];
          dot4(a, B + j * g.csb, g.csb, K, nb, d);
          for (int u = 0; u < nb; ++u) c[j + u] = g.accumulate ? c[j + u] + d[u] : d[u];
        }
      } else {
        if (!g.accumulate)
          for (int64_t j = j0; j < j1; ++j) c[j] = T(0);
        for (int64_t k = 0; k < K; ++k) {
          const T av = a[k * g.csa];
          const T* b = B + k * g.rsb;
          if (g.csb == 1)
            for (int64_t j = j0; j < j1; ++j) c[j] += av * b[j];
          else
            for (int64_t j = j0; j < j1; ++j) c[j] += av * b[j * g.csb];
        }
      }
      epilogue<T>(c + j0, g.ldc, 1, j1 - j0, bias ? bias + j0 : nullptr, row_bias ? row_bias + i : nullptr, g.act);
    }
  };
  if (M >= g.threads || N < 64) {
    parallel_for(0, M, std::max<int64_t>(1, 4096 / std::max<int64_t>(N * K, 1)), [&](int64_t lo, int64_t hi) { rows(lo, hi, 0, N); });
  } else {
    parallel_for(0, N, std::max<int64_t>(16, 4096 / std::max<int64_t>(K, 1)), [&](int64_t lo, int64_t hi) { rows(0, M, lo, hi); });
  }
}

template <class T>
void gemm(const GemmArgs& g) {
  if (g.M == 0 || g.N == 0) return;
  if (g.K == 0) {
    T* C = reinterpret_cast<T*>(g.C);
    if (!g.accumulate)
      for (int64_t i = 0; i < g.M; ++i) std::memset(C + i * g.ldc, 0, size_t(g.N) * sizeof(T));
    epilogue<T>(C, g.ldc, g.M, g.N, reinterpret_cast<const T*>(g.bias), reinterpret_cast<const T*>(g.row_bias), g.act);
    return;
  }
  // Packing pays off once each packed element is reused enough times (from about 16^3 on:
  // 20 x 20 x 20 already runs in 60% of the direct loops' time).
  const bool small = g.M <= 4 || g.N <= 2 || double(g.M) * double(g.N) * double(g.K) < 16.0 * 16.0 * 16.0;
  if (small && !g.Apacked && !g.Bpacked) gemm_direct<T>(g);
  else gemm_packed<T>(g);
}

template <class T>
void gemm_pack_a(int64_t M, int64_t K, const char* A, int64_t rsa, int64_t csa, char* out) {
  pack_a(reinterpret_cast<const T*>(A), rsa, csa, M, K, reinterpret_cast<T*>(out));
}

template <class T>
void gemm_pack_b(int64_t K, int64_t N, const char* B, int64_t rsb, int64_t csb, char* out) {
  pack_b_panels(reinterpret_cast<const T*>(B), rsb, csb, K, N, reinterpret_cast<T*>(out));
}

// Single-thread FMA throughput: independent accumulator chains, enough to cover the FMA
// latency on every port.
double fma_peak_gflops(double seconds) {
  using V = LanesT<float>;
  constexpr int L = kLanes<float>, NACC = kVecBytes == 64 ? 24 : 12;
  V acc[NACC];
  for (int i = 0; i < NACC; ++i) acc[i] = V{} + float(i) * 1e-3f;
  const V m = V{} + 0.999999f, a = V{} + 1e-7f;
  int64_t iters = 0;
  auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    for (int r = 0; r < 4096; ++r) {
#pragma GCC unroll 24
      for (int i = 0; i < NACC; ++i) acc[i] = acc[i] * m + a;
    }
    iters += 4096;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  float sink = 0;
  for (int i = 0; i < NACC; ++i)
    for (int l = 0; l < L; ++l) sink += acc[i][l];
  volatile float keep = sink;
  (void)keep;
  return double(iters) * NACC * L * 2 / elapsed / 1e9;
}

}  // namespace
}  // namespace lamina::cpu::LAMINA_ISA

namespace lamina::cpu {

void LAMINA_ISA_FN(register_gemm, LAMINA_ISA)(Kernels& k) {
  using namespace LAMINA_ISA;
  k.gemm[int(DType::Float32)] = gemm<float>;
  k.gemm[int(DType::Float64)] = gemm<double>;
  k.gemm_pack_a[int(DType::Float32)] = gemm_pack_a<float>;
  k.gemm_pack_a[int(DType::Float64)] = gemm_pack_a<double>;
  k.gemm_pack_b[int(DType::Float32)] = gemm_pack_b<float>;
  k.gemm_pack_b[int(DType::Float64)] = gemm_pack_b<double>;
  k.gemm_tile[int(DType::Float32)][0] = Tile<float>::MR;
  k.gemm_tile[int(DType::Float32)][1] = Tile<float>::NR;
  k.gemm_tile[int(DType::Float64)][0] = Tile<double>::MR;
  k.gemm_tile[int(DType::Float64)][1] = Tile<double>::NR;
  k.fma_peak = fma_peak_gflops;
}

}  // namespace lamina::cpu

// Convolution as implicit GEMM. Per image and group, the output (O/G x OH*OW) is the weight
// (O/G x K, K = C/G * KH * KW) times the patch matrix (K x OH*OW). The weight is packed once
// per call into the GEMM's micro-panel layout; the patch matrix is never built. The forward
// runs the direct kernel: the GEMM's register tile with B rows read straight from the padded
// input planes, one offset per tap (cpu/conv_kernels.cpp, conv_direct); strided convolutions
// read the padded planes split into their stride phases, where every tap is again a unit-stride
// row. 1x1 convolutions at stride 1 without padding are plain GEMMs over the image, and
// convolutions with one input channel per group and few filters (depthwise) run direct loops
// over planes. Input planes are padded per image on the thread that uses them.
//
// Gradients: dx per (image, group) is W^T times dy, tile by tile, added back into the image
// (col2im) — an image's tiles overlap there, so one thread owns each image — or, at stride 1,
// the forward of dy with the flipped weight. dW runs the direct weight-gradient kernel over a
// channels-last copy of each image's padded planes (backward_weight_direct) where the input
// channels per group fill the tile's columns; otherwise (and for 1x1) it is dy times the
// transposed patch matrix, whose tiles are copied into a per-thread panel (im2col) from the
// padded planes, accumulated per thread over its items and summed at the end.
#include "ops/conv.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/cpu_features.h"
#include "core/parallel.h"
#include "core/scratch.h"
#include "core/storage.h"
#include "cpu/kernels.h"
#include "ops/copy.h"
#include "ops/matmul.h"

namespace lamina {

namespace {

DType compute_dtype(DType t) { return t == DType::Float64 ? DType::Float64 : DType::Float32; }

// One convolution's sizes; geom describes one image and one group.
struct Plan {
  int64_t N = 0, C = 0, O = 0, G = 1, Cg = 0, Og = 0, H = 0, W = 0, OH = 0, OW = 0, KH = 0, KW = 0, K = 0, P = 0;
  cpu::ConvGeom geom;
  bool pointwise = false;  // 1x1 taps, stride 1, no padding: the image itself is the patch matrix
  bool depthwise = false;  // one input channel per group and few filters: direct loops per plane
};

int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t pb, int64_t pe, int64_t d) {
  return (in + pb + pe - d * (k - 1) - 1) / s + 1;
}

// Checks a convolution of an input (N, C, H, W) with a weight (O, C / groups, KH, KW); `xs` and
// `ws` are the shapes named in messages.
Plan make_plan(const Shape& xs, const Shape& ws, const ConvOptions& o, const char* op) {
  LAMINA_CHECK(xs.size() == 4, ValueError, "[", op, "] expected a 4-D input (N, C, H, W), got shape ", xs);
  LAMINA_CHECK(ws.size() == 4, ValueError, "[", op, "] expected a 4-D weight (out_channels, in_channels / groups, kH, kW), "
               "got shape ", ws);
  for (int i = 0; i < 2; ++i) {
    LAMINA_CHECK(o.stride[i] >= 1 && o.dilation[i] >= 1, ValueError, "[", op, "] stride and dilation must be positive, got "
                 "stride (", o.stride[0], ", ", o.stride[1], ") and dilation (", o.dilation[0], ", ", o.dilation[1], ")");
    LAMINA_CHECK(o.pad_begin[i] >= 0 && o.pad_end[i] >= 0, ValueError, "[", op, "] padding must be non-negative");
  }
  Plan p;
  p.N = xs[0]; p.C = xs[1]; p.H = xs[2]; p.W = xs[3];
  p.O = ws[0]; p.KH = ws[2]; p.KW = ws[3];
  p.G = o.groups;
  LAMINA_CHECK(p.G >= 1, ValueError, "[", op, "] groups must be positive, got ", p.G);
  LAMINA_CHECK(p.C % p.G == 0, ValueError, "[", op, "] input channels ", p.C, " (input shape ", xs,
               ") are not divisible by groups=", p.G);
  LAMINA_CHECK(p.O % p.G == 0, ValueError, "[", op, "] output channels ", p.O, " (weight shape ", ws,
               ") are not divisible by groups=", p.G);
  LAMINA_CHECK(ws[1] * p.G == p.C, ShapeError, "[", op, "] weight shape ", ws, " expects ", ws[1] * p.G,
               " input channels (", ws[1], " per group x groups=", p.G, "), but input shape ", xs, " has ", p.C);
  LAMINA_CHECK(p.KH >= 1 && p.KW >= 1, ValueError, "[", op, "] weight shape ", ws, " has an empty kernel");
  const int64_t eh = o.dilation[0] * (p.KH - 1) + 1, ew = o.dilation[1] * (p.KW - 1) + 1;
  const int64_t ph = p.H + o.pad_begin[0] + o.pad_end[0], pw = p.W + o.pad_begin[1] + o.pad_end[1];
  LAMINA_CHECK(eh <= ph && ew <= pw, ValueError, "[", op, "] kernel size (", eh, ", ", ew, ") (weight shape ", ws,
               ", dilation applied) is larger than the padded input (", ph, ", ", pw, ") of input shape ", xs);
  p.OH = out_size(p.H, p.KH, o.stride[0], o.pad_begin[0], o.pad_end[0], o.dilation[0]);
  p.OW = out_size(p.W, p.KW, o.stride[1], o.pad_begin[1], o.pad_end[1], o.dilation[1]);
  p.Cg = p.C / p.G;
  p.Og = p.O / p.G;
  p.K = p.Cg * p.KH * p.KW;
  p.P = p.OH * p.OW;
  p.geom = cpu::ConvGeom{p.Cg, p.H, p.W, p.OH, p.OW, p.KH, p.KW, o.stride[0], o.stride[1],
                         o.pad_begin[0], o.pad_begin[1], o.dilation[0], o.dilation[1]};
  p.pointwise = p.KH == 1 && p.KW == 1 && o.stride[0] == 1 && o.stride[1] == 1 && p.OH == p.H && p.OW == p.W &&
                o.pad_begin[0] == 0 && o.pad_begin[1] == 0;
  p.depthwise = p.Cg == 1 && p.Og <= 4;
  return p;
}

void check_tensor(const Tensor& t, const Tensor& x, const char* what, const char* op) {
  require_cpu(t, op);
  LAMINA_CHECK(is_floating(t.dtype()), TypeError, "[", op, "] expected a floating point ", what, ", got ",
               dtype_name(t.dtype()));
  LAMINA_CHECK(t.dtype() == x.dtype(), TypeError, "[", op, "] ", what, " dtype ", dtype_name(t.dtype()),
               " differs from input dtype ", dtype_name(x.dtype()));
}

// A per-thread buffer, grown on demand and reused across calls (a fresh one per call would
// fault in its pages every time); slot 0 holds patch panels, slot 1 padded input planes.
template <class T>
T* scratch(ScratchSlot slot, int64_t n) {
  return static_cast<T*>(thread_scratch(slot, n * int64_t(sizeof(T))));
}

template <class T> constexpr DType dtype_of() { return sizeof(T) == 8 ? DType::Float64 : DType::Float32; }

template <class T>
int tile(int which) { return cpu::kernels().gemm_tile[int(dtype_of<T>())][which]; }

// A GEMM operand: read through strides, or already in the GEMM's packed layout.
template <class T>
struct Operand {
  const T* data;
  int64_t rs = 0, cs = 0;
  bool packed = false;
};
template <class T> Operand<T> strided(const T* p, int64_t rs, int64_t cs) { return {p, rs, cs, false}; }
template <class T> Operand<T> packed(const T* p) { return {p, 0, 0, true}; }

// C (M x N, row stride ldc) (+)= A * B for a B of N columns, on `threads` threads. Blocking
// follows the cache sizes as for matmul (K cut into equal slices, though, so no thin last
// slice pays the C tile's loads and stores for little work).
template <class T>
void gemm(int64_t M, int64_t N, int64_t K, Operand<T> A, Operand<T> B, T* C, int64_t ldc, bool accumulate,
          int threads, const T* row_bias = nullptr) {
  const int64_t nr = tile<T>(1), es = sizeof(T);
  cpu::GemmArgs g;
  g.M = M; g.N = N; g.K = K;
  (A.packed ? g.Apacked : g.A) = reinterpret_cast<const char*>(A.data);
  g.rsa = A.rs; g.csa = A.cs;
  (B.packed ? g.Bpacked : g.B) = reinterpret_cast<const char*>(B.data);
  g.rsb = B.rs; g.csb = B.cs;
  g.C = reinterpret_cast<char*>(C); g.ldc = ldc;
  g.accumulate = accumulate;
  g.threads = threads;
  g.row_bias = reinterpret_cast<const char*>(row_bias);
  const int64_t kmax = std::clamp<int64_t>(cpu_info().l1d / (nr * es), 64, 1024), slices = (K + kmax - 1) / kmax;
  g.kc = (K + slices - 1) / slices;
  set_gemm_blocks(g, dtype_of<T>());
  cpu::kernels().gemm[int(dtype_of<T>())](g);
}

// Each group's M x K block (element (i, j) at A[i * rs + j * cs], groups `gs` apart) packed for
// the GEMM: as its A (MR-row micro-panels), or with `as_b` transposed, as its B (K x M, NR-column
// micro-panels); returns the packed blocks, `stride` elements apart.
template <class T>
HostArray<T> pack_groups(const T* A, int64_t G, int64_t M, int64_t K, int64_t rs, int64_t cs, int64_t gs,
                         int64_t& stride, bool as_b = false) {
  const int64_t step = tile<T>(as_b ? 1 : 0);
  stride = (M + step - 1) / step * step * K;
  HostArray<T> out(G * stride);
  const auto& k = cpu::kernels();
  parallel_for(0, G, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t g = lo; g < hi; ++g) {
      const char* src = reinterpret_cast<const char*>(A + g * gs);
      char* dst = reinterpret_cast<char*>(out.data() + g * stride);
      if (as_b) k.gemm_pack_b[int(dtype_of<T>())](K, M, src, cs, rs, dst);
      else k.gemm_pack_a[int(dtype_of<T>())](M, K, src, rs, cs, dst);
    }
  });
  return out;
}

// Output pixels per work item: a patch panel of about 128K elements (it stays in L2 between
// the copy and the GEMM), or up to 512K to reach `min_pixels`, in whole micro-panels, shrunk
// when that leaves threads idle.
template <class T>
int64_t tile_pixels(const Plan& p, int nt, int64_t min_pixels = 0) {
  const int64_t nr = tile<T>(1), K = std::max<int64_t>(p.K, 1);
  int64_t t = std::max<int64_t>(4 * nr, std::max((int64_t(1) << 17) / K, std::min(min_pixels, (int64_t(1) << 19) / K)) / nr * nr);
  const int64_t per_item = p.N * p.G, want = 2 * int64_t(nt);
  if (per_item * ((p.P + t - 1) / t) < want) {
    const int64_t split = (want + per_item - 1) / per_item;
    t = std::max<int64_t>(nr, ((p.P + split - 1) / split + nr - 1) / nr * nr);
  }
  return std::min(t, std::max<int64_t>(p.P, 1));
}

// Runs f(item, threads) over items in parallel, one thread each, when there are enough of them;
// otherwise one at a time with every thread inside the GEMM.
template <class F>
void for_items(int64_t items, const F& f) {
  const int nt = get_num_threads();
  if (items >= nt) parallel_for(0, items, 1, [&](int64_t lo, int64_t hi) { for (int64_t i = lo; i < hi; ++i) f(i, 1); });
  else for (int64_t i = 0; i < items; ++i) f(i, nt);
}

// The input planes as the kernels read them: inside zero borders (pt rows and pl columns
// before, as many after as the last taps reach), so no tap needs a bounds check. `geom` is the
// geometry over the padded planes (no padding left); `copy` is false when there is no border.
struct PaddedGeom {
  cpu::ConvGeom geom;
  bool copy;
};

PaddedGeom padded_geom(const Plan& p) {
  const cpu::ConvGeom& g = p.geom;
  PaddedGeom r{g, false};
  r.geom.H = std::max(g.H + g.pt, (g.OH - 1) * g.sh + (g.KH - 1) * g.dh + 1);
  r.geom.W = std::max(g.W + g.pl, (g.OW - 1) * g.sw + (g.KW - 1) * g.dw + 1);
  r.geom.pt = r.geom.pl = 0;
  r.copy = r.geom.H != g.H || r.geom.W != g.W || g.pt != 0 || g.pl != 0;
  return r;
}

// Requests the row at s + HW (the same row of the next plane) while row s is copied: planes of
// a few KiB are a page or two each, and the hardware prefetchers stop at page boundaries.
template <class T>
inline void fetch_next_plane_row(const T* s, int64_t HW, int64_t W) {
  const char* q = reinterpret_cast<const char*>(s + HW);
  for (int64_t b = 0; b < W * int64_t(sizeof(T)); b += 64) __builtin_prefetch(q + b, 0, 1);
}

// One plane (H x W) into its padded copy (r.H x r.W); with r.phase, each padded row split into
// its r.sw column phases (ConvGeom::phase).
template <class T>
void pad_plane(const cpu::ConvGeom& g, const cpu::ConvGeom& r, const T* src, T* dst) {
  if (r.phase && r.sw == 2) {  // the common stride: whole rows through the vector kernel
    std::memset(dst, 0, size_t(r.H * r.W) * sizeof(T));
    T* row = dst + g.pt * r.W;
    cpu::kernels().split_columns[int(dtype_of<T>())](src, g.W, g.W, g.H, g.pl, row, row + r.phase, r.W);
    return;
  }
  std::memset(dst, 0, size_t(g.pt * r.W) * sizeof(T));
  for (int64_t y = 0; y < g.H; ++y) {
    T* row = dst + (y + g.pt) * r.W;
    const T* s = src + y * g.W;
    fetch_next_plane_row(s, g.H * g.W, g.W);
    if (r.phase) {
      for (int64_t ph = 0; ph < r.sw; ++ph) {
        // Phase elements i read column i * sw + ph - pl: inside the row for i in [lo, hi).
        const int64_t first = ph - g.pl, lo = std::min(r.phase, first >= 0 ? 0 : (-first + r.sw - 1) / r.sw),
                      hi = std::max(lo, std::min(r.phase, first >= g.W ? 0 : (g.W - 1 - first) / r.sw + 1));
        T* d = row + ph * r.phase;
        const T* sp = s + first;
        std::fill(d, d + lo, T(0));
        for (int64_t i = lo; i < hi; ++i) d[i] = sp[i * r.sw];
        std::fill(d + hi, d + r.phase, T(0));
      }
      continue;
    }
    std::memset(row, 0, size_t(g.pl) * sizeof(T));
    std::memcpy(row + g.pl, s, size_t(g.W) * sizeof(T));
    std::memset(row + g.pl + g.W, 0, size_t(r.W - g.pl - g.W) * sizeof(T));
  }
  std::memset(dst + (g.pt + g.H) * r.W, 0, size_t((r.H - g.pt - g.H) * r.W) * sizeof(T));
}

// One plane (H x W) as the sh x sw phase planes (Hph x Wph each) of its padded copy: padded
// pixel (y, x) at phase plane (y % sh, x % sw), position (y / sh, x / sw); zeros elsewhere.
template <class T>
void pad_phases(const cpu::ConvGeom& g, int64_t Hph, int64_t Wph, const T* src, T* dst) {
  const int64_t sh = g.sh, sw = g.sw, sub = Hph * Wph;
  std::memset(dst, 0, size_t(sh * sw * sub) * sizeof(T));
  if (sw == 2) {  // per row phase, its input rows (sh apart) through the vector kernel
    const auto split = cpu::kernels().split_columns[int(dtype_of<T>())];
    for (int64_t py = 0; py < sh; ++py) {
      const int64_t y0 = ((py - g.pt) % sh + sh) % sh;
      if (y0 >= g.H) continue;
      T* even = dst + py * sw * sub + (y0 + g.pt) / sh * Wph;
      split(src + y0 * g.W, sh * g.W, g.W, (g.H - y0 + sh - 1) / sh, g.pl, even, even + sub, Wph);
    }
    return;
  }
  for (int64_t y = 0; y < g.H; ++y) {
    const int64_t yp = y + g.pt;
    T* rows = dst + yp % sh * sw * sub + yp / sh * Wph;  // phase (yp % sh, 0), its row yp / sh
    const T* s = src + y * g.W;
    fetch_next_plane_row(s, g.H * g.W, g.W);
    for (int64_t x = 0; x < g.W; ++x) {
      const int64_t xp = x + g.pl;
      rows[xp % sw * sub + xp / sw] = s[x];
    }
  }
}

// The input planes of one image and group at a time as the kernels read them (padded_geom),
// copied on the thread that asks into a buffer of its own and kept there while that thread's
// next items come from the same image: the planes stay in L2 between the copy and the kernels
// that read them, where padding the whole batch first sent every plane out to memory and back.
// Column-strided convolutions get their rows split into column phases, so that the patch copies
// read contiguous runs instead of gathering every sw-th element; `phased` splits each padded
// plane into its sh x sw phase planes instead (DirectConvArgs::phased; geom() is then the
// geometry of one phase plane). With `slack`, the planes are always a copy, followed by that
// many zeros (the direct convolution's last tiles read past the last plane into lanes it
// discards); without it and without a border, x itself.
template <class T>
class ImagePlanes {
 public:
  ImagePlanes(const Plan& p, const T* x, int64_t slack = 0, bool phased = false)
      : p_(p), x_(x), slack_(slack), phased_(phased), r_(padded_geom(p)) {
    if (phased) {
      r_.geom.H = (r_.geom.H + r_.geom.sh - 1) / r_.geom.sh;
      r_.geom.W = (r_.geom.W + r_.geom.sw - 1) / r_.geom.sw;
    } else if (r_.geom.sw > 1) {
      r_.geom.phase = (r_.geom.W + r_.geom.sw - 1) / r_.geom.sw;
      r_.geom.W = r_.geom.phase * r_.geom.sw;
    }
    r_.copy = r_.copy || phased || r_.geom.sw > 1 || slack > 0;
    plane_ = !r_.copy ? p.H * p.W : r_.geom.H * r_.geom.W * (phased ? r_.geom.sh * r_.geom.sw : 1);
    static std::atomic<uint64_t> calls{0};
    id_ = ++calls;
  }
  const cpu::ConvGeom& geom() const { return r_.geom; }
  int64_t plane() const { return plane_; }
  // The Cg planes of image n, group g, plane() elements apart.
  const T* get(int64_t n, int64_t g) const {
    const int64_t first = n * p_.C + g * p_.Cg, HW = p_.H * p_.W;
    if (!r_.copy) return x_ + first * HW;
    thread_local uint64_t held_id = 0;
    thread_local int64_t held_first = -1;
    T* d = scratch<T>(ScratchSlot::ConvPadded, p_.Cg * plane_ + slack_);
    if (held_id != id_ || held_first != first) {
      for (int64_t c = 0; c < p_.Cg; ++c) {
        if (phased_) pad_phases(p_.geom, r_.geom.H, r_.geom.W, x_ + (first + c) * HW, d + c * plane_);
        else pad_plane(p_.geom, r_.geom, x_ + (first + c) * HW, d + c * plane_);
      }
      std::memset(d + p_.Cg * plane_, 0, size_t(slack_) * sizeof(T));
      held_id = id_;
      held_first = first;
    }
    return d;
  }

 private:
  const Plan& p_;
  const T* x_;
  int64_t slack_;
  bool phased_;
  PaddedGeom r_;
  int64_t plane_ = 0;
  uint64_t id_ = 0;
};

// Depthwise paths: for each (image, channel) plane, `f(padded plane, n, c)` on the thread that
// padded it into its own small buffer, which stays in L1 for the channel's filters.
template <class T, class F>
void for_padded_planes(const Plan& p, const T* x, const PaddedGeom& r, const F& f) {
  const int64_t HW = p.H * p.W;
  parallel_for(0, p.N * p.C, 1, [&](int64_t lo, int64_t hi) {
    T* buf = r.copy ? scratch<T>(ScratchSlot::ConvPatches, r.geom.H * r.geom.W) : nullptr;
    for (int64_t i = lo; i < hi; ++i) {
      const T* plane = x + i * HW;
      if (r.copy) {
        pad_plane(p.geom, r.geom, plane, buf);
        plane = buf;
      }
      f(plane, i / p.C, i % p.C);
    }
  });
}

// Convolutions other than plain 1x1 run the direct kernel over the padded planes (phase planes
// when strided). Work items are (image, group, band of output rows, range of output channels):
// a band's input rows for all channels stay in half of L2 while every channel block sweeps
// them; bands shrink and channel ranges split until there are two items per thread.
// pack_weight(as_b, stride) packs the weight as pack_groups does.
template <class T, class Pack>
void forward_direct(const Plan& p, const T* x, const Pack& pack_weight, const T* bias, T* y) {
  const int64_t mr = tile<T>(0), nr = tile<T>(1);
  const bool phased = p.geom.sh > 1 || p.geom.sw > 1;
  const ImagePlanes<T> xp(p, x, nr, phased);
  const cpu::ConvGeom& g = xp.geom();
  cpu::DirectConvArgs a;
  a.geom = g;
  a.plane = xp.plane();
  a.phased = phased;
  const int64_t row_tiles = (p.OW + nr - 1) / nr * p.OH, wide_tiles = ((p.OH - 1) * g.W + p.OW + nr - 1) / nr;
  a.wide = wide_tiles < row_tiles;
  a.row_vectors = p.OW % (nr / 2) == 0;
  // The tile the right way round for the shape: lanes spent per output channel and image.
  const int64_t lanes = (p.Og + mr - 1) / mr * mr * (a.row_vectors ? p.P : std::min(row_tiles, wide_tiles) * nr),
                lanes_turned = (p.Og + nr - 1) / nr * nr * p.OH * ((p.OW + mr - 1) / mr * mr);
  a.pixel_rows = lanes_turned < lanes;
  int64_t wstride;
  const HostArray<T> wp = pack_weight(a.pixel_rows, wstride);
  const int64_t mstep = a.pixel_rows ? nr : mr;
  // A slice's weight panel (MR rows) in three quarters of L1: every slice after the first adds
  // its tiles into y, an epilogue that fewer, deeper slices pay less often.
  const int64_t taps = p.KH * p.KW;
  a.channels_per_slice = std::max<int64_t>(1, int64_t(cpu_info().l1d) * 3 / 4 / (mr * taps * int64_t(sizeof(T))));
  // An output row reads sh x sw rows of phase planes (one row of plain planes).
  const int64_t halo = (p.KH - 1) * g.dh / (phased ? g.sh : 1),
                row_bytes = std::max<int64_t>(1, p.Cg * (phased ? g.sh * g.sw : 1) * g.W * int64_t(sizeof(T)));
  int64_t band = std::clamp<int64_t>(int64_t(cpu_info().l2) / 2 / row_bytes - halo, 1, p.OH);
  const int64_t mblocks = (p.Og + mstep - 1) / mstep, want = 2 * int64_t(get_num_threads());
  int64_t msplit = 1;
  auto items = [&] { return p.N * p.G * ((p.OH + band - 1) / band) * msplit; };
  while (items() < want && msplit < mblocks) ++msplit;
  while (items() < want && band > 1) band = (band + 1) / 2;
  const int64_t bands = (p.OH + band - 1) / band;
  auto fn = cpu::kernels().conv_direct[int(dtype_of<T>())];
  parallel_for(0, items(), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t it = lo; it < hi; ++it) {
      // Item it: weight block mi, band b, of image and group ng = n * G + gi.
      const int64_t mi = it % msplit, b = it / msplit % bands, ng = it / (msplit * bands), gi = ng % p.G, n = ng / p.G;
      cpu::DirectConvArgs ai = a;
      ai.x = xp.get(n, gi);
      ai.w = wp.data() + gi * wstride;
      ai.bias = bias ? bias + gi * p.Og : nullptr;
      ai.y = y + (n * p.O + gi * p.Og) * p.P;
      // This thread's next item, when it pads new planes: their source comes in meanwhile
      // (image n, group g starts at x + (n * G + g) * Cg * H * W).
      if (const int64_t ng2 = (it + 1) / (msplit * bands); it + 1 < hi && ng2 != ng) {
        ai.prefetch = x + ng2 * p.Cg * p.H * p.W;
        ai.prefetch_elements = p.Cg * p.H * p.W;
      }
      fn(ai, mblocks * mi / msplit * mstep, std::min(p.Og, mblocks * (mi + 1) / msplit * mstep), b * band,
         std::min(p.OH, (b + 1) * band));
    }
  });
}

// Winograd where it pays: float32 3x3 filters without dilation or groups, and
// - at stride 1, F(2x2, 3x3) with at least 64 input and output channels: 16 products of
//   tiles x C by C x O (2 x 2 output pixels a tile) replace the 9 taps' products over every
//   pixel, 2.25x fewer multiply-adds. With few channels the transforms (their data is 4x the
//   input and output) cost more than that saves: on 32 x 32 images the direct kernel is faster
//   at 32 channels (169 vs 154 GFLOP/s), level at 48 (176 vs 188), slower at 64 (164 vs 205);
// - at stride 2, the filter split by tap parity into 2x2, 2x1, 1x2 and 1x1 stride-1 filters over
//   the input's phases, each by Winograd: 25 products for 36, so it takes 256 channels to pay
//   (28 x 28 images: 256 -> 256 141 vs 163 GFLOP/s; 128 -> 256 level; 64 -> 128 on 32 x 32
//   145 vs 124).
// The transforms add a few roundings per output; the results stay within float32's error for
// a sum over C x 9 terms. The transformed weights (16 or 25 values per filter and channel, and
// a packed copy) and each thread's buffers grow with C x O: past 1024 x 1024 channels they
// would take hundreds of MiB, and the direct kernel runs instead. LAMINA_CONV_WINOGRAD (read
// per call): 0 never, 1 whenever the shape allows it, whatever the channel counts.
template <class T>
bool use_winograd(const Plan& p) {
  const cpu::ConvGeom& g = p.geom;
  if (!std::is_same_v<T, float> || p.KH != 3 || p.KW != 3 || g.sh != g.sw || g.sh > 2 || g.dh != 1 || g.dw != 1 ||
      p.G != 1 || p.N == 0 || p.P == 0 || p.C * p.O > (int64_t(1) << 20))
    return false;
  const char* e = std::getenv("LAMINA_CONV_WINOGRAD");
  if (e && (e[0] == '0' || e[0] == '1')) return e[0] == '1';
  const int64_t least = g.sh == 1 ? 64 : 256;
  return p.C >= least && p.O >= least;
}

template <class T>
void forward_winograd(const Plan& p, const T* x, const T* w, const T* bias, T* y) {
  const auto& k = cpu::kernels();
  constexpr int dt = int(dtype_of<T>());
  const int st = int(p.geom.sh), nv = cpu::winograd_values(st);
  const int64_t C = p.C, O = p.O, HW = p.H * p.W, th = (p.OH + 1) / 2, tw = (p.OW + 1) / 2, tiles = th * tw;
  const int64_t pw = cpu::winograd_span(tw, st);
  // The nv matrices of each kind lie a multiple of 4 KiB plus one line apart: a transform writes
  // (or reads) all of them at once, and at whole multiples of 4 KiB those streams share one set
  // of the L1 cache and evict each other (3x slower transforms at 256 channels).
  const int64_t us = O * C + 16;
  // The transformed weights: matrix xi (O x C) of the nv, packed transposed as the GEMM's B.
  HostArray<T> u(nv * us);
  parallel_for(0, O, 4, [&](int64_t lo, int64_t hi) { k.winograd_weight[dt](C, lo, hi, st, w, u.data(), us); });
  int64_t ustride;
  const HostArray<T> up = pack_groups(u.data(), nv, O, C, C, 1, us, ustride, true);
  // Work items, each on one thread from its input copy to its output: a group of whole images,
  // or a band of tile rows of one image, of about `want` tiles: enough that the item's
  // transformed input and products (nv (C + O) values a tile) fill half of L2, and at least as
  // many tiles as make up the transformed weights' size, which every item reads once.
  const int64_t tile_bytes = nv * (C + O) * int64_t(sizeof(T)), ubytes = nv * O * C * int64_t(sizeof(T));
  const int64_t want = std::max<int64_t>(std::max<int64_t>(cpu_info().l2 / 2, ubytes) / tile_bytes, 1);
  const int64_t ipc = std::clamp<int64_t>(want / tiles, 1, p.N);
  const int64_t rpc = ipc > 1 ? th : std::clamp<int64_t>((want + tw - 1) / tw, 1, th), bands = (th + rpc - 1) / rpc;
  const int64_t items = ipc > 1 ? (p.N + ipc - 1) / ipc : p.N * bands;
  for_items(items, [&](int64_t it, int threads) {
    const int64_t n0 = ipc > 1 ? it * ipc : it / bands, cn = ipc > 1 ? std::min(ipc, p.N - n0) : 1;
    const int64_t r0 = ipc > 1 ? 0 : it % bands * rpc, rows = std::min(th, r0 + rpc) - r0, tc = cn * rows * tw;
    const int64_t bh = cpu::winograd_span(rows, st), vs = tc * C + 16, ms = tc * O + 16;
    T* xl = scratch<T>(ScratchSlot::ConvPadded, cn * bh * pw * C);
    T* v = scratch<T>(ScratchSlot::ConvPatches, nv * (vs + ms));
    T* m = v + nv * vs;
    // The band's input rows (bh padded rows from 2 st r0), channels-last.
    cpu::ConvGeom band = p.geom;
    const int64_t top = 2 * st * r0 - band.pt;
    const int64_t first = std::max<int64_t>(0, top), last = std::min(p.H, top + bh);
    band.H = std::max<int64_t>(0, last - first);
    band.pt = first - top;
    for (int64_t j = 0; j < cn; ++j) {
      k.channels_last[dt](band, HW, pw, bh, x + (n0 + j) * C * HW + first * p.W, 0, C, xl + j * bh * pw * C);
      for (int64_t r = 0; r < rows; ++r)
        k.winograd_input[dt](C, tw, r, st, xl + j * bh * pw * C, v + (j * rows + r) * tw * C, vs);
    }
    // Product xi: M_xi (tiles x O) = V_xi (tiles x C) U_xi^T.
    for (int64_t xi = 0; xi < nv; ++xi)
      gemm<T>(tc, O, C, strided(v + xi * vs, C, 1), packed(up.data() + xi * ustride), m + xi * ms, O, false, threads);
    for (int64_t j = 0; j < cn; ++j)
      for (int64_t r = 0; r < rows; ++r)
        k.winograd_output[dt](p.geom, O, r0 + r, st, m + (j * rows + r) * tw * O, ms, bias, y + (n0 + j) * O * p.P);
  });
}

template <class T>
void forward(const Plan& p, const T* x, const T* w, const T* bias, T* y) {
  const int64_t HW = p.H * p.W;
  const auto& k = cpu::kernels();
  if (p.depthwise) {
    auto plane = k.plane_conv[int(dtype_of<T>())];
    const PaddedGeom r = padded_geom(p);
    for_padded_planes(p, x, r, [&](const T* xc, int64_t n, int64_t c) {
      for (int64_t o = c * p.Og; o < (c + 1) * p.Og; ++o)
        plane(r.geom, xc, w + o * p.K, bias ? bias + o : nullptr, y + (n * p.O + o) * p.P);
    });
    return;
  }
  if (use_winograd<T>(p)) return forward_winograd(p, x, w, bias, y);
  if (!p.pointwise) {
    auto pack = [&](bool as_b, int64_t& stride) { return pack_groups(w, p.G, p.Og, p.K, p.K, 1, p.Og * p.K, stride, as_b); };
    return forward_direct(p, x, pack, bias, y);
  }
  int64_t wstride;
  const HostArray<T> wp = pack_groups(w, p.G, p.Og, p.K, p.K, 1, p.Og * p.K, wstride);
  // 1x1 at stride 1 without padding: the image is the GEMM's B as it lies.
  const int64_t T_ = tile_pixels<T>(p, get_num_threads()), tiles = (p.P + T_ - 1) / T_;
  for_items(p.N * p.G * tiles, [&](int64_t it, int threads) {
    const int64_t n = it / (p.G * tiles), g = it / tiles % p.G, p0 = it % tiles * T_, np = std::min(T_, p.P - p0);
    gemm<T>(p.Og, np, p.K, packed(wp.data() + g * wstride), strided(x + (n * p.C + g * p.Cg) * HW + p0, HW, 1),
            y + (n * p.O + g * p.Og) * p.P + p0, p.P, false, threads, bias ? bias + g * p.Og : nullptr);
  });
}

// At stride 1, dx is the convolution of dy with the weight flipped in space and transposed per
// group (C x O/G taps), padded so that the output is H x W again: the forward path (patch copies
// straight into the GEMM's layout) instead of a GEMM into patches and a scatter back (col2im).
// False (nothing done) where that padding would be negative.
template <class T>
bool backward_data_as_forward(const Plan& p, const T* dy, const T* w, T* dx) {
  const cpu::ConvGeom& g = p.geom;
  if (g.sh != 1 || g.sw != 1) return false;
  ConvOptions o;
  o.dilation = {g.dh, g.dw};
  o.pad_begin = {g.dh * (p.KH - 1) - g.pt, g.dw * (p.KW - 1) - g.pl};
  o.pad_end = {p.H + g.pt - p.OH, p.W + g.pl - p.OW};
  o.groups = p.G;
  for (int i = 0; i < 2; ++i)
    if (o.pad_begin[i] < 0 || o.pad_end[i] < 0) return false;
  const Plan q = make_plan({p.N, p.O, p.OH, p.OW}, {p.C, p.Og, p.KH, p.KW}, o, "conv2d_backward_data");
  const int64_t taps = p.KH * p.KW;
  if (!q.depthwise && !q.pointwise && !use_winograd<T>(q)) {
    // The flipped weight packed straight from w: filter c of q, tap (oc, t) is w[oc][c][taps - 1 - t].
    // Filter by filter of w, read in order: each panel's n x taps block of it (in L1 once touched)
    // is gathered flipped and transposed into the panel's taps rows for that filter, stored in order.
    auto pack = [&](bool as_b, int64_t& stride) {
      const int64_t step = tile<T>(as_b ? 1 : 0), panels = (p.Cg + step - 1) / step;
      stride = panels * step * q.K;
      HostArray<T> out(p.G * stride);
      parallel_for(0, p.O, 4, [&](int64_t lo, int64_t hi) {
        for (int64_t o = lo; o < hi; ++o) {
          const int64_t gi = o / p.Og, oc = o % p.Og;
          for (int64_t c0 = 0; c0 < p.Cg; c0 += step) {
            const int64_t n = std::min(step, p.Cg - c0);
            const T* src = w + (o * p.Cg + c0) * taps;
            T* dst = out.data() + gi * stride + c0 * q.K + oc * taps * step;
            for (int64_t t = 0; t < taps; ++t, dst += step) {
              for (int64_t j = 0; j < n; ++j) dst[j] = src[j * taps + taps - 1 - t];
              std::fill(dst + n, dst + step, T(0));
            }
          }
        }
      });
      return out;
    };
    forward_direct<T>(q, dy, pack, nullptr, dx);
    return true;
  }
  HostArray<T> wf(p.O * p.K);
  // Filter by filter, so that the reads run through w; the writes go to Cg lines at a time.
  parallel_for(0, p.O, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o) {
      const int64_t gi = o / p.Og, oc = o % p.Og;
      for (int64_t c = 0; c < p.Cg; ++c) {
        const T* src = w + (o * p.Cg + c) * taps;
        T* dst = wf.data() + ((gi * p.Cg + c) * p.Og + oc) * taps;
        for (int64_t t = 0; t < taps; ++t) dst[t] = src[taps - 1 - t];
      }
    }
  });
  forward<T>(q, dy, wf.data(), nullptr, dx);
  return true;
}

template <class T>
void backward_data(const Plan& p, const T* dy, const T* w, T* dx) {
  const int64_t HW = p.H * p.W;
  const auto& k = cpu::kernels();
  // Worth it where the flipped convolution is a GEMM of many rows (input channels), or a
  // depthwise one of one filter per channel.
  const bool flip = p.depthwise ? p.Og == 1 : !p.pointwise && p.Cg >= 16;
  if (flip && backward_data_as_forward(p, dy, w, dx)) return;
  std::memset(dx, 0, size_t(p.N * p.C * HW) * sizeof(T));
  if (p.depthwise) {
    auto plane = k.plane_conv_data[int(dtype_of<T>())];
    parallel_for(0, p.N * p.C, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t n = i / p.C, c = i % p.C;
        for (int64_t o = c * p.Og; o < (c + 1) * p.Og; ++o)
          plane(p.geom, dy + (n * p.O + o) * p.P, w + o * p.K, dx + i * HW);
      }
    });
    return;
  }
  // W^T per group: K x Og.
  int64_t wstride;
  const HostArray<T> wp = pack_groups(w, p.G, p.K, p.Og, 1, p.K, p.Og * p.K, wstride);
  const int64_t T_ = tile_pixels<T>(p, get_num_threads()), tiles = (p.P + T_ - 1) / T_;
  if (p.pointwise) {  // every tile writes its own pixels: tiles are independent items
    for_items(p.N * p.G * tiles, [&](int64_t it, int threads) {
      const int64_t n = it / (p.G * tiles), g = it / tiles % p.G, p0 = it % tiles * T_, np = std::min(T_, p.P - p0);
      gemm<T>(p.K, np, p.Og, packed(wp.data() + g * wstride), strided(dy + (n * p.O + g * p.Og) * p.P + p0, p.P, 1),
              dx + (n * p.C + g * p.Cg) * HW + p0, HW, false, threads);
    });
    return;
  }
  auto col2im = k.col2im[int(dtype_of<T>())];
  for_items(p.N * p.G, [&](int64_t it, int threads) {
    const int64_t n = it / p.G, g = it % p.G;
    for (int64_t p0 = 0; p0 < p.P; p0 += T_) {
      const int64_t np = std::min(T_, p.P - p0);
      T* col = scratch<T>(ScratchSlot::ConvPatches, p.K * np);
      gemm<T>(p.K, np, p.Og, packed(wp.data() + g * wstride), strided(dy + (n * p.O + g * p.Og) * p.P + p0, p.P, 1),
              col, np, false, threads);
      col2im(p.geom, col, p0, np, dx + (n * p.C + g * p.Cg) * HW);
    }
  });
}

// The weight gradient by the direct kernel, for convolutions whose input channels per group fill
// the tile's columns. Each image's input is laid out channels-last over its padded planes and
// its dy packed, then every tile of dW sums the image's pixels. Two ways to share the work:
// - where the images split evenly between the threads (or are many), each thread takes whole
//   images into a dW of its own, and the threads' sums are added at the end. This measured
//   faster even where each thread's dW is far larger than its L2;
// - otherwise threads own blocks of dW (group, column block, range of row blocks) for the whole
//   batch, and every thread prepares a share of the next image while the tiles of this one run
//   (two buffers, one barrier per image).
// False (nothing done) where the shape does not suit the kernel.
template <class T>
bool backward_weight_direct(const Plan& p, const T* x, const T* dy, T* dw) {
  const int64_t mr = tile<T>(0), nr = tile<T>(1), ldc = (p.Cg + nr - 1) / nr * nr;
  // Columns past Cg in the last block are lanes spent for nothing: at most a quarter of them.
  if (p.depthwise || p.pointwise || ldc * 3 > p.Cg * 4) return false;
  const PaddedGeom r = padded_geom(p);
  const int64_t Hp = r.geom.H, Wp = r.geom.W, taps = p.KH * p.KW, HW = p.H * p.W, mb = (p.Og + mr - 1) / mr;
  const int64_t xsize = Hp * Wp * p.Cg, dsize = mb * mr * p.P, wsize = taps * p.Og * ldc, cb = ldc / nr;
  const int64_t xstep = p.G * xsize + nr, dstep = p.G * dsize;
  const int nthreads = get_num_threads();
  const bool whole_images = nthreads > 1 && (p.N % nthreads == 0 || p.N >= 4 * nthreads);
  const int64_t buffers = whole_images ? nthreads : 2, sums = whole_images ? nthreads : 1;
  HostArray<T> xcl(buffers * xstep), dyp(buffers * dstep), acc(sums * p.G * wsize);
  for (int64_t b = 0; b < buffers; ++b)  // the last tiles read into lanes they discard
    std::fill(xcl.data() + b * xstep + p.G * xsize, xcl.data() + (b + 1) * xstep, T(0));
  const auto& k = cpu::kernels();
  const int dt = int(dtype_of<T>());
  int64_t msplit = 1;
  while (!whole_images && p.G * cb * msplit < 2 * int64_t(nthreads) && msplit < mb) ++msplit;
  const int64_t items = p.G * cb * msplit;
  parallel_team([&](int t, int nt) {
    auto share = [&](int64_t n, int64_t i, int64_t parts) { return std::pair<int64_t, int64_t>(n * i / parts, n * (i + 1) / parts); };
    // Share `part` of `parts` of image n's column blocks of channels and dy panels, into buffer b.
    auto prepare = [&](int64_t n, int64_t b, int part, int parts) {
      T* xb = xcl.data() + b * xstep;
      T* db = dyp.data() + b * dstep;
      const auto [r0, r1] = share(p.G * cb, part, parts);
      for (int64_t i = r0; i < r1; ++i) {
        const int64_t gi = i / cb, c0 = i % cb * nr;
        k.channels_last[dt](p.geom, HW, Wp, Hp, x + (n * p.C + gi * p.Cg) * HW, c0, std::min(p.Cg, c0 + nr), xb + gi * xsize);
      }
      const auto [q0, q1] = share(p.G * mb, part, parts);
      for (int64_t i = q0; i < q1; ++i) {
        const int64_t gi = i / mb, m = i % mb * mr;
        k.gemm_pack_a[dt](std::min(mr, p.Og - m), p.P, reinterpret_cast<const char*>(dy + (n * p.O + gi * p.Og + m) * p.P),
                          p.P, 1, reinterpret_cast<char*>(db + gi * dsize + m * p.P));
      }
    };
    // Items [i0, i1) of the image in buffer b, into sum s.
    auto tiles = [&](int64_t b, int64_t s, int64_t i0, int64_t i1, bool accumulate) {
      for (int64_t it = i0; it < i1; ++it) {
        const int64_t mi = it % msplit, ci = it / msplit % cb, gi = it / (msplit * cb);
        cpu::DirectWeightArgs a;
        a.geom = r.geom;
        a.x = xcl.data() + b * xstep + gi * xsize;
        a.cs = p.Cg;
        a.dy = dyp.data() + b * dstep + gi * dsize;
        a.O = p.Og;
        a.dw = acc.data() + (s * p.G + gi) * wsize;
        a.ldc = ldc;
        a.accumulate = accumulate;
        k.conv_weight_direct[dt](a, mb * mi / msplit * mr, std::min(p.Og, mb * (mi + 1) / msplit * mr), ci * nr,
                                 std::min(p.Cg, (ci + 1) * nr));
      }
    };
    if (whole_images) {
      const auto [n0, n1] = share(p.N, t, nt);
      for (int64_t n = n0; n < n1; ++n) {
        prepare(n, t, 0, 1);
        tiles(t, t, 0, items, n > n0);
      }
      team_barrier(nt);
    } else {
      prepare(0, 0, t, nt);
      team_barrier(nt);
      const auto [i0, i1] = share(items, t, nt);
      for (int64_t n = 0; n < p.N; ++n) {
        if (n + 1 < p.N) prepare(n + 1, (n + 1) % 2, t, nt);
        tiles(n % 2, 0, i0, i1, n > 0);
        team_barrier(nt);  // image n + 1 is ready, and every tile is done with buffer n % 2
      }
    }
    // dw (O x Cg x taps) from the (tap, filter, channel) order the tiles were summed in: each
    // filter's taps read as runs of channels, written into its Cg x taps block (a few KiB, in L1).
    const auto [o0, o1] = share(p.G * p.Og, t, nt);
    for (int64_t i = o0; i < o1; ++i) {
      const T* src = acc.data() + i / p.Og * wsize + i % p.Og * ldc;
      T* dst = dw + i * p.Cg * taps;
      for (int64_t tp = 0; tp < taps; ++tp) {
        const T* run = src + tp * p.Og * ldc;
        for (int64_t c = 0; c < p.Cg; ++c) dst[c * taps + tp] = run[c];
        for (int64_t u = 1; u < sums; ++u)
          for (int64_t c = 0; c < p.Cg; ++c) dst[c * taps + tp] += run[u * p.G * wsize + c];
      }
    }
  });
  return true;
}

template <class T>
void backward_weight(const Plan& p, const T* x, const T* dy, T* dw) {
  if (backward_weight_direct(p, x, dy, dw)) return;
  const int64_t HW = p.H * p.W, wsize = p.O * p.K;
  const auto& k = cpu::kernels();
  const int nt = get_num_threads();
  // One accumulator per thread, summed at the end.
  HostArray<T> acc(nt * wsize);
  parallel_for(0, nt * wsize, 1 << 14, [&](int64_t lo, int64_t hi) { std::fill(acc.data() + lo, acc.data() + hi, T(0)); });
  auto mine = [&] { return acc.data() + int64_t(omp_in_parallel() ? omp_get_thread_num() : 0) * wsize; };
  if (p.depthwise) {
    auto plane = k.plane_conv_weight[int(dtype_of<T>())];
    const PaddedGeom r = padded_geom(p);
    for_padded_planes(p, x, r, [&](const T* xc, int64_t n, int64_t c) {
      T* a = mine();
      for (int64_t o = c * p.Og; o < (c + 1) * p.Og; ++o) plane(r.geom, xc, dy + (n * p.O + o) * p.P, a + o * p.K);
    });
  } else {
    // The pixels are the GEMM's reduction here: deeper tiles read and write the thread's dW
    // accumulator (often larger than L2) fewer times.
    int64_t T_ = tile_pixels<T>(p, nt, 192), tiles = (p.P + T_ - 1) / T_;
    // A short last tile would still read and write the whole accumulator: its pixels join the
    // other tiles while that leaves every thread two items.
    if (tiles > 1 && p.P % T_ != 0 && p.P % T_ <= T_ / 4 && p.N * p.G * (tiles - 1) >= 2 * nt) {
      --tiles;
      T_ = (p.P + tiles - 1) / tiles;
    }
    auto im2col = k.im2col_panels[int(dtype_of<T>())];
    const ImagePlanes<T> xp(p, x);  // x itself for 1x1
    for_items(p.N * p.G * tiles, [&](int64_t it, int threads) {
      const int64_t n = it / (p.G * tiles), g = it / tiles % p.G, p0 = it % tiles * T_, np = std::min(T_, p.P - p0);
      const T* xg = xp.get(n, g);
      // B (np x K) is the transposed patch matrix: the image itself for 1x1, else the patches
      // copied from the padded planes as one K x np panel.
      const T* B = xg + p0;
      int64_t ldb = HW;
      if (!p.pointwise) {
        T* col = scratch<T>(ScratchSlot::ConvPatches, p.K * np);
        im2col(xp.geom(), xg, p0, np, np, col);
        B = col;
        ldb = np;
      }
      gemm<T>(p.Og, p.K, np, strided(dy + (n * p.O + g * p.Og) * p.P + p0, p.P, 1), strided(B, 1, ldb),
              mine() + g * p.Og * p.K, p.K, true, threads);
    });
  }
  parallel_for(0, wsize, 4096, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      T s = acc.data()[i];
      for (int t = 1; t < nt; ++t) s += acc.data()[t * wsize + i];
      dw[i] = s;
    }
  });
}

// Runs fn<float> or fn<double> for the compute dtype.
template <class F>
void dispatch(DType dt, const F& fn) {
  if (dt == DType::Float64) fn(double{});
  else fn(float{});
}

}  // namespace

Tensor conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor* b_in, const ConvOptions& o) {
  const char* op = "conv2d";
  check_tensor(x_in, x_in, "input", op);
  check_tensor(w_in, x_in, "weight", op);
  const Plan p = make_plan(x_in.shape(), w_in.shape(), o, op);
  if (b_in) {
    check_tensor(*b_in, x_in, "bias", op);
    LAMINA_CHECK(b_in->dim() == 1 && b_in->shape()[0] == p.O, ShapeError, "[", op, "] bias shape ", b_in->shape(),
                 " does not match weight shape ", w_in.shape(), " (expected (", p.O, ",))");
  }
  const DType dt = compute_dtype(x_in.dtype());
  Tensor x = cast(x_in, dt).contiguous(), w = cast(w_in, dt).contiguous();
  Tensor b = b_in ? cast(*b_in, dt).contiguous() : Tensor();
  Tensor y = Tensor::empty({p.N, p.O, p.OH, p.OW}, dt);
  if (y.numel())
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      forward<T>(p, x.data<T>(), w.data<T>(), b_in ? b.data<T>() : nullptr, y.data<T>());
    });
  return dt == x_in.dtype() ? y : cast(y, x_in.dtype());
}

Tensor conv2d_backward_data(const Tensor& dy_in, const Tensor& w_in, int64_t H, int64_t W, const ConvOptions& o) {
  const char* op = "conv2d_backward_data";
  check_tensor(dy_in, dy_in, "gradient", op);
  check_tensor(w_in, dy_in, "weight", op);
  LAMINA_CHECK(dy_in.dim() == 4 && w_in.dim() == 4, ValueError, "[", op, "] expected a 4-D gradient and weight, got shapes ",
               dy_in.shape(), " and ", w_in.shape());
  const Plan p = make_plan({dy_in.shape()[0], w_in.shape()[1] * o.groups, H, W}, w_in.shape(), o, op);
  LAMINA_CHECK(dy_in.shape()[1] == p.O && dy_in.shape()[2] == p.OH && dy_in.shape()[3] == p.OW, ShapeError, "[", op,
               "] gradient shape ", dy_in.shape(), " does not match weight shape ", w_in.shape(), " and input size (", H,
               ", ", W, "): expected (", p.N, ", ", p.O, ", ", p.OH, ", ", p.OW, ")");
  const DType dt = compute_dtype(dy_in.dtype());
  Tensor dy = cast(dy_in, dt).contiguous(), w = cast(w_in, dt).contiguous();
  Tensor dx = Tensor::empty({p.N, p.C, H, W}, dt);
  if (dx.numel())
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      backward_data<T>(p, dy.data<T>(), w.data<T>(), dx.data<T>());
    });
  return dt == dy_in.dtype() ? dx : cast(dx, dy_in.dtype());
}

Tensor conv2d_backward_weight(const Tensor& x_in, const Tensor& dy_in, int64_t KH, int64_t KW, const ConvOptions& o) {
  const char* op = "conv2d_backward_weight";
  check_tensor(x_in, x_in, "input", op);
  check_tensor(dy_in, x_in, "gradient", op);
  LAMINA_CHECK(x_in.dim() == 4 && dy_in.dim() == 4, ValueError, "[", op, "] expected a 4-D input and gradient, got shapes ",
               x_in.shape(), " and ", dy_in.shape());
  LAMINA_CHECK(o.groups >= 1 && x_in.shape()[1] % o.groups == 0, ValueError, "[", op, "] input shape ", x_in.shape(),
               " has channels not divisible by groups=", o.groups);
  const Plan p = make_plan(x_in.shape(), {dy_in.shape()[1], x_in.shape()[1] / o.groups, KH, KW}, o, op);
  LAMINA_CHECK(dy_in.shape()[0] == p.N && dy_in.shape()[2] == p.OH && dy_in.shape()[3] == p.OW, ShapeError, "[", op,
               "] gradient shape ", dy_in.shape(), " does not match input shape ", x_in.shape(), " and kernel (", KH,
               ", ", KW, "): expected (", p.N, ", ", p.O, ", ", p.OH, ", ", p.OW, ")");
  const DType dt = compute_dtype(x_in.dtype());
  Tensor x = cast(x_in, dt).contiguous(), dy = cast(dy_in, dt).contiguous();
  Tensor dw = Tensor::empty({p.O, p.Cg, KH, KW}, dt);
  if (dw.numel())
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      if (p.N * p.P == 0) std::fill(dw.data<T>(), dw.data<T>() + dw.numel(), T(0));
      else backward_weight<T>(p, x.data<T>(), dy.data<T>(), dw.data<T>());
    });
  return dt == x_in.dtype() ? dw : cast(dw, x_in.dtype());
}

}  // namespace lamina

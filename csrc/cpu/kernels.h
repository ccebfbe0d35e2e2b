// The table of CPU inner loops. Each ISA-compiled translation unit (elementwise_kernels.cpp,
// reduce_kernels.cpp, built once per ISA by CMake) fills its part of one table; ops pick the
// table for the CPU they run on through cpu::kernels().
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace lamina::cpu {

enum class BinaryOp : int {
  Add, Sub, Mul, Div, FloorDiv, Mod, Pow, Maximum, Minimum, Atan2,
  Eq, Ne, Lt, Le, Gt, Ge, And, Or, Xor,
  // Gradient helpers: (x, g) -> g * f'(x), or (y, g) for functions whose derivative reads the output.
  ReluGrad, GeluGrad, GeluTanhGrad, SiluGrad, SoftplusGrad, SigmoidGradFromOut, TanhGradFromOut,
  Count
};
enum class UnaryOp : int {
  Neg, Abs, Sign, Exp, Expm1, Log, Log1p, Log2, Sqrt, Rsqrt, Reciprocal, Square,
  Sin, Cos, Tanh, Sigmoid, Relu, Gelu, GeluTanh, Silu, Softplus, LeakyRelu, Erf,
  Floor, Ceil, Round, Trunc, Not, Clamp, PowScalar, AddScalar, MulScalar,
  Count
};

// Strides in bytes. params: op parameters (clamp bounds, softplus beta/threshold, ...).
using BinaryLoop = void (*)(int64_t n, const char* a, int64_t sa, const char* b, int64_t sb, char* out,
                            int64_t so, const double* params);
using UnaryLoop = void (*)(int64_t n, const char* a, int64_t sa, char* out, int64_t so, const double* params);

enum class ReduceOp : int { Sum, Prod, Max, Min, Count };
// Contiguous input viewed as (A, R, K); reduce over R. out is (A, K) in `out_dtype` of the op.
using ReduceLoop = void (*)(int64_t A, int64_t R, int64_t K, const char* in, char* out);
// Same layout; indices (int64) of the max/min over R, first occurrence, NaN wins.
using ArgLoop = void (*)(int64_t A, int64_t R, int64_t K, const char* in, char* values, int64_t* idx, bool is_max);
// Sum of squared deviations from mean (A, K), over R.
using SqDevLoop = void (*)(int64_t A, int64_t R, int64_t K, const char* in, const char* mean, char* out);
// Row-wise along a contiguous last dim: softmax, log_softmax, logsumexp (out has one value per row).
enum class RowOp : int { Softmax, LogSoftmax, LogSumExp, Count };
using RowLoop = void (*)(int64_t rows, int64_t n, const char* in, char* out);
using CumsumLoop = void (*)(int64_t A, int64_t R, int64_t K, const char* in, char* out);

// C (M x N, row stride ldc) = A * B [+ bias per column] [-> act]; strides in elements.
struct GemmArgs {
  int64_t M = 0, N = 0, K = 0;
  const char* A = nullptr; int64_t rsa = 0, csa = 0;
  const char* B = nullptr; int64_t rsb = 0, csb = 0;
  char* C = nullptr; int64_t ldc = 0;
  const char* bias = nullptr;      // N values (one per column of C), or null
  const char* row_bias = nullptr;  // M values (one per row of C), or null; both before the activation
  int act = 0;                 // 0 none, 1 relu, 2 gelu, 3 gelu (tanh), 4 silu
  int threads = 1;
  int64_t mc = 0, kc = 0, nc = 0;  // cache blocking
  // A already packed by gemm_pack_a (A/rsa/csa are then unused): a matrix multiplied by many
  // right-hand sides, such as a convolution's weight against tiles of patches, is packed once.
  const char* Apacked = nullptr;
  // B already in micro-panel layout (B/rsb/csb are then unused): ceil(N / NR) panels of K x NR
  // elements, panel j holding columns j * NR.. (k-major, NR values per k; lanes past N are never
  // stored), so a convolution copies its patches once, straight into the GEMM's layout.
  const char* Bpacked = nullptr;
  bool accumulate = false;  // C += A * B (before bias and activation) instead of C = A * B
};
using GemmFn = void (*)(const GemmArgs&);
// Packs the M x K matrix A (strides in elements) into `out` for GemmArgs::Apacked; `out` holds
// ceil(M / MR) * MR * K elements (MR from gemm_tile): MR-row micro-panels, each K deep.
using GemmPackFn = void (*)(int64_t M, int64_t K, const char* A, int64_t rsa, int64_t csa, char* out);
// Packs the K x N matrix B into `out` for GemmArgs::Bpacked (ceil(N / NR) * NR * K elements,
// lanes past N zero).
using GemmPackBFn = void (*)(int64_t K, int64_t N, const char* B, int64_t rsb, int64_t csb, char* out);

// Layer norm (rms = false) or RMS norm over rows of n contiguous elements. gamma/beta may be
// null. Forward writes y, mean and rstd per row; backward reads x, dy, mean, rstd and writes dx.
struct NormArgs {
  int64_t n = 0;
  bool rms = false;
  double eps = 1e-5;
  const void* x = nullptr;
  const void* gamma = nullptr;
  const void* beta = nullptr;
  void* y = nullptr;
  void* mean = nullptr;
  void* rstd = nullptr;
  const void* dy = nullptr;
  void* dx = nullptr;
};
using NormForward = void (*)(const NormArgs&, int64_t row_begin, int64_t row_end);
// dgamma/dbeta (n values each, may be null) receive this row range's sums, added in.
using NormBackward = void (*)(const NormArgs&, int64_t row_begin, int64_t row_end, double* dgamma, double* dbeta);

// Batch norm over a contiguous x viewed as (N, C, HW); per-channel values are C float64s
// (ops/batch_norm.cpp folds spatial sizes below 16 into C, giving HW == 1).
struct BatchNormArgs {
  int64_t C = 0, HW = 0;
  const void* x = nullptr;
  const void* dy = nullptr;
  void* out = nullptr;
  const double* shift = nullptr;
  const double* p = nullptr;
  const double* q = nullptr;
  const double* r = nullptr;
};
// s1[c] += sum(u), s2[c] += sum(u * (x - shift[c])) over samples [n0, n1) of channels [c0, c1),
// with u = dy when dy is set, else x - shift[c].
using BatchNormStats = void (*)(const BatchNormArgs&, int64_t n0, int64_t n1, int64_t c0, int64_t c1, double* s1,
                                double* s2);
// out = (x - shift[c]) * p[c] + q[c] + dy * r[c] over rows [r0, r1) of the (N * C, HW) matrix,
// row r in channel r % C; the x term is dropped when x is null, the dy term when dy is null.
using BatchNormApply = void (*)(const BatchNormArgs&, int64_t r0, int64_t r1);

// Backward of the row-wise softmax (0) and log_softmax (1) along a contiguous last dim, from the
// forward's output y and the incoming gradient g.
using RowBackwardLoop = void (*)(int64_t rows, int64_t n, const char* y, const char* g, char* dx);

// Fused attention (ops/attention.cpp lays the operands out). q: (BH, L, E), k: (nkv, S, E),
// v: (nkv, S, Ev), all contiguous in one float dtype; q head h reads k/v head kv_of[h], and the
// q heads reading k/v head j are heads[head_start[j] .. head_start[j + 1]). The additive mask
// (optional) of head h, row i, column j sits at mask[mask_off[h] + i * mask_si + j * mask_sj].
// Dropout keeps score (h, i, j) unless Philox word ((h * L + i) * S + j) of (seed, offset) is
// below dropout_p * 2^32, so the backward regenerates the forward's mask.
struct AttentionArgs {
  int64_t L = 0, S = 0, E = 0, Ev = 0;
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const int64_t* kv_of = nullptr;
  const int64_t* head_start = nullptr;
  const int64_t* heads = nullptr;
  const void* mask = nullptr;
  const int64_t* mask_off = nullptr;
  int64_t mask_si = 0, mask_sj = 0;
  bool causal = false;
  double scale = 1, dropout_p = 0;
  uint64_t seed = 0, offset = 0;
  int64_t bq = 0, bk = 0;  // query / key block sizes, multiples of attention_tile (ops/attention.cpp picks them)
  void* out = nullptr;   // forward: (BH, L, Ev)
  void* lse = nullptr;   // forward writes, backward reads: (BH, L) row log-sum-exp, -inf when fully masked
  const void* dout = nullptr;  // backward
  void* dq = nullptr;
  void* dk = nullptr;
  void* dv = nullptr;
};
// Forward of query block `item % ceil(L / bq)` of head `item / ceil(L / bq)`.
using AttentionForward = void (*)(const AttentionArgs&, int64_t item);
// Backward work item: kAttnAll: item = k/v head, writes its dk, dv and the dq of every q head
// reading it; kAttnKV: item = kv head * ceil(S / bk) + key block, writes that block of dk, dv;
// kAttnQ: item = q head * ceil(L / bq) + query block, writes that block of dq.
enum AttentionPass : int { kAttnAll = 0, kAttnKV = 1, kAttnQ = 2 };
using AttentionBackward = void (*)(const AttentionArgs&, int pass, int64_t item);

// Cross entropy over rows of C contiguous logits. Targets: class indices (target, already range
// checked; ignore_index rows give 0) or probabilities (prob, rows of C). weight: C values or null.
// Forward writes each row's loss and log-sum-exp; backward writes dx = grad[r] * (softmax * sum(a) - a)
// with a the row's weighted (smoothed) target distribution; grad_stride 0 broadcasts one value.
struct CrossEntropyArgs {
  int64_t C = 0;
  const void* x = nullptr;
  const int64_t* target = nullptr;
  const void* prob = nullptr;
  const void* weight = nullptr;
  int64_t ignore_index = -100;
  double smoothing = 0;
  void* loss = nullptr;
  void* lse = nullptr;
  const void* grad = nullptr;
  int64_t grad_stride = 1;
  void* dx = nullptr;
};
using CrossEntropyLoop = void (*)(const CrossEntropyArgs&, int64_t row_begin, int64_t row_end);

// Fused optimiser updates, in place over elements [begin, end) of contiguous arrays of one dtype
// (ops/optim.cpp validates). Each follows torch.optim's single-tensor arithmetic order. A null
// state pointer means the option that needs it is off.
struct SgdArgs {
  void* param = nullptr;
  const void* grad = nullptr;
  void* momentum_buffer = nullptr;  // null when momentum == 0
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
  bool first = false;  // the buffer starts as the (decayed) gradient itself
};
struct AdamArgs {
  void* param = nullptr;
  const void* grad = nullptr;
  void* exp_avg = nullptr;
  void* exp_avg_sq = nullptr;
  void* max_exp_avg_sq = nullptr;  // null unless amsgrad
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0;
  double step_size = 0, bias_correction2_sqrt = 1;  // lr / (1 - beta1^t), sqrt(1 - beta2^t)
  bool decoupled = false, maximize = false;
};
struct RmspropArgs {
  void* param = nullptr;
  const void* grad = nullptr;
  void* square_avg = nullptr;
  void* grad_avg = nullptr;         // null unless centered
  void* momentum_buffer = nullptr;  // null when momentum == 0
  double lr = 0, alpha = 0, eps = 0, weight_decay = 0, momentum = 0;
  bool maximize = false;
};
struct AdagradArgs {
  void* param = nullptr;
  const void* grad = nullptr;
  void* sum = nullptr;
  double clr = 0, eps = 0, weight_decay = 0;  // clr: lr / (1 + (t - 1) * lr_decay)
  bool maximize = false;
};
using SgdLoop = void (*)(const SgdArgs&, int64_t begin, int64_t end);
using AdamLoop = void (*)(const AdamArgs&, int64_t begin, int64_t end);
using RmspropLoop = void (*)(const RmspropArgs&, int64_t begin, int64_t end);
using AdagradLoop = void (*)(const AdagradArgs&, int64_t begin, int64_t end);
// Sum of |x|^p over n contiguous elements in float64; max |x| (NaN wins) when p is infinite.
using PowSumLoop = double (*)(const void* x, int64_t n, double p);

// Geometry of one image and one group of a 2-D convolution (1-D ones have H = KH = 1): C input
// channels, H x W input, OH x OW output, KH x KW taps; pt/pl: padding before the first row/column
// (the padding after is implied by OH/OW). Planes are contiguous, W elements per row.
// phase > 0 (patch copies only): each row is stored as its sw column phases, `phase` elements
// each, column c at (c % sw) * phase + c / sw, so a strided row segment is a contiguous run.
struct ConvGeom {
  int64_t C = 0, H = 0, W = 0, OH = 0, OW = 0, KH = 0, KW = 0;
  int64_t sh = 1, sw = 1, pt = 0, pl = 0, dh = 1, dw = 1;
  int64_t phase = 0;
};
// Patch matrix of output pixels [p0, p0 + np) (pixels in row-major order): row k = (c, ky, kx),
// np columns, zeros where a tap falls into the padding. col2im adds each entry into the input
// pixel it came from (dx +=).
using Col2imFn = void (*)(const ConvGeom&, const void* col, int64_t p0, int64_t np, void* dx);
// The patch matrix laid out as GemmArgs::Bpacked: ceil(np / nr) panels, each K x nr
// (K = C * KH * KW rows, k-major), columns past np zero (nr = np: the plain K x np matrix). For
// an input with no padding (pt = pl = 0, every tap inside: the caller pads the planes) and, at
// column strides above 1, rows split into phases, so each panel is plain row copies.
using Im2colPanelsFn = void (*)(const ConvGeom&, const void* x, int64_t p0, int64_t np, int64_t nr, void* panels);
// Rows of W values (lds apart) split by the parity of their padded column x + pl: value x of
// row r to even[r * ldd + (x + pl) / 2] when x + pl is even, else to odd[r * ldd + (x + pl) / 2]
// (the column phases of a stride-2 convolution's padded planes). Padding is left untouched.
using SplitColumnsFn = void (*)(const void* src, int64_t lds, int64_t W, int64_t rows, int64_t pl, void* even,
                                void* odd, int64_t ldd);
// Direct convolution (no patch copies): over planes already padded (geom has no padding left;
// H x W = the padded plane), output rows [oy0, oy1) for the packed weight rows
// [m0, m1) (GemmArgs::Apacked layout, K = C * KH * KW, m0 a multiple of MR). Tiles of NR
// consecutive pixels of the "wide" output (OH x W, columns from OW on are discarded) are read
// with one offset per tap; `wide` runs tiles across rows, otherwise each output row is tiled on
// its own (less waste when OW is a multiple of NR); `row_vectors` (OW a multiple of the vector
// width) makes each tile's vectors whole row segments, the second anywhere after the first
// (two 16-pixel rows of a 16 x 16 output in one tile). x needs NR elements of slack after the last
// plane. y (+ bias per row when given) is written, not accumulated: rows are OH * OW apart.
// The taps are summed a slice of channels at a time (the first slice writes, the rest add).
// Strided convolutions (`phased`) read planes split into geom.sh x geom.sw phase planes of
// H x W each (padded pixel (y, x) at phase (y % sh, x % sw), position (y / sh, x / sw)): each
// tap then reads one phase plane at unit stride, so the kernel runs as at stride 1.
// With `pixel_rows`, the tile is turned around: its MR rows are consecutive pixels of one output
// row (broadcast from the input rows) and its NR columns output channels, the weight packed as
// GemmArgs::Bpacked (K x output channels; [m0, m1) then a range of output channels, m0 a
// multiple of NR), and the whole K is summed in registers. Outputs whose rows fill MR-wide tiles
// but leave padding columns in NR-wide ones (14 x 14 planes with 14 x 32 tiles) lose no lanes.
struct DirectConvArgs {
  ConvGeom geom;
  const void* x = nullptr;
  int64_t plane = 0;
  bool phased = false;
  bool pixel_rows = false;
  const void* w = nullptr;
  const void* bias = nullptr;
  void* y = nullptr;
  bool wide = true;
  bool row_vectors = false;  // OW a multiple of the vector width: tiles of whole row vectors
  int64_t channels_per_slice = 1;  // taps are summed in slices of this many input channels
  // The input the caller's next item reads (its raw planes, prefetch_elements values), fetched
  // into the cache while this item computes; may be null.
  const void* prefetch = nullptr;
  int64_t prefetch_elements = 0;
};
using DirectConvFn = void (*)(const DirectConvArgs&, int64_t m0, int64_t m1, int64_t oy0, int64_t oy1);
// Direct weight gradient of one image and group (no patch copies): for every tap t, rows o in
// [m0, m1) and input channels c in [c0, c1) (m0 a multiple of MR, c0 of NR),
//   dw[(t * O + o) * ldc + c] (+)= sum over output pixels p of dy[o][p] * x[at(p) + tap(t)][c],
// the MR x NR tile of dw held in registers over all OH * OW pixels. x is the image's input in
// channels-last order over its padded planes (geom has no padding left: geom.H x geom.W
// positions, `cs` values apart, NR values of slack after the last), so that every (pixel, tap)
// reads NR consecutive channels at any stride or dilation; dy is packed as GemmArgs::Apacked
// (O x OH * OW). `accumulate` adds into dw instead of writing it.
struct DirectWeightArgs {
  ConvGeom geom;
  const void* x = nullptr;
  int64_t cs = 0;
  const void* dy = nullptr;
  int64_t O = 0;
  void* dw = nullptr;
  int64_t ldc = 0;
  bool accumulate = false;
};
using DirectWeightFn = void (*)(const DirectWeightArgs&, int64_t m0, int64_t m1, int64_t c0, int64_t c1);
// Channels [c0, c1) of geom's C planes at x (`plane` elements apart: H * W, or more when geom
// covers a band of the planes' rows), padded to padded_h x padded_w (zeros where a position
// falls into the padding), in channels-last order: out[(y * padded_w + x) * C + c]. A block of
// channels at a time, so that the planes are read as a few sequential streams.
using ChannelsLastFn = void (*)(const ConvGeom&, int64_t plane, int64_t padded_w, int64_t padded_h, const void* x,
                                int64_t c0, int64_t c1, void* out);
// One input plane with one KH x KW filter (depthwise convolution): y (OH x OW) = x (*) w + *b
// (b may be null);
// backward: dx (H x W) += dy (*)^T w and dw (KH x KW) += x (*) dy. The forward and the weight
// gradient read a plane with no padding (pt = pl = 0, every tap inside: the caller pads it).
using PlaneConvFn = void (*)(const ConvGeom&, const void* x, const void* w, const void* b, void* y);
using PlaneConvDataFn = void (*)(const ConvGeom&, const void* dy, const void* w, void* dx);
using PlaneConvWeightFn = void (*)(const ConvGeom&, const void* x, const void* dy, void* dw);
// Winograd convolution of 3x3 filters (cpu/winograd_kernels.cpp): F(2x2, 3x3) at stride 1, and
// at stride 2 the filter split by tap parity into 2x2, 2x1, 1x2 and 1x1 sub-filters over the
// input's phases; float32 only. Tiles of 2 x 2 output pixels, tw = ceil(OW / 2) per row, ceil(OH / 2) rows,
// one row of tiles (ty) per call; winograd_values(stride) transformed values a tile.
// Input: an image padded channels-last, winograd_span(tw, stride) columns wide
// (x[(y * width + col) * C + c], tile row ty starting at padded row 2 stride ty) -> value xi of
// tile tx's transformed patch, channel c, at v[xi * vs + tx * C + c].
// Output: the products (value xi, tile tx, output channel o at m[xi * ms + tx * O + o]) -> the
// tiles' pixels in the image's O output planes (OH x OW each), plus bias[o] (may be null).
// Weights: filters [o0, o1) of w (O x C x 3 x 3) -> value xi of filter o, channel c at
// u[xi * us + o * C + c].
inline int winograd_values(int stride) { return stride == 2 ? 25 : 16; }
// Padded input rows or columns that n tile rows or columns read.
inline int64_t winograd_span(int64_t n, int stride) { return stride == 2 ? 4 * n + 1 : 2 * n + 2; }
using WinogradInputFn = void (*)(int64_t C, int64_t tw, int64_t ty, int stride, const void* x, void* v, int64_t vs);
using WinogradOutputFn = void (*)(const ConvGeom&, int64_t O, int64_t ty, int stride, const void* m, int64_t ms,
                                  const void* bias, void* y);
using WinogradWeightFn = void (*)(int64_t C, int64_t o0, int64_t o1, int stride, const void* w, void* u, int64_t us);

// One time step of a recurrent cell (ops/rnn.cpp) over batch rows [b0, b1); every (B, n) operand
// is contiguous with rows of n. Forward: `gates` (B, G*H) holds the summed input and hidden
// pre-activations (for GRU the input part only, `hgates` the hidden part with its bias) and is
// overwritten by the activations that backward reads. Backward: the gradient wrt h_t is
// `dy` + `dh`; it writes the pre-activation gradients `dgx` (and, for GRU, the hidden-side `dgh`,
// whose n block carries r), carries LSTM's cell gradient in `dc`, and GRU writes its direct
// z * dh_t part for h_{t-1} back into `dh` (the rest comes from the recurrent GEMM).
enum class RnnMode : int { Tanh, Relu, Lstm, Gru, Count };
struct RnnStepArgs {
  int64_t H = 0;
  void* gates = nullptr;
  const void* hgates = nullptr;  // GRU, forward
  const void* hprev = nullptr;
  const void* cprev = nullptr;   // LSTM
  void* h = nullptr;             // forward: written; backward: read (RNN)
  void* c = nullptr;             // LSTM: c_t, written forward and read backward
  void* hn = nullptr;            // GRU: hidden part of the n gate, written forward, read backward
  const void* dy = nullptr;
  void* dh = nullptr;
  void* dc = nullptr;
  void* dgx = nullptr;
  void* dgh = nullptr;
};
using RnnStep = void (*)(const RnnStepArgs&, int64_t b0, int64_t b1);

struct Kernels {
  BinaryLoop binary[int(BinaryOp::Count)][kNumDTypes] = {};
  UnaryLoop unary[int(UnaryOp::Count)][kNumDTypes] = {};
  ReduceLoop reduce[int(ReduceOp::Count)][kNumDTypes] = {};
  ArgLoop arg[kNumDTypes] = {};
  SqDevLoop sqdev[kNumDTypes] = {};
  RowLoop row[int(RowOp::Count)][kNumDTypes] = {};
  CumsumLoop cumsum[kNumDTypes] = {};
  GemmFn gemm[kNumDTypes] = {};
  int gemm_tile[kNumDTypes][2] = {};  // MR, NR of the micro-kernel
  GemmPackFn gemm_pack_a[kNumDTypes] = {};
  GemmPackBFn gemm_pack_b[kNumDTypes] = {};
  double (*fma_peak)(double seconds) = nullptr;
  NormForward norm_forward[kNumDTypes] = {};
  NormBackward norm_backward[kNumDTypes] = {};
  BatchNormStats batch_norm_stats[kNumDTypes] = {};
  BatchNormApply batch_norm_apply[kNumDTypes] = {};
  RnnStep rnn_forward[int(RnnMode::Count)][kNumDTypes] = {};
  RnnStep rnn_backward[int(RnnMode::Count)][kNumDTypes] = {};
  Col2imFn col2im[kNumDTypes] = {};
  Im2colPanelsFn im2col_panels[kNumDTypes] = {};
  SplitColumnsFn split_columns[kNumDTypes] = {};
  DirectConvFn conv_direct[kNumDTypes] = {};
  DirectWeightFn conv_weight_direct[kNumDTypes] = {};
  ChannelsLastFn channels_last[kNumDTypes] = {};
  PlaneConvFn plane_conv[kNumDTypes] = {};
  PlaneConvDataFn plane_conv_data[kNumDTypes] = {};
  PlaneConvWeightFn plane_conv_weight[kNumDTypes] = {};
  WinogradInputFn winograd_input[kNumDTypes] = {};
  WinogradOutputFn winograd_output[kNumDTypes] = {};
  WinogradWeightFn winograd_weight[kNumDTypes] = {};
  RowBackwardLoop row_backward[2][kNumDTypes] = {};
  AttentionForward attention_forward[kNumDTypes] = {};
  AttentionBackward attention_backward[kNumDTypes] = {};
  int attention_tile[kNumDTypes][2] = {};  // granularity of query and key blocks (micro-tile multiples)
  CrossEntropyLoop cross_entropy_forward[kNumDTypes] = {};
  CrossEntropyLoop cross_entropy_backward[kNumDTypes] = {};
  SgdLoop sgd[kNumDTypes] = {};
  AdamLoop adam[kNumDTypes] = {};
  RmspropLoop rmsprop[kNumDTypes] = {};
  AdagradLoop adagrad[kNumDTypes] = {};
  PowSumLoop pow_sum[kNumDTypes] = {};
};

// The table for the ISA in use (detected once; see core/cpu_features.h for the override).
const Kernels& kernels();

#define LAMINA_ISA_CAT_(name, isa) name##_##isa
#define LAMINA_ISA_FN(name, isa) LAMINA_ISA_CAT_(name, isa)
#define LAMINA_DECLARE_ISA(isa)                          \
  void LAMINA_ISA_FN(register_elementwise, isa)(Kernels&); \
  void LAMINA_ISA_FN(register_reduce, isa)(Kernels&); \
  void LAMINA_ISA_FN(register_gemm, isa)(Kernels&); \
  void LAMINA_ISA_FN(register_norm, isa)(Kernels&); \
  void LAMINA_ISA_FN(register_batch_norm, isa)(Kernels&); \
  void LAMINA_ISA_FN(register_rnn, isa)(Kernels&); \
  void LAMINA_ISA_FN(register_conv, isa)(Kernels&); \
  void LAMINA_ISA_FN(register_winograd, isa)(Kernels&); \
  void LAMINA_ISA_FN(register_attention, isa)(Kernels&); \
  void LAMINA_ISA_FN(register_loss, isa)(Kernels&); \
  void LAMINA_ISA_FN(register_optim, isa)(Kernels&);
LAMINA_DECLARE_ISA(avx512)
LAMINA_DECLARE_ISA(avx2)
LAMINA_DECLARE_ISA(base)

}  // namespace lamina::cpu

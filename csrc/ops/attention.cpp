#include "ops/attention.h"

#include <cmath>
#include <limits>
#include <omp.h>
#include <vector>

#include "core/cpu_features.h"
#include "core/parallel.h"
#include "cpu/kernels.h"
#include "ops/copy.h"
#include "ops/creation.h"

namespace lamina {

namespace {

DType compute_dtype(DType t) { return t == DType::Float64 ? DType::Float64 : DType::Float32; }

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size(), 1);
  for (int64_t d = int64_t(shape.size()) - 2; d >= 0; --d) st[d] = st[d + 1] * shape[d + 1];
  return st;
}

// Query and key block size (one for both): the largest multiple of the kernels' granularity, up
// to 256, such that one backward pair at a nominal head width of 64 (Q and dO as rows and as
// strips, K and V, two score tiles) fills at most half of L2.
int64_t block_size(DType c) {
  const int64_t step = cpu::kernels().attention_tile[int(c)][0], t = itemsize(c), w = 64 * t;
  const int64_t budget = cpu_info().l2 / 2;
  int64_t n = step;
  while (n + step <= 256 && 6 * w * (n + step) + 2 * t * (n + step) * (n + step) <= budget) n += step;
  return n;
}

// The operands in the kernels' layout, and the index tables cpu::AttentionArgs points into.
struct Plan {
  DType c = DType::Float32;
  Tensor q, k, v, mask;
  Shape batch;  // q.shape[:-2]: the output's batch dims
  int64_t BH = 0, nkv = 0;
  std::vector<int64_t> kv_of, head_start, heads, mask_off;
  cpu::AttentionArgs args;
};

// Validates q/k/v/mask against each other and lays them out; `op` names the op in errors.
void make_plan(Plan& p, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
               const AttentionOptions& opt, const char* op) {
  for (const Tensor* t : {&q, &k, &v}) require_cpu(*t, op);
  LAMINA_CHECK(is_floating(q.dtype()), TypeError, "[", op, "] expected floating point query, key and value, got ",
               dtype_name(q.dtype()));
  LAMINA_CHECK(k.dtype() == q.dtype() && v.dtype() == q.dtype(), TypeError, "[", op,
               "] expected query, key and value of one dtype, got ", dtype_name(q.dtype()), ", ",
               dtype_name(k.dtype()), " and ", dtype_name(v.dtype()));
  LAMINA_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, ShapeError, "[", op,
               "] query, key and value need at least 2 dims (..., L, E), got shapes ", q.shape(), ", ", k.shape(),
               " and ", v.shape());
  const int64_t L = q.shape().end()[-2], E = q.shape().back(), S = k.shape().end()[-2], Ev = v.shape().back();
  LAMINA_CHECK(k.shape().back() == E && v.shape().end()[-2] == S, ShapeError, "[", op,
               "] query (..., L, E), key (..., S, E) and value (..., S, Ev) disagree: shapes ", q.shape(), ", ",
               k.shape(), " and ", v.shape());
  const Shape qb(q.shape().begin(), q.shape().end() - 2), kb(k.shape().begin(), k.shape().end() - 2);
  LAMINA_CHECK(kb == Shape(v.shape().begin(), v.shape().end() - 2), ShapeError, "[", op,
               "] key and value batch dims differ: shapes ", k.shape(), " and ", v.shape());
  const int64_t nq = int64_t(qb.size()), nk = int64_t(kb.size());
  bool ok = nk <= nq;
  for (int64_t d = 0; ok && d < nk; ++d) {
    const int64_t kd = kb[d], qd = qb[nq - nk + d];
    const bool heads = opt.enable_gqa && d == nk - 1;  // dim -3: heads, grouped under enable_gqa
    ok = kd == qd || kd == 1 || (heads && kd > 0 && qd % kd == 0);
  }
  LAMINA_CHECK(ok, ShapeError, "[", op, "] key/value shape ", k.shape(), " does not broadcast to query shape ",
               q.shape(), opt.enable_gqa ? "" : " (grouped-query heads need enable_gqa=True)");
  LAMINA_CHECK(opt.dropout_p >= 0 && opt.dropout_p <= 1, ValueError, "[", op, "] dropout_p must be in [0, 1], got ",
               opt.dropout_p);
  LAMINA_CHECK(!(opt.causal && mask), ValueError, "[", op, "] attn_mask and is_causal=True cannot be combined");

  p.c = compute_dtype(q.dtype());
  p.q = cast(q, p.c).contiguous();
  p.k = cast(k, p.c).contiguous();
  p.v = cast(v, p.c).contiguous();
  p.batch = qb;
  p.BH = numel_of(qb);
  p.nkv = numel_of(kb);

  // Which k/v head each q head reads, and the inverse lists (grouped by k/v head).
  const Shape kst = contiguous_strides(kb);
  p.kv_of.assign(size_t(p.BH), 0);
  for (int64_t h = 0; h < p.BH; ++h) {
    int64_t rest = h, idx = 0;
    for (int64_t d = nq - 1; d >= 0; --d) {
      const int64_t i = rest % qb[d];
      rest /= qb[d];
      const int64_t dk = d - (nq - nk);
      if (dk < 0) continue;
      const int64_t kd = kb[dk];
      idx += (kd == 1 ? 0 : i / (qb[d] / kd)) * kst[dk];
    }
    p.kv_of[size_t(h)] = idx;
  }
  p.head_start.assign(size_t(p.nkv + 1), 0);
  for (int64_t h = 0; h < p.BH; ++h) ++p.head_start[size_t(p.kv_of[size_t(h)] + 1)];
  for (int64_t j = 0; j < p.nkv; ++j) p.head_start[size_t(j + 1)] += p.head_start[size_t(j)];
  p.heads.assign(size_t(p.BH), 0);
  std::vector<int64_t> fill(p.head_start.begin(), p.head_start.end() - 1);
  for (int64_t h = 0; h < p.BH; ++h) p.heads[size_t(fill[size_t(p.kv_of[size_t(h)])]++)] = h;

  cpu::AttentionArgs& a = p.args;
  if (mask) {
    require_cpu(*mask, op);
    Shape target = qb;
    target.push_back(L);
    target.push_back(S);
    const int64_t nt = int64_t(target.size()), nm = mask->dim();
    bool mok = nm <= nt;
    for (int64_t d = 0; mok && d < nm; ++d) mok = mask->shape()[d] == 1 || mask->shape()[d] == target[nt - nm + d];
    LAMINA_CHECK(mok, ShapeError, "[", op, "] attn_mask shape ", mask->shape(), " does not broadcast to ", target);
    if (mask->dtype() == DType::Bool) {
      p.mask = where(*mask, full({}, 0.0, p.c, Device{}), full({}, -std::numeric_limits<double>::infinity(), p.c, Device{}));
    } else {
      LAMINA_CHECK(is_floating(mask->dtype()), TypeError, "[", op, "] attn_mask must be bool or floating point, got ",
                   dtype_name(mask->dtype()));
      p.mask = cast(*mask, p.c).contiguous();
    }
    // Strides of the mask broadcast to `target` (0 along broadcast dims).
    const Shape mst = contiguous_strides(mask->shape());
    Shape st(size_t(nt), 0);
    for (int64_t d = 0; d < nm; ++d)
      if (mask->shape()[d] != 1) st[size_t(nt - nm + d)] = mst[size_t(d)];
    a.mask_si = st[size_t(nt - 2)];
    a.mask_sj = st[size_t(nt - 1)];
    p.mask_off.assign(size_t(p.BH), 0);
    for (int64_t h = 0; h < p.BH; ++h) {
      int64_t rest = h, off = 0;
      for (int64_t d = nq - 1; d >= 0; --d) {
        off += rest % qb[d] * st[size_t(d)];
        rest /= qb[d];
      }
      p.mask_off[size_t(h)] = off;
    }
    a.mask = p.mask.bytes();
    a.mask_off = p.mask_off.data();
  }
  a.L = L; a.S = S; a.E = E; a.Ev = Ev;
  a.q = p.q.bytes(); a.k = p.k.bytes(); a.v = p.v.bytes();
  a.kv_of = p.kv_of.data();
  a.head_start = p.head_start.data();
  a.heads = p.heads.data();
  a.causal = opt.causal;
  a.scale = opt.scale ? *opt.scale : (E > 0 ? 1.0 / std::sqrt(double(E)) : 1.0);
  a.dropout_p = opt.dropout_p;
  a.bq = a.bk = block_size(p.c);
}

Shape with_tail(Shape s, std::initializer_list<int64_t> tail) {
  s.insert(s.end(), tail);
  return s;
}

// Runs f(0 .. n-1) over the threads, handing items out one at a time: with a causal mask the
// items differ in cost, and callers list the expensive ones first.
template <class F>
void run_items(int64_t n, const F& f) {
  const int64_t nt = std::min<int64_t>(get_num_threads(), n);
  if (nt <= 1 || omp_in_parallel()) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1) num_threads(int(nt))
  for (int64_t i = 0; i < n; ++i) f(i);
}

int64_t blocks(int64_t n, int64_t b) { return (n + b - 1) / b; }

}  // namespace

AttentionForwardResult attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                                         const AttentionOptions& opt, Generator& gen) {
  Plan p;
  make_plan(p, q, k, v, mask, opt, "scaled_dot_product_attention");
  cpu::AttentionArgs& a = p.args;
  AttentionForwardResult r;
  r.out = Tensor::empty(with_tail(p.batch, {a.L, a.Ev}), p.c);
  r.lse = Tensor::empty(with_tail(p.batch, {a.L}), p.c);
  if (opt.dropout_p > 0) {
    // One Philox call gives four words: one per score.
    auto [seed, offset] = gen.reserve(uint64_t(p.BH) * uint64_t(a.L) * uint64_t(a.S) / 4 + 1);
    r.seed = a.seed = seed;
    r.offset = a.offset = offset;
  }
  a.out = r.out.bytes();
  a.lse = r.lse.bytes();
  const auto& K = cpu::kernels();
  auto fn = K.attention_forward[int(p.c)];
  const int64_t items = p.BH * blocks(a.L, a.bq);
  // Later query blocks see more keys under a causal mask: start them first.
  run_items(items, [&](int64_t i) { fn(a, items - 1 - i); });
  if (p.c != q.dtype()) r.out = cast(r.out, q.dtype());
  return r;
}

AttentionBackwardResult attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                           const Tensor* mask, const Tensor& out, const Tensor& lse,
                                           const AttentionOptions& opt, uint64_t seed, uint64_t offset) {
  const char* op = "scaled_dot_product_attention_backward";
  Plan p;
  make_plan(p, q, k, v, mask, opt, op);
  cpu::AttentionArgs& a = p.args;
  const Shape out_shape = with_tail(p.batch, {a.L, a.Ev});
  LAMINA_CHECK(dout.shape() == out_shape && out.shape() == out_shape && lse.shape() == with_tail(p.batch, {a.L}),
               ShapeError, "[", op, "] gradient ", dout.shape(), ", output ", out.shape(), " and lse ", lse.shape(),
               " do not match the output shape ", out_shape);
  Tensor g = cast(dout, p.c).contiguous(), o = cast(out, p.c).contiguous(), l = cast(lse, p.c).contiguous();
  AttentionBackwardResult r{Tensor::empty(p.q.shape(), p.c), Tensor::empty(p.k.shape(), p.c),
                            Tensor::empty(p.v.shape(), p.c)};
  a.seed = seed;
  a.offset = offset;
  a.dout = g.bytes();
  a.out = o.bytes();
  a.lse = l.bytes();
  a.dq = r.dq.bytes();
  a.dk = r.dk.bytes();
  a.dv = r.dv.bytes();
  const auto& K = cpu::kernels();
  auto fn = K.attention_backward[int(p.c)];
  const int64_t nqb = blocks(a.L, a.bq), nkb = blocks(a.S, a.bk);
  if (p.nkv >= 4 * int64_t(get_num_threads())) {
    // Enough k/v heads to keep every thread busy: one item per k/v head computes everything.
    run_items(p.nkv, [&](int64_t i) { fn(a, cpu::kAttnAll, i); });
  } else {
    // Few heads, long sequences: dk/dv by key block, then dq by query block (scores recomputed).
    run_items(p.nkv * nkb, [&](int64_t i) { fn(a, cpu::kAttnKV, i); });
    run_items(p.BH * nqb, [&](int64_t i) { fn(a, cpu::kAttnQ, p.BH * nqb - 1 - i); });
  }
  if (p.c != q.dtype()) {
    r.dq = cast(r.dq, q.dtype());
    r.dk = cast(r.dk, q.dtype());
    r.dv = cast(r.dv, q.dtype());
  }
  return r;
}

}  // namespace lamina

"""scaled_dot_product_attention: the fused forward against a float64 NumPy reference that builds
the whole score matrix, gradients by gradcheck and against PyTorch, masks of every broadcast
shape, causal masking, grouped-query heads, dropout, fully masked rows, memory and errors."""
import os
import subprocess
import sys

import numpy as np
import pytest

import lamina
from lamina.nn import functional as F
from conftest import rel_err, to_np


def ref_sdpa(q, k, v, mask=None, causal=False, scale=None, gqa=False, keep=None, p=0.0):
    """float64 reference; keep: the dropout keep mask (0/1) of shape (..., L, S)."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    if gqa and q.ndim >= 3 and k.shape[-3] != q.shape[-3]:
        rep = q.shape[-3] // k.shape[-3]
        k, v = np.repeat(k, rep, axis=-3), np.repeat(v, rep, axis=-3)
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    L, S = s.shape[-2:]
    if causal:
        s = np.where(np.tril(np.ones((L, S), dtype=bool)), s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    m = s.max(-1, keepdims=True)
    dead = np.isneginf(m)
    e = np.exp(s - np.where(dead, 0, m))
    den = e.sum(-1, keepdims=True)
    w = np.where(dead, 0, e / np.where(dead, 1, den))
    if keep is not None:
        w = w * keep / (1 - p)
    return w @ v


def randn(rng, *shape):
    return rng.standard_normal(shape)


def lt(a, dtype="float64", grad=False):
    return lamina.tensor(np.asarray(a), dtype=getattr(lamina, dtype), requires_grad=grad)


SHAPES = [  # (batch dims, L, S, E, Ev)
    ((2, 3), 5, 7, 4, 4),
    ((1, 2), 1, 9, 3, 5),      # one query
    ((2,), 6, 1, 5, 2),        # one key
    ((), 13, 11, 7, 3),        # 2-d, odd E, Ev != E
    ((1, 1), 130, 97, 16, 24),  # several blocks, ragged last block
]


@pytest.mark.parametrize("batch,L,S,E,Ev", SHAPES)
@pytest.mark.parametrize("causal", [False, True])
def test_forward_matches_reference(isa, rng, batch, L, S, E, Ev, causal):
    q, k, v = randn(rng, *batch, L, E), randn(rng, *batch, S, E), randn(rng, *batch, S, Ev)
    for dtype, tol in (("float64", 1e-12), ("float32", 1e-5)):
        out = F.scaled_dot_product_attention(lt(q, dtype), lt(k, dtype), lt(v, dtype), is_causal=causal)
        assert out.dtype == getattr(lamina, dtype) and tuple(out.shape) == (*batch, L, Ev)
        assert rel_err(to_np(out), ref_sdpa(q, k, v, causal=causal)) < tol


def test_scale_and_half_precision(rng):
    q, k, v = randn(rng, 2, 9, 8), randn(rng, 2, 6, 8), randn(rng, 2, 6, 8)
    out = F.scaled_dot_product_attention(lt(q), lt(k), lt(v), scale=0.3)
    assert rel_err(to_np(out), ref_sdpa(q, k, v, scale=0.3)) < 1e-12
    for dtype, tol in (("float16", 2e-3), ("bfloat16", 2e-2)):
        out = F.scaled_dot_product_attention(lt(q, dtype), lt(k, dtype), lt(v, dtype))
        assert out.dtype == getattr(lamina, dtype)
        assert rel_err(to_np(out.float()), ref_sdpa(q, k, v)) < tol


@pytest.mark.parametrize("mask_shape", [(5, 7), (7,), (1, 7), (5, 1), (3, 5, 7), (2, 1, 5, 7), (2, 3, 1, 1), ()])
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_masks_broadcast(rng, mask_shape, kind):
    q, k, v = randn(rng, 2, 3, 5, 4), randn(rng, 2, 3, 7, 4), randn(rng, 2, 3, 7, 6)
    if kind == "bool":
        mask = rng.random(mask_shape) < 0.7
    else:
        mask = np.where(rng.random(mask_shape) < 0.2, -np.inf, randn(rng, *mask_shape))
    out = F.scaled_dot_product_attention(lt(q), lt(k), lt(v), attn_mask=lamina.tensor(mask))
    assert rel_err(to_np(out), ref_sdpa(q, k, v, mask=mask)) < 1e-12


def test_fully_masked_rows_give_zeros(rng):
    """PyTorch's CPU kernel returns 0 for a query that sees no key, and zero gradients."""
    q, k, v = randn(rng, 1, 2, 4, 3), randn(rng, 1, 2, 6, 3), randn(rng, 1, 2, 6, 3)
    mask = rng.random((4, 6)) < 0.6
    mask[1] = False
    fmask = np.where(mask, 0.0, -np.inf)
    for m in (lamina.tensor(mask), lamina.tensor(fmask)):
        qt, kt, vt = lt(q, grad=True), lt(k, grad=True), lt(v, grad=True)
        out = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=m)
        o = to_np(out)
        assert np.all(o[..., 1, :] == 0) and np.isfinite(o).all()
        assert rel_err(o, ref_sdpa(q, k, v, mask=mask)) < 1e-12
        out.sum().backward()
        assert np.all(to_np(qt.grad)[..., 1, :] == 0)
        assert all(np.isfinite(to_np(t.grad)).all() for t in (qt, kt, vt))


def test_key_value_broadcast_and_gqa(rng):
    q = randn(rng, 2, 6, 5, 4)
    k1, v1 = randn(rng, 1, 6, 7, 4), randn(rng, 1, 6, 7, 3)   # batch broadcast
    out = F.scaled_dot_product_attention(lt(q), lt(k1), lt(v1))
    assert rel_err(to_np(out), ref_sdpa(q, np.broadcast_to(k1, (2, 6, 7, 4)), np.broadcast_to(v1, (2, 6, 7, 3)))) < 1e-12
    k2, v2 = randn(rng, 2, 2, 7, 4), randn(rng, 2, 2, 7, 3)   # 6 query heads over 2 key/value heads
    out = F.scaled_dot_product_attention(lt(q), lt(k2), lt(v2), enable_gqa=True)
    assert rel_err(to_np(out), ref_sdpa(q, k2, v2, gqa=True)) < 1e-12
    with pytest.raises(ValueError, match="enable_gqa"):
        F.scaled_dot_product_attention(lt(q), lt(k2), lt(v2))


def _grads(fn, arrays):
    ts = [lt(a, grad=True) for a in arrays]
    fn(*ts).sum().backward()
    return [to_np(t.grad) for t in ts]


@pytest.mark.parametrize("causal", [False, True])
def test_gradcheck(rng, causal):
    q, k, v = randn(rng, 2, 4, 3), randn(rng, 2, 5, 3), randn(rng, 2, 5, 2)
    assert lamina.autograd.gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=causal),
                                     [lt(q, grad=True), lt(k, grad=True), lt(v, grad=True)])


def test_gradcheck_mask_and_gqa(rng):
    q, k, v = randn(rng, 1, 4, 3, 3), randn(rng, 1, 2, 5, 3), randn(rng, 1, 2, 5, 2)
    mask = lamina.tensor(randn(rng, 3, 5))
    assert lamina.autograd.gradcheck(
        lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=mask, enable_gqa=True, scale=0.7),
        [lt(q, grad=True), lt(k, grad=True), lt(v, grad=True)])


def test_backward_many_blocks_both_decompositions(rng):
    """Long sequences over few heads take the split backward (dk/dv by key block, then dq)."""
    torch = pytest.importorskip("torch")
    q, k, v = randn(rng, 1, 150, 8), randn(rng, 1, 160, 8), randn(rng, 1, 160, 8)
    for threads in (1, 2):
        prev = lamina.get_num_threads()
        lamina.set_num_threads(threads)
        try:
            for causal in (False, True):
                got = _grads(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=causal), (q, k, v))
                ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
                torch.nn.functional.scaled_dot_product_attention(*ts, is_causal=causal).sum().backward()
                for g, t in zip(got, ts):
                    assert rel_err(g, t.grad.numpy()) < 1e-10
        finally:
            lamina.set_num_threads(prev)


@pytest.mark.parametrize("seed", range(4))
def test_torch_parity_random_shapes(seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    B, Hk = rng.integers(1, 3, 2)
    H = Hk * rng.integers(1, 3)
    L, S, E, Ev = rng.integers(1, 70, 4)
    causal = bool(rng.integers(2))
    use_mask = not causal and bool(rng.integers(2))
    q, k, v = randn(rng, B, H, L, E), randn(rng, B, Hk, S, E), randn(rng, B, Hk, S, Ev)
    g = randn(rng, B, H, L, Ev)
    mask = rng.random((L, S)) < 0.8 if use_mask else None
    kw = dict(is_causal=causal, enable_gqa=True)
    ts = [torch.tensor(a, dtype=torch.float32, requires_grad=True) for a in (q, k, v)]
    tout = torch.nn.functional.scaled_dot_product_attention(
        *ts, attn_mask=None if mask is None else torch.tensor(mask), **kw)
    (tout * torch.tensor(g, dtype=torch.float32)).sum().backward()
    ls = [lt(a, "float32", grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*ls, attn_mask=None if mask is None else lamina.tensor(mask), **kw)
    (out * lt(g, "float32")).sum().backward()
    assert rel_err(to_np(out), tout.detach().numpy()) < 1e-5
    for a, b in zip(ls, ts):
        assert rel_err(to_np(a.grad), b.grad.numpy()) < 1e-4


def _dropout_keep(shape_q, S, p, seed):
    """The keep mask a draw uses, read back through value = identity and query = 0 (uniform weights)."""
    *batch, L, E = shape_q
    lamina.manual_seed(seed)
    out = F.scaled_dot_product_attention(lt(np.zeros(shape_q)), lt(np.zeros((*batch, S, E))),
                                         lt(np.broadcast_to(np.eye(S), (*batch, S, S)).copy()), dropout_p=p)
    keep = to_np(out) * S * (1 - p)
    assert np.allclose(keep, np.round(keep), atol=1e-9)
    return np.round(keep)


def test_dropout_statistics_and_reproducibility(rng):
    p = 0.3
    keep = _dropout_keep((2, 3, 40, 4), 50, p, seed=7)
    assert set(np.unique(keep)) <= {0.0, 1.0}
    assert abs(keep.mean() - (1 - p)) < 0.03  # 12000 draws: 5 standard deviations
    assert np.array_equal(keep, _dropout_keep((2, 3, 40, 4), 50, p, seed=7))
    assert not np.array_equal(keep, _dropout_keep((2, 3, 40, 4), 50, p, seed=8))
    q, k, v = randn(rng, 2, 5, 4), randn(rng, 2, 6, 4), randn(rng, 2, 6, 3)
    assert np.all(to_np(F.scaled_dot_product_attention(lt(q), lt(k), lt(v), dropout_p=1.0)) == 0)


def test_dropout_gradients_use_the_forward_mask(rng):
    p = 0.4
    q, k, v = randn(rng, 2, 5, 3), randn(rng, 2, 6, 3), randn(rng, 2, 6, 2)
    keep = _dropout_keep(q.shape, 6, p, seed=3)
    lamina.manual_seed(3)
    out = F.scaled_dot_product_attention(lt(q), lt(k), lt(v), dropout_p=p)
    assert rel_err(to_np(out), ref_sdpa(q, k, v, keep=keep, p=p)) < 1e-12

    def fn(a, b, c):
        lamina.manual_seed(3)
        return F.scaled_dot_product_attention(a, b, c, dropout_p=p)
    assert lamina.autograd.gradcheck(fn, [lt(q, grad=True), lt(k, grad=True), lt(v, grad=True)])


def test_non_contiguous_inputs(rng):
    qb, kb, v = randn(rng, 2, 6, 3, 4), randn(rng, 2, 3, 4, 5), randn(rng, 2, 3, 9, 4)
    q = lt(qb).transpose(1, 2)            # (2, 3, 6, 4), strided
    k = lt(kb).transpose(-1, -2)          # (2, 3, 5, 4), transposed
    vs = lt(v)[:, :, ::2]                 # (2, 3, 5, 4), every other row
    out = F.scaled_dot_product_attention(q, k, vs)
    assert rel_err(to_np(out), ref_sdpa(qb.transpose(0, 2, 1, 3), np.swapaxes(kb, -1, -2), v[:, :, ::2])) < 1e-12


def test_empty_sizes(rng):
    out = F.scaled_dot_product_attention(lt(np.zeros((2, 0, 4))), lt(randn(rng, 2, 3, 4)), lt(randn(rng, 2, 3, 5)))
    assert tuple(out.shape) == (2, 0, 5)
    q = lt(randn(rng, 2, 3, 4), grad=True)
    out = F.scaled_dot_product_attention(q, lt(np.zeros((2, 0, 4))), lt(np.zeros((2, 0, 5))))
    assert tuple(out.shape) == (2, 3, 5) and np.all(to_np(out) == 0)
    out.sum().backward()
    assert np.all(to_np(q.grad) == 0)


def test_bad_inputs_raise(rng):
    q, k, v = lt(randn(rng, 2, 5, 4)), lt(randn(rng, 2, 6, 4)), lt(randn(rng, 2, 6, 3))
    sdpa = F.scaled_dot_product_attention
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention.*\(2, 6, 3\)"):
        sdpa(q, lt(randn(rng, 2, 6, 3)), v)          # E mismatch
    with pytest.raises(ValueError, match=r"\(2, 7, 3\)"):
        sdpa(q, k, lt(randn(rng, 2, 7, 3)))          # S mismatch
    with pytest.raises(ValueError, match="broadcast"):
        sdpa(q, lt(randn(rng, 3, 6, 4)), lt(randn(rng, 3, 6, 3)))
    with pytest.raises(ValueError, match=r"attn_mask shape \(4, 6\)"):
        sdpa(q, k, v, attn_mask=lamina.tensor(np.ones((4, 6), dtype=bool)))
    with pytest.raises(ValueError, match="is_causal"):
        sdpa(q, k, v, attn_mask=lamina.tensor(np.ones((5, 6), dtype=bool)), is_causal=True)
    with pytest.raises(ValueError, match="dropout_p"):
        sdpa(q, k, v, dropout_p=1.5)
    with pytest.raises(ValueError, match="at least 2 dims"):
        sdpa(lt(randn(rng, 4)), k, v)
    with pytest.raises(TypeError, match="one dtype"):
        sdpa(q, k, lt(randn(rng, 2, 6, 3), "float32"))


MEMORY_SCRIPT = """
import resource, numpy as np, lamina
from lamina.nn import functional as F
def run(L):
    q, k, v = (lamina.tensor(np.random.default_rng(0).standard_normal((2, L, 64)), dtype=lamina.float32,
                             requires_grad=True) for _ in range(3))
    F.scaled_dot_product_attention(q, k, v).sum().backward()
run(256)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
run(2048)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_memory_stays_far_below_the_score_matrix():
    """Forward+backward at L = S = 2048 over 2 heads: one float32 score matrix per head takes
    32 MiB (a composite backward holds several); the peak resident growth, inputs, outputs and
    gradients included, stays under half of one."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.path.dirname(lamina.__path__[0]),
                                                                       os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    grown_kib = int(out.stdout.split()[-1])
    assert grown_kib < 16 * 1024, grown_kib

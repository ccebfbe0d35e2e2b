"""cross_entropy and nll_loss (class indices and probabilities, weights, ignore_index, label
smoothing, every reduction) against a float64 NumPy reference and PyTorch, gradcheck, errors;
and the fused softmax/log_softmax backward."""
import numpy as np
import pytest

import lamina
from lamina.nn import functional as F
from conftest import rel_err, to_np


def log_softmax_np(x, axis):
    m = x.max(axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis, keepdims=True))


def ref_cross_entropy(x, t, w=None, ignore_index=-100, reduction="mean", eps=0.0):
    """float64 reference, class dim 1 (or 0 for a 1-d input)."""
    axis = 0 if x.ndim == 1 else 1
    C = x.shape[axis]
    logp = log_softmax_np(x, axis)
    wb = np.ones(C) if w is None else w
    shape = [1] * x.ndim
    shape[axis] = C
    wb = wb.reshape(shape)
    if np.issubdtype(t.dtype, np.floating):
        y = t * (1 - eps) + eps / C
        loss = -(wb * y * logp).sum(axis)
        denom = loss.size
    else:
        valid = t != ignore_index
        tc = np.where(valid, t, 0)
        picked = np.take_along_axis(logp, np.expand_dims(tc, axis), axis).squeeze(axis)
        wt = (w[tc] if w is not None else np.ones(t.shape)) * valid
        loss = -(1 - eps) * wt * picked - eps / C * (wb * logp).sum(axis) * valid
        denom = wt.sum()
    if reduction == "none":
        return loss
    return loss.sum() / (denom if reduction == "mean" else 1)


def targets(rng, x, prob, ignore=True):
    axis = 0 if x.ndim == 1 else 1
    C = x.shape[axis]
    if prob:
        t = rng.random(x.shape)
        return t / t.sum(axis, keepdims=True)
    t = rng.integers(0, C, x.shape[:axis] + x.shape[axis + 1:])
    if ignore and t.size > 1:
        t.flat[0] = -100
    return t


CASES = [(7, 5), (3, 4, 2, 3), (5,), (1, 1), (6, 11, 2)]


@pytest.mark.parametrize("shape", CASES)
@pytest.mark.parametrize("prob", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_reference(isa, rng, shape, prob, reduction):
    x = rng.standard_normal(shape)
    C = shape[0] if len(shape) == 1 else shape[1]
    t = targets(rng, x, prob)
    for w in (None, rng.random(C) + 0.1):
        for eps in (0.0, 0.15):
            ref = ref_cross_entropy(x, t, w, reduction=reduction, eps=eps)
            for dtype, tol in (("float64", 1e-12), ("float32", 1e-5)):
                out = F.cross_entropy(lamina.tensor(x, dtype=getattr(lamina, dtype)),
                                      lamina.tensor(t, dtype=getattr(lamina, dtype)) if prob else lamina.tensor(t),
                                      weight=None if w is None else lamina.tensor(w, dtype=getattr(lamina, dtype)),
                                      reduction=reduction, label_smoothing=eps)
                assert out.dtype == getattr(lamina, dtype)
                assert rel_err(to_np(out), ref) < tol


@pytest.mark.parametrize("prob", [False, True])
def test_cross_entropy_gradcheck(rng, prob):
    x = rng.standard_normal((4, 5, 2))
    t = targets(rng, x, prob)
    w = lamina.tensor(rng.random(5) + 0.1)
    tt = lamina.tensor(t)
    for reduction in ("mean", "none"):
        assert lamina.autograd.gradcheck(
            lambda a: F.cross_entropy(a, tt, weight=w, reduction=reduction, label_smoothing=0.1),
            [lamina.tensor(x, requires_grad=True)])


@pytest.mark.parametrize("seed", range(3))
def test_cross_entropy_torch_parity(seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    N, C = rng.integers(1, 40, 2)
    extra = tuple(rng.integers(1, 4, rng.integers(0, 2)))
    x = rng.standard_normal((N, C) + extra).astype(np.float32)
    prob = bool(rng.integers(2))
    t = targets(rng, x, prob).astype(np.float32 if prob else np.int64)
    w = (rng.random(C) + 0.1).astype(np.float32)
    kw = dict(reduction=["mean", "sum", "none"][seed % 3], label_smoothing=float(rng.random() * 0.3))
    tx = torch.tensor(x, requires_grad=True)
    tout = torch.nn.functional.cross_entropy(tx, torch.tensor(t), weight=torch.tensor(w), **kw)
    g = rng.standard_normal(tuple(tout.shape)).astype(np.float32)
    (tout * torch.tensor(g)).sum().backward()
    lx = lamina.tensor(x, requires_grad=True)
    out = F.cross_entropy(lx, lamina.tensor(t), weight=lamina.tensor(w), **kw)
    (out * lamina.tensor(g)).sum().backward()
    assert rel_err(to_np(out), tout.detach().numpy()) < 1e-5
    assert rel_err(to_np(lx.grad), tx.grad.numpy()) < 1e-5


def test_cross_entropy_all_ignored_mean_is_nan():
    out = F.cross_entropy(lamina.tensor(np.zeros((3, 4))), lamina.tensor(np.full(3, -100)))
    assert np.isnan(to_np(out))


def test_cross_entropy_large_rows_and_non_contiguous(rng):
    x = rng.standard_normal((9, 3000))
    t = rng.integers(0, 3000, 9)
    assert rel_err(to_np(F.cross_entropy(lamina.tensor(x, dtype=lamina.float32), lamina.tensor(t))),
                   ref_cross_entropy(x, t)) < 1e-5
    xt = lamina.tensor(x[:, :40].T.copy()).transpose(0, 1)   # (9, 40) strided view
    assert rel_err(to_np(F.cross_entropy(xt, lamina.tensor(t % 40), reduction="none")),
                   ref_cross_entropy(x[:, :40], t % 40, reduction="none")) < 1e-12


def test_cross_entropy_errors(rng):
    x = lamina.tensor(rng.standard_normal((3, 4)))
    with pytest.raises(IndexError, match=r"\[cross_entropy\] target 4 is out of bounds for 4 classes"):
        F.cross_entropy(x, lamina.tensor([0, 4, 1]))
    with pytest.raises(IndexError, match="target -1"):
        F.cross_entropy(x, lamina.tensor([0, -1, 1]))
    with pytest.raises(ValueError, match=r"target shape \(2,\)"):
        F.cross_entropy(x, lamina.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"weight shape \(3,\)"):
        F.cross_entropy(x, lamina.tensor([0, 1, 2]), weight=lamina.tensor(np.ones(3)))
    with pytest.raises(ValueError, match="probability target shape"):
        F.cross_entropy(x, lamina.tensor(np.ones((3, 5))))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, lamina.tensor([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, lamina.tensor([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(TypeError, match="nll_loss"):
        F.nll_loss(x, lamina.tensor(np.ones((3, 4))))


@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 2), (5,)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(rng, shape, reduction):
    x = log_softmax_np(rng.standard_normal(shape), 0 if len(shape) == 1 else 1)
    C = shape[0] if len(shape) == 1 else shape[1]
    t = targets(rng, x, False)
    w = rng.random(C) + 0.1
    out = F.nll_loss(lamina.tensor(x), lamina.tensor(t), weight=lamina.tensor(w), reduction=reduction)
    # With log-probabilities as input, nll_loss equals cross_entropy (log_softmax is idempotent).
    assert rel_err(to_np(out), ref_cross_entropy(x, t, w, reduction=reduction)) < 1e-12
    tt, wt = lamina.tensor(t), lamina.tensor(w)
    assert lamina.autograd.gradcheck(lambda a: F.nll_loss(a, tt, weight=wt, reduction=reduction),
                                     [lamina.tensor(x, requires_grad=True)])


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_softmax_backward(isa, rng, log, dim):
    x = rng.standard_normal((4, 33, 5))
    g = rng.standard_normal(x.shape)
    for dtype, tol in (("float64", 1e-12), ("float32", 1e-5)):
        xt = lamina.tensor(x, dtype=getattr(lamina, dtype), requires_grad=True)
        y = (F.log_softmax if log else F.softmax)(xt, dim)
        (y * lamina.tensor(g, dtype=getattr(lamina, dtype))).sum().backward()
        yn = np.exp(log_softmax_np(x, dim))
        ref = g - yn * g.sum(dim, keepdims=True) if log else yn * (g - (g * yn).sum(dim, keepdims=True))
        assert rel_err(to_np(xt.grad), ref) < tol
    assert lamina.autograd.gradcheck(lambda a: (F.log_softmax if log else F.softmax)(a, dim),
                                     [lamina.tensor(x[:2, :4], requires_grad=True)])


"""Losses (functional and modules): every reduction against float64 NumPy formulas and
PyTorch, gradients against PyTorch and gradcheck, and argument errors."""
import numpy as np
import pytest

import lamina
from lamina import nn
from lamina.nn import functional as F
from lamina.autograd import gradcheck
from conftest import rel_err, to_np

SHAPES = [(7,), (3, 5), (2, 3, 4), (0, 3), (1,)]


def _reduce(v, reduction):
    return {"none": v, "mean": v.mean() if v.size else np.nan, "sum": v.sum()}[reduction]


def _close(out, ref, tol=1e-5):
    out, ref = to_np(out), np.asarray(ref, dtype=np.float64)
    if ref.size == 1 and np.isnan(ref).all():
        assert np.isnan(out).all()
        return
    assert rel_err(out, ref) < tol


def _softplus(x):
    return np.logaddexp(0.0, x)


# Independent float64 references of the elementwise loss.
REFS = {
    "mse_loss": lambda x, y: (x - y) ** 2,
    "l1_loss": lambda x, y: np.abs(x - y),
    "smooth_l1_loss": lambda x, y: np.where(np.abs(x - y) < 0.7, 0.5 * (x - y) ** 2 / 0.7, np.abs(x - y) - 0.35),
    "huber_loss": lambda x, y: np.where(np.abs(x - y) < 0.7, 0.5 * (x - y) ** 2, 0.7 * (np.abs(x - y) - 0.35)),
}
KW = {"smooth_l1_loss": {"beta": 0.7}, "huber_loss": {"delta": 0.7}}


@pytest.mark.parametrize("name", sorted(REFS))
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shape", SHAPES)
def test_regression_losses_match_numpy(rng, name, reduction, shape):
    # The reference sees the same float32-rounded inputs, so only the loss's own rounding counts.
    x, y = (rng.standard_normal(shape).astype(np.float32).astype(np.float64) for _ in range(2))
    out = getattr(F, name)(lamina.tensor(x, dtype=lamina.float32), lamina.tensor(y, dtype=lamina.float32),
                           reduction=reduction, **KW.get(name, {}))
    _close(out, _reduce(REFS[name](x, y), reduction))


def _bce_ref(p, t, w=None):
    v = -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log1p(-p), -100))
    return v if w is None else v * w


def _bce_logits_ref(x, t, w=None, pw=None):
    pw = 1.0 if pw is None else pw
    v = pw * t * _softplus(-x) + (1 - t) * _softplus(x)
    return v if w is None else v * w


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shape", [(6,), (3, 4), (0, 4)])
def test_binary_cross_entropy_matches_numpy(rng, reduction, shape):
    p = rng.uniform(0.01, 0.99, shape)
    t = rng.uniform(0, 1, shape)
    w = rng.uniform(0.5, 2, shape[-1:])
    P, T, W = (lamina.tensor(a, dtype=lamina.float32) for a in (p, t, w))
    _close(F.binary_cross_entropy(P, T, reduction=reduction), _reduce(_bce_ref(p, t), reduction))
    _close(nn.BCELoss(W, reduction=reduction)(P, T), _reduce(_bce_ref(p, t, w), reduction))


def test_binary_cross_entropy_saturated_probabilities_stay_finite():
    p = lamina.tensor([0.0, 1.0, 0.0, 1.0], dtype=lamina.float64, requires_grad=True)
    t = lamina.tensor([0.0, 1.0, 1.0, 0.0], dtype=lamina.float64)
    loss = F.binary_cross_entropy(p, t, reduction="sum")
    assert loss.item() == pytest.approx(200.0)
    loss.backward()
    assert np.isfinite(to_np(p.grad)).all()


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shape", [(6,), (3, 4), (2, 3, 5), (0, 4)])
def test_bce_with_logits_matches_numpy(rng, reduction, shape):
    x = rng.standard_normal(shape) * 30  # large logits: the naive formula would overflow
    t = rng.uniform(0, 1, shape)
    w = rng.uniform(0.5, 2, shape)
    pw = rng.uniform(0.5, 3, shape[-1:])
    X, T, W, PW = (lamina.tensor(a, dtype=lamina.float32) for a in (x, t, w, pw))
    _close(F.binary_cross_entropy_with_logits(X, T, reduction=reduction), _reduce(_bce_logits_ref(x, t), reduction))
    _close(nn.BCEWithLogitsLoss(W, reduction=reduction, pos_weight=PW)(X, T),
           _reduce(_bce_logits_ref(x, t, w, pw), reduction))


def _kl_ref(inp, tgt, log_target):
    if log_target:
        return np.exp(tgt) * (tgt - inp)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tgt > 0, tgt * np.log(np.where(tgt > 0, tgt, 1)), 0.0) - tgt * inp


@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_numpy(rng, reduction, log_target):
    inp = np.log(rng.dirichlet(np.ones(5), size=4))
    tgt = rng.dirichlet(np.ones(5), size=4)
    tgt[0, 1] = 0.0  # a zero-probability target contributes nothing
    if log_target:
        tgt = np.log(tgt + 1e-3)
    ref = _kl_ref(inp, tgt, log_target)
    ref = ref.sum() / 4 if reduction == "batchmean" else _reduce(ref, reduction)
    out = nn.KLDivLoss(reduction=reduction, log_target=log_target)(lamina.tensor(inp, dtype=lamina.float32),
                                              lamina.tensor(tgt, dtype=lamina.float32))
    _close(out, ref)


# ---- gradcheck (float64, small shapes), gradients for input and target
def _t(rng, shape, lo=None, hi=None):
    a = rng.standard_normal(shape) if lo is None else rng.uniform(lo, hi, shape)
    return lamina.tensor(a, dtype=lamina.float64, requires_grad=True)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_losses_gradcheck(rng, reduction):
    x, y = _t(rng, (3, 4)), _t(rng, (3, 4))
    for name in REFS:
        assert gradcheck(lambda a, b, n=name: getattr(F, n)(a, b, reduction=reduction, **KW.get(n, {})), (x, y))
    p, t = _t(rng, (3, 4), 0.05, 0.95), _t(rng, (3, 4), 0, 1)
    assert gradcheck(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction), (p, t))
    w, pw = _t(rng, (4,), 0.5, 2), _t(rng, (4,), 0.5, 3)
    assert gradcheck(lambda a, b, c, d: F.binary_cross_entropy_with_logits(a, b, c, reduction, d), (x, t, w, pw))
    logp = lamina.tensor(np.log(rng.dirichlet(np.ones(4), size=3)), dtype=lamina.float64, requires_grad=True)
    q = _t(rng, (3, 4), 0.05, 1)
    for log_target in (False, True):
        assert gradcheck(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target), (logp, q))


def test_bce_with_logits_gradient_at_zero_logit():
    x = lamina.zeros(3, dtype=lamina.float64, requires_grad=True)
    t = lamina.tensor([0.0, 0.5, 1.0], dtype=lamina.float64)
    F.binary_cross_entropy_with_logits(x, t, reduction="sum").backward()
    np.testing.assert_allclose(to_np(x.grad), 0.5 - to_np(t))


# ---- PyTorch parity (values and gradients through the module classes)
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_loss_modules_match_torch(rng, reduction):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4, 5)).astype(np.float32)
    y = rng.standard_normal((4, 5)).astype(np.float32)
    p = rng.uniform(0.05, 0.95, (4, 5)).astype(np.float32)
    t = rng.uniform(0, 1, (4, 5)).astype(np.float32)
    w = rng.uniform(0.5, 2, (5,)).astype(np.float32)
    logp = np.log(rng.dirichlet(np.ones(5), size=4)).astype(np.float32)
    cases = [
        ("MSELoss", {}, x, y), ("L1Loss", {}, x, y), ("SmoothL1Loss", {"beta": 0.5}, x, y),
        ("HuberLoss", {"delta": 0.5}, x, y), ("BCELoss", {"weight": w}, p, t),
        ("BCEWithLogitsLoss", {"weight": w, "pos_weight": w[::-1].copy()}, x, t),
        ("KLDivLoss", {}, logp, t), ("KLDivLoss", {"log_target": True}, logp, logp[::-1].copy()),
    ]
    for name, kw, a, b in cases:
        lkw = {k: lamina.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        la, lb = lamina.tensor(a, requires_grad=True), lamina.tensor(b, requires_grad=True)
        ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        lo = getattr(nn, name)(reduction=reduction, **lkw)(la, lb)
        to = getattr(torch.nn, name)(reduction=reduction, **tkw)(ta, tb)
        assert rel_err(to_np(lo), to.detach().numpy()) < 1e-5, name
        lo.sum().backward()
        to.sum().backward()
        assert rel_err(to_np(la.grad), ta.grad.numpy()) < 1e-5, name
        assert rel_err(to_np(lb.grad), tb.grad.numpy()) < 1e-5, name


def _has(name):
    return hasattr(F, name)


@pytest.mark.skipif(not _has("cross_entropy") or not _has("nll_loss"),
                    reason="lamina.nn.functional.cross_entropy/nll_loss are not available in this build")
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy_and_nll_modules_match_torch(rng, reduction):
    torch = pytest.importorskip("torch")
    logits = rng.standard_normal((6, 4)).astype(np.float32)
    target = rng.integers(0, 4, 6)
    target[2] = -100
    w = rng.uniform(0.5, 2, 4).astype(np.float32)
    for name, kw in (("CrossEntropyLoss", {"label_smoothing": 0.1}), ("CrossEntropyLoss", {}), ("NLLLoss", {})):
        la = lamina.tensor(logits, requires_grad=True)
        ta = torch.tensor(logits, requires_grad=True)
        inp_l = la if name == "CrossEntropyLoss" else la.log_softmax(1)
        inp_t = ta if name == "CrossEntropyLoss" else ta.log_softmax(1)
        lo = getattr(nn, name)(lamina.tensor(w), reduction=reduction, **kw)(inp_l, lamina.tensor(target))
        to = getattr(torch.nn, name)(torch.tensor(w), reduction=reduction, **kw)(inp_t, torch.tensor(target))
        assert rel_err(to_np(lo), to.detach().numpy()) < 1e-5, name
        lo.sum().backward()
        to.sum().backward()
        assert rel_err(to_np(la.grad), ta.grad.numpy()) < 1e-5, name


# ---- errors
def test_loss_errors():
    a, b = lamina.rand(2, 3), lamina.rand(3, 2)
    with pytest.raises(lamina.ShapeError, match=r"\[mse_loss\].*\(3, 2\).*\(2, 3\)"):
        F.mse_loss(a, b)
    with pytest.raises(lamina.ShapeError, match=r"binary_cross_entropy"):
        F.binary_cross_entropy(a, lamina.rand(2, 1))
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(a * 3, a)
    with pytest.raises(ValueError, match="reduction"):
        F.l1_loss(a, a, reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="batchmean")
    with pytest.raises(ValueError, match="beta"):
        F.smooth_l1_loss(a, a, beta=-1.0)
    with pytest.raises(TypeError, match="kl_div"):
        F.kl_div(a, np.ones((2, 3)))


def test_broadcasting_target_warns():
    a = lamina.rand(2, 3)
    with pytest.warns(UserWarning, match="broadcast"):
        out = F.mse_loss(a, lamina.rand(1, 3), reduction="none")
    assert out.shape == (2, 3)


def test_legacy_reduction_arguments():
    with pytest.warns(DeprecationWarning):
        assert nn.MSELoss(size_average=False).reduction == "sum"
    with pytest.warns(DeprecationWarning):
        assert nn.NLLLoss(None, None, -100, False).reduction == "none"


def test_smooth_l1_with_zero_beta_is_l1(rng):
    x, y = lamina.randn(5), lamina.randn(5)
    assert F.smooth_l1_loss(x, y, beta=0.0).item() == pytest.approx(F.l1_loss(x, y).item())

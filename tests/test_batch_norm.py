"""The fused batch-norm kernels (csrc/ops/batch_norm.cpp): forward, backward and the running
statistics against a float64 NumPy reference on every kernel path (rows, folded small spatial
sizes, (N, C) columns), both thread splits, gradcheck, odd and empty sizes, non-contiguous
operands, 16-bit dtypes, errors, and PyTorch parity."""
import numpy as np
import pytest

import lamina
from lamina.autograd import gradcheck
from lamina.nn import functional as F
from conftest import rel_err, to_np

# (N, C, *): columns (HW = 1), folded (HW < 16), rows with and without a lane tail, N = 1 with
# a spatial extent, C = 1.
SHAPES = [(5, 3), (7, 4, 3), (3, 5, 4, 3), (4, 3, 16), (3, 2, 5, 7), (1, 3, 5, 5), (6, 1, 4, 5), (2, 3, 1, 1)]


def _view(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _ref_forward(x, w, b, eps):
    """y, batch mean and biased variance per channel, in float64."""
    axes = (0,) + tuple(range(2, x.ndim))
    mean, var = x.mean(axes), x.var(axes)
    y = (x - _view(mean, x.ndim)) / np.sqrt(_view(var, x.ndim) + eps)
    return y * _view(w, x.ndim) + _view(b, x.ndim), mean, var


def _ref_backward(x, w, g, eps, mean=None, var=None):
    """dx, dw, db in float64: through the batch statistics when mean/var are None (training),
    else with them held constant (eval)."""
    axes = (0,) + tuple(range(2, x.ndim))
    training = mean is None
    if training:
        mean, var = x.mean(axes), x.var(axes)
    rstd = 1 / np.sqrt(var + eps)
    xhat = (x - _view(mean, x.ndim)) * _view(rstd, x.ndim)
    dw, db = (g * xhat).sum(axes), g.sum(axes)
    dxhat = g * _view(w * rstd, x.ndim)
    if not training:
        return dxhat, dw, db
    n = x.size // x.shape[1]
    dx = dxhat - _view(db * w * rstd / n, x.ndim) - xhat * _view(dw * w * rstd / n, x.ndim)
    return dx, dw, db


def _tensors(arrays, dtype, grad=True):
    return [lamina.tensor(a, dtype=dtype, requires_grad=grad) for a in arrays]


def _train_and_check(rng, shape, dtype, tol, affine=True, offset=0.0, eps=1e-5):
    c = shape[1]
    x = rng.standard_normal(shape) * 1.5 + offset
    w, b = rng.standard_normal(c), rng.standard_normal(c)
    g = rng.standard_normal(shape)
    rm, rv = rng.standard_normal(c), rng.random(c) + 0.5
    lx, lw, lb = _tensors((x, w, b), dtype)
    lrm, lrv = _tensors((rm, rv), dtype, grad=False)
    y = F.batch_norm(lx, lrm, lrv, lw if affine else None, lb if affine else None, training=True, momentum=0.3,
                     eps=eps)
    (y * lamina.tensor(g, dtype=dtype)).sum().backward()
    wr, br = (w, b) if affine else (np.ones(c), np.zeros(c))
    xr = to_np(lx).astype(np.float64)  # the input as the kernel saw it (rounded to dtype)
    yr, mean, var = _ref_forward(xr, wr, br, eps)
    n = x.size // c
    assert rel_err(to_np(y), yr) < tol
    assert rel_err(to_np(lrm), 0.7 * rm + 0.3 * mean) < tol
    assert rel_err(to_np(lrv), 0.7 * rv.astype(np.float64) + 0.3 * var * n / (n - 1)) < tol * 10
    dx, dw, db = _ref_backward(xr, wr, g, eps)
    # dx is a difference of terms of the size of g * w * rstd (nearly cancelling when each
    # channel holds two values), so its error is measured against that size.
    size = np.linalg.norm(g * _view(wr / np.sqrt(var + eps), x.ndim))
    assert np.linalg.norm(to_np(lx.grad) - dx) / size < tol * 10
    if affine:
        # dw and db sum each channel's terms, whose sum may nearly cancel (one channel of values
        # around zero): their error is measured against the size of the terms.
        axes = tuple(i for i in range(x.ndim) if i != 1)
        xhat = (xr - _view(mean, x.ndim)) / np.sqrt(_view(var, x.ndim) + eps)
        for got, want, terms in ((lw.grad, dw, g * xhat), (lb.grad, db, g)):
            assert np.max(np.abs(to_np(got) - want) / np.abs(terms).sum(axis=axes)) < tol


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype,tol", [(lamina.float32, 1e-5), (lamina.float64, 1e-12)])
def test_train_forward_backward_running_stats(rng, isa, shape, dtype, tol):
    _train_and_check(rng, shape, dtype, tol)


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 4, 5)])
def test_train_without_affine(rng, shape):
    _train_and_check(rng, shape, lamina.float64, 1e-12, affine=False)


@pytest.mark.parametrize("shape", [(64, 3), (4, 2, 5, 5), (3, 2, 40)])
def test_large_offset_keeps_variance_accurate(rng, shape):
    # Statistics are summed around a sample of each channel: a common offset far above the
    # spread must not cancel away the variance, in float32 or float64.
    _train_and_check(rng, shape, lamina.float32, 1e-4, offset=1e4)
    _train_and_check(rng, shape, lamina.float64, 1e-9, offset=1e6)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype,tol", [(lamina.float32, 1e-5), (lamina.float64, 1e-12)])
def test_eval_forward_backward(rng, isa, shape, dtype, tol):
    c = shape[1]
    x, g = rng.standard_normal(shape), rng.standard_normal(shape)
    w, b, rm, rv = rng.standard_normal(c), rng.standard_normal(c), rng.standard_normal(c), rng.random(c) + 0.5
    lx, lw, lb = _tensors((x, w, b), dtype)
    lrm, lrv = _tensors((rm, rv), dtype, grad=False)
    before = to_np(lrm).copy(), to_np(lrv).copy()
    y = F.batch_norm(lx, lrm, lrv, lw, lb, training=False, eps=1e-3)
    (y * lamina.tensor(g, dtype=dtype)).sum().backward()
    xr, rmr, rvr = (to_np(t).astype(np.float64) for t in (lx, lrm, lrv))
    ref = (xr - _view(rmr, x.ndim)) / np.sqrt(_view(rvr, x.ndim) + 1e-3) * _view(w, x.ndim) + _view(b, x.ndim)
    assert rel_err(to_np(y), ref) < tol
    dx, dw, db = _ref_backward(xr, w, g, 1e-3, rmr, rvr)
    for got, want in ((lx.grad, dx), (lw.grad, dw), (lb.grad, db)):
        assert rel_err(to_np(got), want) < tol
    assert (to_np(lrm) == before[0]).all() and (to_np(lrv) == before[1]).all()


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 5), (2, 3, 4, 5), (1, 2, 3, 6)])
def test_gradcheck(rng, shape):
    c = shape[1]
    x, w, b = (lamina.tensor(rng.standard_normal(s), dtype=lamina.float64, requires_grad=True)
               for s in (shape, (c,), (c,)))
    rm = lamina.tensor(rng.standard_normal(c), dtype=lamina.float64)
    rv = lamina.tensor(rng.random(c) + 0.5, dtype=lamina.float64)
    assert gradcheck(lambda *a: F.batch_norm(a[0], None, None, a[1], a[2], training=True), (x, w, b))
    assert gradcheck(lambda a: F.batch_norm(a, None, None, training=True), (x,))
    assert gradcheck(lambda *a: F.batch_norm(a[0], rm, rv, a[1], a[2], training=False), (x, w, b))
    assert gradcheck(lambda *a: F.batch_norm(a[0], rm, rv, a[1], None, training=False), (x, w))


@pytest.mark.parametrize("shape", [(4, 16, 32, 32), (8, 3, 64, 48), (2048, 37), (20000, 2, 3)])
def test_threads(rng, shape):
    # Both splits of the statistics pass: whole channels per thread (many channels) and slices
    # of the batch with partial sums (few channels), in row and folded layouts.
    prev = lamina.get_num_threads()
    lamina.set_num_threads(2)
    try:
        _train_and_check(rng, shape, lamina.float32, 1e-5)
    finally:
        lamina.set_num_threads(prev)


def test_non_contiguous(rng):
    c = 3
    xs = rng.standard_normal((4, 5, 6, 2 * c))  # (N, H, W, C) with every other channel taken
    ws = rng.standard_normal(2 * c)
    x = lamina.tensor(xs, dtype=lamina.float64)[..., ::2].permute(0, 3, 1, 2).detach().requires_grad_(True)
    w = lamina.tensor(ws, dtype=lamina.float64)[::2].detach().requires_grad_(True)
    rm, rv = lamina.zeros(2 * c, dtype=lamina.float64), lamina.ones(2 * c, dtype=lamina.float64)
    assert not x.is_contiguous()
    g = rng.standard_normal((4, c, 5, 6))
    # The running buffers are strided views: the update writes through the view only.
    y = F.batch_norm(x, rm[::2], rv[::2], w, None, training=True, momentum=0.5)
    (y * lamina.tensor(g, dtype=lamina.float64).transpose(2, 3).contiguous().transpose(2, 3)).sum().backward()
    xr = xs[..., ::2].transpose(0, 3, 1, 2)
    yr, mean, var = _ref_forward(xr, ws[::2], np.zeros(c), 1e-5)
    assert rel_err(to_np(y), yr) < 1e-12
    assert rel_err(to_np(rm)[::2], 0.5 * mean) < 1e-12 and (to_np(rm)[1::2] == 0).all()
    assert (to_np(rv)[1::2] == 1).all()
    dx, dw, _ = _ref_backward(xr, ws[::2], g, 1e-5)
    assert rel_err(to_np(x.grad), dx) < 1e-12 and rel_err(to_np(w.grad), dw) < 1e-12


def test_empty_batch_leaves_running_stats(rng):
    x = lamina.zeros(0, 3, 4, requires_grad=True)
    w = lamina.ones(3, requires_grad=True)
    rm, rv = lamina.zeros(3), lamina.ones(3)
    y = F.batch_norm(x, rm, rv, w, None, training=True)
    assert tuple(y.shape) == (0, 3, 4)
    y.sum().backward()
    assert tuple(x.grad.shape) == (0, 3, 4) and (to_np(w.grad) == 0).all()
    assert (to_np(rm) == 0).all() and (to_np(rv) == 1).all()
    assert tuple(F.batch_norm(lamina.zeros(2, 0, 3), None, None, training=True).shape) == (2, 0, 3)


def test_running_stats_version_bumped():
    rm = lamina.zeros(3)
    v = rm._t.version
    F.batch_norm(lamina.randn(4, 3), rm, None, training=True)
    assert rm._t.version > v


@pytest.mark.parametrize("dtype", [lamina.float16, lamina.bfloat16])
def test_half_dtypes(rng, dtype):
    shape = (4, 3, 5, 5)
    x = lamina.tensor(rng.standard_normal(shape), dtype=dtype, requires_grad=True)
    w = lamina.tensor(rng.standard_normal(3), dtype=dtype, requires_grad=True)
    y = F.batch_norm(x, None, None, w, None, training=True)
    assert y.dtype == dtype
    y.sum().backward()
    assert x.grad.dtype == dtype and w.grad.dtype == dtype
    xr = to_np(x.to(lamina.float64))
    wr = to_np(w.to(lamina.float64))
    assert rel_err(to_np(y.to(lamina.float64)), _ref_forward(xr, wr, np.zeros(3), 1e-5)[0]) < 1e-2
    dx, dw, _ = _ref_backward(xr, wr, np.ones(shape), 1e-5)
    assert np.abs(to_np(x.grad.to(lamina.float64)) - dx).max() < 0.05
    assert rel_err(to_np(w.grad.to(lamina.float64)), dw) < 2e-2 or np.abs(dw).max() < 1e-2


def test_errors():
    with pytest.raises(lamina.ShapeError, match=r"\[batch_norm\] expected an input of shape \(N, C, \*\), got \(3,\)"):
        F.batch_norm(lamina.randn(3), None, None, training=True)
    with pytest.raises(lamina.ShapeError, match=r"\[batch_norm\] running_var must have shape \(3,\) for input "
                                                r"\(4, 3, 2\), got \(2,\)"):
        F.batch_norm(lamina.randn(4, 3, 2), lamina.zeros(3), lamina.ones(2))
    with pytest.raises(lamina.ShapeError, match=r"bias must have shape"):
        F.batch_norm(lamina.randn(4, 3), None, None, None, lamina.zeros(3, 1), training=True)
    with pytest.raises(TypeError, match=r"\[batch_norm\] expected a floating point input, got int64"):
        F.batch_norm(lamina.zeros(4, 3, dtype=lamina.int64), None, None, training=True)
    with pytest.raises(ValueError, match=r"more than 1 value per channel when training, got input size \(1, 3, 1\)"):
        F.batch_norm(lamina.randn(1, 3, 1), None, None, training=True)
    with pytest.raises(ValueError, match="running_mean and running_var are required"):
        F.batch_norm(lamina.randn(4, 3), lamina.zeros(3), None)
    with pytest.raises(lamina.ShapeError, match=r"\[batch_norm\]"):
        F.batch_norm(np.zeros((4, 3)), None, None, training=True)
    x = lamina.randn(4, 3, requires_grad=True)
    y = F.batch_norm(x, None, None, training=True)
    with pytest.raises(NotImplementedError, match="double backward"):
        lamina.autograd.grad(y.sum(), x, create_graph=True)


@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 7), (2, 4, 6, 5)])
def test_matches_torch(rng, shape):
    torch = pytest.importorskip("torch")
    c = shape[1]
    x, g = rng.standard_normal(shape).astype(np.float32) * 3 + 2, rng.standard_normal(shape).astype(np.float32)
    w, b = rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32)
    stats = rng.standard_normal(c).astype(np.float32), rng.random(c).astype(np.float32) + 0.5
    for training in (True, False):
        lt = [lamina.tensor(a, requires_grad=True) for a in (x, w, b)]
        tt = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
        lrs = [lamina.tensor(a.copy()) for a in stats]
        trs = [torch.tensor(a.copy()) for a in stats]
        ly = F.batch_norm(lt[0], *lrs, lt[1], lt[2], training=training, momentum=0.2, eps=1e-4)
        ty = torch.nn.functional.batch_norm(tt[0], *trs, tt[1], tt[2], training=training, momentum=0.2, eps=1e-4)
        assert rel_err(to_np(ly), ty.detach().numpy()) < 1e-5
        (ly * lamina.tensor(g)).sum().backward()
        (ty * torch.tensor(g)).sum().backward()
        for a, t in zip(lt + lrs, tt + trs):
            assert rel_err(to_np(a.grad if a.requires_grad else a), (t.grad if t.requires_grad else t).numpy()) < 1e-5

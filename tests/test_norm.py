"""layer_norm and rms_norm: fused forward and backward against float64 NumPy, PyTorch parity,
gradcheck and errors."""
import numpy as np
import pytest

import lamina
from lamina.nn import functional as F
from conftest import rel_err



def ref_norm(x, k, w, b, eps, rms):
    axes = tuple(range(x.ndim - k, x.ndim))
    mean = 0 if rms else x.mean(axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


def ref_grads(x, k, w, b, eps, rms, g):
    """Gradients of sum(y * g) by central differences on the float64 reference."""
    def f(xx, ww, bb):
        return float((ref_norm(xx, k, ww, bb, eps, rms) * g).sum())
    out = []
    for idx, arr in enumerate((x, w, b)):
        if arr is None:
            out.append(None)
            continue
        grad = np.zeros_like(arr)
        for j in np.ndindex(arr.shape):
            args = [x.copy(), None if w is None else w.copy(), None if b is None else b.copy()]
            args[idx][j] += 1e-6
            fp = f(*args)
            args[idx][j] -= 2e-6
            fm = f(*args)
            grad[j] = (fp - fm) / 2e-6
        out.append(grad)
    return out



@pytest.mark.parametrize("rms", [False, True])
@pytest.mark.parametrize("shape,k", [((4, 33), 1), ((2, 3, 17), 2), ((1, 1), 1), ((0, 8), 1), ((5, 1), 1), ((3, 1000), 1)])
@pytest.mark.parametrize("affine", [False, True])
def test_forward_matches_reference(isa, rng, shape, k, rms, affine):
    xn = rng.standard_normal(shape) * 3 + 1
    ns = shape[len(shape) - k:]
    wn = rng.standard_normal(ns) if affine else None
    bn = rng.standard_normal(ns) if affine and not rms else None
    x = lamina.tensor(xn.astype(np.float32))
    w = lamina.tensor(wn.astype(np.float32)) if wn is not None else None
    b = lamina.tensor(bn.astype(np.float32)) if bn is not None else None
    out = F.rms_norm(x, ns, w, eps=1e-6) if rms else F.layer_norm(x, ns, w, b)
    ref = ref_norm(xn.astype(np.float32).astype(np.float64), k, wn, bn, 1e-6 if rms else 1e-5, rms)
    assert out.shape == shape
    if xn.size:
        assert rel_err(out.numpy(), ref) < 1e-5


@pytest.mark.parametrize("rms", [False, True])
def test_gradients_match_central_differences(rng, rms):
    xn = rng.standard_normal((3, 6))
    wn = rng.standard_normal(6)
    bn = None if rms else rng.standard_normal(6)
    g = rng.standard_normal((3, 6))
    x = lamina.tensor(xn, requires_grad=True)
    w = lamina.tensor(wn, requires_grad=True)
    b = lamina.tensor(bn, requires_grad=True) if bn is not None else None
    out = F.rms_norm(x, 6, w, eps=1e-6) if rms else F.layer_norm(x, 6, w, b)
    (out * lamina.tensor(g)).sum().backward()
    refs = ref_grads(xn, 1, wn, bn, 1e-6 if rms else 1e-5, rms, g)
    for t, r in zip((x, w, b), refs):
        if r is not None:
            assert rel_err(t.grad.numpy(), r) < 1e-6


def ref_backward(x, w, g, eps, rms):
    """Analytic float64 gradients of sum(norm(x) * w * g) over the last dim."""
    mean = 0 if rms else x.mean(-1, keepdims=True)
    rstd = 1 / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + eps)
    xhat = (x - mean) * rstd
    d = g * w
    c1 = 0 if rms else d.mean(-1, keepdims=True)
    dx = rstd * (d - c1 - xhat * (d * xhat).mean(-1, keepdims=True))
    return dx, (g * xhat).sum(0), g.sum(0)


@pytest.mark.parametrize("rms", [False, True])
@pytest.mark.parametrize("rows,n", [(50, 9001), (203, 67)])
def test_float32_long_rows_far_from_zero(isa, rng, rows, n, rms):
    """Rows longer than the kernels' float32 summing chunk, more rows than a gradient flush,
    and data offset far from zero relative to its spread."""
    xn = (1000 + rng.standard_normal((rows, n))).astype(np.float32)
    wn, bn = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    gn = rng.standard_normal((rows, n)).astype(np.float32)
    x, w, b = (lamina.tensor(a, requires_grad=True) for a in (xn, wn, bn))
    out = F.rms_norm(x, n, w, eps=1e-6) if rms else F.layer_norm(x, n, w, b)
    out.backward(lamina.tensor(gn))
    x64, w64, g64 = (a.astype(np.float64) for a in (xn, wn, gn))
    eps = 1e-6 if rms else 1e-5
    assert rel_err(out.detach().numpy(), ref_norm(x64, 1, w64, None if rms else bn.astype(np.float64), eps, rms)) < 1e-5
    dx, dw, db = ref_backward(x64, w64, g64, eps, rms)
    # The backward rebuilds x-hat from the mean rounded to float32 (half an ulp of 1000 is
    # 3e-5 of the spread here), so its results carry that error; PyTorch's do too.
    assert rel_err(x.grad.numpy(), dx) < 1e-4
    assert rel_err(w.grad.numpy(), dw) < 1e-4
    if not rms:
        assert rel_err(b.grad.numpy(), db) < 1e-5


def test_gradcheck_non_contiguous_and_multi_dim(rng):
    x = lamina.tensor(rng.standard_normal((4, 5, 3)), requires_grad=True)
    w = lamina.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    b = lamina.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    assert lamina.autograd.gradcheck(lambda x, w, b: (F.layer_norm(x.transpose(0, 1), (4, 3)),
                                                      F.layer_norm(x, (5, 3), w, b)), [x, w, b])
    assert lamina.autograd.gradcheck(lambda x, w: F.rms_norm(x[:, ::2], (3, 3), w[::2]), [x, w])


def test_bias_without_weight(rng):
    x = lamina.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    b = lamina.tensor(rng.standard_normal(5), requires_grad=True)
    assert lamina.autograd.gradcheck(lambda x, b: F.layer_norm(x, 5, None, b), [x, b])


def test_half_precision_inputs(rng):
    xn = rng.standard_normal((8, 64)).astype(np.float32)
    for dt in (lamina.bfloat16, lamina.float16):
        out = F.layer_norm(lamina.tensor(xn).to(dt), 64)
        assert out.dtype is dt
        assert rel_err(out.float().numpy(), ref_norm(xn.astype(np.float64), 1, None, None, 1e-5, False)) < 1e-2


def test_torch_parity(rng):
    torch = pytest.importorskip("torch")
    xn = rng.standard_normal((6, 10, 24)).astype(np.float32)
    wn, bn = rng.standard_normal(24).astype(np.float32), rng.standard_normal(24).astype(np.float32)
    gn = rng.standard_normal((6, 10, 24)).astype(np.float32)
    for rms in (False, True):
        x, w, b = (lamina.tensor(a, requires_grad=True) for a in (xn, wn, bn))
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (xn, wn, bn))
        if rms:
            out, tout = F.rms_norm(x, 24, w), torch.nn.functional.rms_norm(tx, (24,), tw)
        else:
            out, tout = F.layer_norm(x, 24, w, b), torch.nn.functional.layer_norm(tx, (24,), tw, tb)
        (out * lamina.tensor(gn)).sum().backward()
        (tout * torch.tensor(gn)).sum().backward()
        assert rel_err(out.detach().numpy(), tout.detach().numpy()) < 1e-5
        assert rel_err(x.grad.numpy(), tx.grad.numpy()) < 1e-4
        assert rel_err(w.grad.numpy(), tw.grad.numpy()) < 1e-4
        if not rms:
            assert rel_err(b.grad.numpy(), tb.grad.numpy()) < 1e-5


def test_errors_name_the_op_and_shapes():
    x = lamina.zeros(2, 3)
    with pytest.raises(ValueError, match=r"\[layer_norm\].*\(4,\).*\(2, 3\)"):
        F.layer_norm(x, 4)
    with pytest.raises(ValueError, match=r"\[rms_norm\].*\(2,\)"):
        F.rms_norm(x, 3, lamina.ones(2))
    with pytest.raises(TypeError, match=r"\[layer_norm\].*int64"):
        F.layer_norm(lamina.zeros(2, 3, dtype=lamina.int64), 3)


def test_double_backward_is_refused():
    x = lamina.randn(2, 3, dtype=lamina.float64, requires_grad=True)
    (g,) = lamina.autograd.grad(F.layer_norm(x, 3).pow(2).sum(), [x], create_graph=False)
    assert g.shape == (2, 3)
    with pytest.raises(NotImplementedError, match="double backward"):
        lamina.autograd.grad(F.layer_norm(x, 3).pow(2).sum(), [x], create_graph=True)

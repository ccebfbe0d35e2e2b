"""Autograd: gradcheck on every differentiable op, engine semantics, grad modes, memory."""
import os

import numpy as np
import pytest

import lamina
import lamina.nn.functional as F
from lamina.autograd import gradcheck
from conftest import rel_err, to_np


def leaf(rng, *shape, kind="normal"):
    a = rng.standard_normal(shape)
    if kind == "pos":
        a = np.abs(a) + 0.5
    elif kind == "away0":  # away from kinks at 0 and from ties
        a = np.sign(a) * (np.abs(a) + 0.2)
    return lamina.tensor(a, dtype=lamina.float64).reshape(shape).requires_grad_()


def distinct(rng, *shape):
    """Values pairwise at least 0.05 apart, so max/min/clamp have no ties or kinks within eps."""
    n = int(np.prod(shape))
    a = (rng.permutation(n) - n / 2) * 0.1 + rng.uniform(-0.02, 0.02, n)
    return lamina.tensor(a.reshape(shape), dtype=lamina.float64).reshape(shape).requires_grad_()


UNARY_GRAD = {
    "neg": (lambda x: -x, "normal"), "abs": (lambda x: x.abs(), "away0"), "exp": (lamina.exp, "normal"),
    "expm1": (lamina.expm1, "normal"), "log": (lamina.log, "pos"), "log1p": (lamina.log1p, "pos"),
    "log2": (lamina.log2, "pos"), "sqrt": (lamina.sqrt, "pos"), "rsqrt": (lamina.rsqrt, "pos"),
    "reciprocal": (lamina.reciprocal, "pos"), "square": (lamina.square, "normal"), "sin": (lamina.sin, "normal"),
    "cos": (lamina.cos, "normal"), "tanh": (lamina.tanh, "normal"), "sigmoid": (lamina.sigmoid, "normal"),
    "relu": (F.relu, "away0"), "gelu": (F.gelu, "normal"), "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), "normal"),
    "silu": (F.silu, "normal"), "softplus": (F.softplus, "normal"),
    "softplus_beta": (lambda x: F.softplus(x, beta=3.0, threshold=2.0), "away0"),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), "away0"), "erf": (lamina.erf, "normal"),
    "sign": (lamina.sign, "away0"), "floor": (lamina.floor, "normal"), "round": (lamina.round, "normal"),
    "ceil": (lamina.ceil, "normal"), "trunc": (lamina.trunc, "normal"),
    "pow_scalar": (lambda x: x ** 3, "normal"), "pow_frac": (lambda x: x ** 2.5, "pos"), "pow_neg": (lambda x: x ** -1.5, "pos"),
    "pow_2": (lambda x: x ** 2, "normal"), "rpow": (lambda x: 2.5 ** x, "normal"), "rsub": (lambda x: 3 - x, "normal"),
    "rdiv": (lambda x: 2 / x, "pos"), "scalar_ops": (lambda x: (x * 3 + 1) / 4 - 2, "normal"),
    "to_float64": (lambda x: x.to(lamina.float64) * 2, "normal"),
}


@pytest.mark.parametrize("name", sorted(UNARY_GRAD))
@pytest.mark.parametrize("shape", [(3, 4), ()], ids=str)
def test_gradcheck_unary(name, shape, rng):
    fn, kind = UNARY_GRAD[name]
    assert gradcheck(fn, (leaf(rng, *shape, kind=kind),))


def test_gradcheck_clamp(rng):
    x = distinct(rng, 4, 5)
    assert gradcheck(lambda v: v.clamp(-0.3, 0.4), (x,))
    assert gradcheck(lambda v: v.clamp(min=0.1), (x,))
    assert gradcheck(lambda v: lamina.clamp_max(v, 0.1), (x,))
    lo, hi = leaf(rng, 5) - 1, leaf(rng, 4, 1) + 1
    assert gradcheck(lambda v, a, b: lamina.clamp(v, a, b), (x, lo.detach().requires_grad_(), hi.detach().requires_grad_()))


BINARY_GRAD = {
    "add": (lambda a, b: a + b, "normal"), "sub": (lambda a, b: a - b, "normal"), "mul": (lambda a, b: a * b, "normal"),
    "div": (lambda a, b: a / b, "pos"), "pow": (lambda a, b: a ** b, "pos"), "maximum": (lamina.maximum, "distinct"),
    "minimum": (lamina.minimum, "distinct"), "atan2": (lamina.atan2, "away0"),
    "add_alpha": (lambda a, b: lamina.add(a, b, alpha=2.5), "normal"),
    "sub_alpha": (lambda a, b: lamina.sub(a, b, alpha=-1.5), "normal"),
    "where": (lambda a, b: lamina.where(a > b, a, b * 2), "distinct"),
}


@pytest.mark.parametrize("name", sorted(BINARY_GRAD))
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((), (2, 3)), ((2, 3), (3,))], ids=str)
def test_gradcheck_binary_with_broadcasting(name, shapes, rng):
    fn, kind = BINARY_GRAD[name]
    if kind == "distinct":
        a, b = distinct(rng, *shapes[0]), distinct(rng, *shapes[1])
        b = (b.detach() + 0.05).requires_grad_()   # no a == b ties
    else:
        a, b = leaf(rng, *shapes[0], kind=kind), leaf(rng, *shapes[1], kind="pos" if kind == "pos" else "away0")
    assert gradcheck(fn, (a, b))


def test_gradcheck_maximum_ties_share_gradient():
    a = lamina.tensor([1.0, 2.0, 3.0], dtype=lamina.float64, requires_grad=True)
    b = lamina.tensor([1.0, 0.0, 3.0], dtype=lamina.float64, requires_grad=True)
    lamina.maximum(a, b).sum().backward()
    assert to_np(a.grad).tolist() == [0.5, 1.0, 0.5] and to_np(b.grad).tolist() == [0.5, 0.0, 0.5]


REDUCE_GRAD = {
    "sum": lambda x: x.sum(dim=1), "sum_all": lambda x: x.sum(), "sum_keep": lambda x: x.sum(dim=[0, 2], keepdim=True),
    "mean": lambda x: x.mean(dim=-1), "mean_all": lambda x: x.mean(), "prod": lambda x: x.prod(dim=1),
    "prod_all": lambda x: x.prod(), "var": lambda x: x.var(dim=1), "var_all": lambda x: x.var(),
    "std": lambda x: x.std(dim=[0, 2], correction=0, keepdim=True), "std_all": lambda x: x.std(),
    "amax": lambda x: x.amax(dim=1), "amin_all": lambda x: x.amin(), "max_dim": lambda x: x.max(dim=1).values,
    "min_dim_keep": lambda x: x.min(dim=-1, keepdim=True).values, "max_all": lambda x: x.max(),
    "logsumexp": lambda x: x.logsumexp(dim=1), "logsumexp_keep": lambda x: x.logsumexp(dim=[0, 2], keepdim=True),
    "softmax": lambda x: x.softmax(dim=1), "log_softmax": lambda x: F.log_softmax(x, dim=-1),
    "softmax0": lambda x: F.softmax(x, dim=0), "cumsum": lambda x: x.cumsum(1), "cumsum_last": lambda x: x.cumsum(-1),
}


@pytest.mark.parametrize("name", sorted(REDUCE_GRAD))
def test_gradcheck_reductions(name, rng):
    assert gradcheck(REDUCE_GRAD[name], (distinct(rng, 3, 4, 2),))


@pytest.mark.parametrize("name", ["sum_all", "max_dim", "softmax", "cumsum", "prod_all", "logsumexp"])
def test_gradcheck_reductions_non_contiguous(name, rng):
    x = distinct(rng, 2, 4, 3)
    assert gradcheck(lambda v: REDUCE_GRAD[name](v.transpose(0, 2)[:, ::2]), (x,))


def test_gradcheck_prod_with_zeros():
    for values in ([[0.0, 1.5, -2.0], [0.0, 0.0, 3.0], [1.0, 2.0, 0.5]],):
        x = lamina.tensor(values, dtype=lamina.float64, requires_grad=True)
        assert gradcheck(lambda v: v.prod(dim=1), (x,))
        assert gradcheck(lambda v: v.prod(dim=0), (x,))


def test_gradcheck_0d_reductions(rng):
    x = leaf(rng)
    for fn in [lambda v: v.sum(), lambda v: v.max(dim=0).values, lambda v: v.amax(), lambda v: v.mean(),
               lambda v: v.logsumexp(0), lambda v: v.cumsum(0) * 2]:
        assert gradcheck(fn, (x,))


def test_gradcheck_composites(rng):
    a, b = leaf(rng, 3, 4), leaf(rng, 4)
    assert gradcheck(lambda x, y: ((x * y).sigmoid() + (x - y).tanh() * x.exp()).log_softmax(1).sum() / y.abs().sum(),
                     (a, b))
    assert gradcheck(lambda x, y: F.gelu(x @ y if hasattr(x, "__matmul__") and False else x * y).var(dim=0).sqrt(),
                     (a, b))
    assert gradcheck(lambda x: (x ** 2 + 1).log().mean() * lamina.where(x > 0, x, x.exp() - 1).sum(), (a,))
    assert gradcheck(lambda x, y: lamina.atan2(x.sin(), y.cos() + 2).cumsum(0).logsumexp(dim=1), (a, b))
    assert gradcheck(lambda x: (x - x.amax(dim=1, keepdim=True)).exp().sum(dim=1).log(), (distinct(rng, 3, 4),))


def test_gradcheck_detects_wrong_gradient():
    class Wrong(lamina.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return (x * x)._t

        @staticmethod
        def backward(ctx, g):
            return g * 3

    x = lamina.tensor([1.0, 2.0], dtype=lamina.float64, requires_grad=True)
    with pytest.raises(RuntimeError):
        gradcheck(Wrong.apply, (x,))
    assert gradcheck(Wrong.apply, (x,), raise_exception=False) is False
    with pytest.raises(ValueError):
        gradcheck(lambda v: v * 2, (lamina.ones(2, requires_grad=True),))


def test_gradcheck_with_several_outputs_and_a_constant_one(rng):
    a = leaf(rng, 3)
    assert gradcheck(lambda x: (lamina.ones(2), x.exp(), x.sum() * 2), (a,))


# ---------------------------------------------------------------- engine semantics
def test_backward_with_gradient_argument(rng):
    x = leaf(rng, 2, 3)
    g = rng.standard_normal((2, 3))
    (x * x).backward(gradient=lamina.tensor(g, dtype=lamina.float64))
    assert rel_err(to_np(x.grad), 2 * to_np(x) * g) < 1e-14
    with pytest.raises(RuntimeError):
        (x * 2).backward()   # non-scalar output needs a gradient
    with pytest.raises((ValueError, RuntimeError)):
        (x * 2).backward(gradient=lamina.ones(3, dtype=lamina.float64))


def test_retain_graph(rng):
    x = leaf(rng, 3)
    y = (x * x).exp().sum()
    y.backward(retain_graph=True)
    first = to_np(x.grad).copy()
    y.backward()
    assert rel_err(to_np(x.grad), 2 * first) < 1e-14
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_grad_accumulates_and_resets(rng):
    x = leaf(rng, 4)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert rel_err(to_np(x.grad), 3 + 2 * to_np(x)) < 1e-14
    x.grad = None
    (x * 5).sum().backward()
    assert to_np(x.grad).tolist() == [5.0] * 4


def test_grad_is_not_aliased_with_upstream_gradient(rng):
    x = leaf(rng, 3)
    g = lamina.ones(3, dtype=lamina.float64)
    (x * 1).backward(gradient=g)
    with lamina.no_grad():
        g.mul_(7)
    assert to_np(x.grad).tolist() == [1.0] * 3


def _passing(keep=None):
    """A Function whose backward returns a new tensor (noting its storage address in `made`),
    or, with `keep`, a tensor it also hands to `keep`."""
    made = []

    class Pass(lamina.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return (x * 1)._t

        @staticmethod
        def backward(ctx, g):
            out = g * 2
            made.append(out._t.storage_ptr)
            if keep is not None:
                keep(out)
            return out
    return Pass.apply, made


def test_fresh_leaf_gradient_is_taken_without_a_copy(rng):
    x = leaf(rng, 5)
    f, made = _passing()
    f(x).sum().backward()
    assert x.grad._t.storage_ptr == made[0]
    assert to_np(x.grad).tolist() == [2.0] * 5
    # Passed on unchanged by an addition's backward, it is still taken as it is.
    x.grad = None
    f, made = _passing()
    f(x + 1).sum().backward()
    assert x.grad._t.storage_ptr == made[0]


def test_gradient_held_elsewhere_is_copied(rng):
    held = []
    x = leaf(rng, 5)
    f, made = _passing(held.append)
    f(x).sum().backward()
    assert x.grad._t.storage_ptr != made[0]
    with lamina.no_grad():
        held[0].mul_(0)
    assert to_np(x.grad).tolist() == [2.0] * 5
    # A view of the returned gradient, or another wrapper of it, holds it too.
    for keep in (lambda t: held.append(t[1:]), lambda t: held.append(t.detach())):
        x.grad = None
        f, made = _passing(keep)
        f(x).sum().backward()
        assert x.grad._t.storage_ptr != made[0]


def test_one_gradient_for_two_leaves_is_not_shared(rng):
    a, b = leaf(rng, 4), leaf(rng, 4)
    (a + b).sum().backward()
    with lamina.no_grad():
        a.grad.mul_(3)
    assert to_np(b.grad).tolist() == [1.0] * 4
    c = leaf(rng, 4)
    seen = []
    c.register_hook(lambda g: seen.append(g))
    (c * 2).sum().backward()
    with lamina.no_grad():
        seen[0].mul_(0)
    assert to_np(c.grad).tolist() == [2.0] * 4


def test_gradients_accumulate_into_the_existing_grad(rng):
    # As in PyTorch: a second backward adds into the .grad tensor already there (a reference
    # taken before sees the sum); a .grad the sum cannot be written into is replaced.
    x = leaf(rng, 4)
    (x * 3).sum().backward()
    first = x.grad
    (x * x).sum().backward()
    assert x.grad is first
    assert rel_err(to_np(first), 3 + 2 * to_np(x)) < 1e-14
    x.grad = lamina.zeros(1, dtype=lamina.float64).expand(4)  # stride 0: one value for four
    (x * 2).sum().backward()
    assert to_np(x.grad).tolist() == [2.0] * 4
    x.grad = lamina.zeros(4, dtype=lamina.float32)
    (x * 2).sum().backward()
    assert to_np(x.grad).tolist() == [2.0] * 4


def test_broadcast_gradients_reduced_to_input_shape(rng):
    a, b, c = leaf(rng, 3, 1), leaf(rng, 4), leaf(rng)
    (a * b + c).sum().backward()
    assert tuple(a.grad.shape) == (3, 1) and tuple(b.grad.shape) == (4,) and tuple(c.grad.shape) == ()
    assert rel_err(to_np(a.grad), np.full((3, 1), to_np(b).sum())) < 1e-14
    assert rel_err(to_np(b.grad), np.full(4, to_np(a).sum())) < 1e-14
    assert c.grad.item() == 12.0


def test_shared_subexpression_gradients_add(rng):
    x = leaf(rng, 2, 3)
    e = x.exp()
    (e * 2 + e * 3 + e).sum().backward()
    assert rel_err(to_np(x.grad), 6 * np.exp(to_np(x))) < 1e-14


def test_integer_and_comparison_outputs_do_not_require_grad(rng):
    x = leaf(rng, 3)
    assert not (x > 0).requires_grad and not x.argmax().requires_grad
    assert not x.max(dim=0).indices.requires_grad and x.max(dim=0).values.requires_grad
    assert not x.to(lamina.int64).requires_grad


def test_no_grad_enable_grad_set_grad_enabled(rng):
    x = leaf(rng, 3)
    with lamina.no_grad():
        y = x * 2
        assert not lamina.is_grad_enabled()
        with lamina.enable_grad():
            z = x * 2
            assert lamina.is_grad_enabled()
    assert lamina.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and z.requires_grad
    with lamina.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    lamina.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        lamina.set_grad_enabled(True)
    assert lamina.is_grad_enabled()


def test_grad_modes_as_decorators(rng):
    x = leaf(rng, 3)

    @lamina.no_grad()
    def f(v):
        return v * 2

    @lamina.no_grad
    def f_bare(v):
        return v * 2

    @lamina.enable_grad()
    def g(v):
        return v * 2

    @lamina.set_grad_enabled(False)
    def h(v):
        return v * 2

    assert lamina.is_grad_enabled()  # decorating switches nothing
    assert not f(x).requires_grad and not f_bare(x).requires_grad and not h(x).requires_grad
    with lamina.no_grad():
        assert g(x).requires_grad
        assert not lamina.is_grad_enabled()
    assert lamina.is_grad_enabled() and f.__name__ == "f"


def test_grad_mode_restored_after_exception(rng):
    with pytest.raises(KeyError):
        with lamina.no_grad():
            raise KeyError
    assert lamina.is_grad_enabled()

    @lamina.no_grad()
    def boom():
        raise KeyError

    with pytest.raises(KeyError):
        boom()
    assert lamina.is_grad_enabled()


def test_detach_and_requires_grad_(rng):
    x = leaf(rng, 3)
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None and d.data_ptr() == x.data_ptr()
    y = x * 2
    assert not y.detach().requires_grad
    z = y.detach() * x
    z.sum().backward()
    assert rel_err(to_np(x.grad), 2 * to_np(x)) < 1e-14   # no gradient through the detached branch
    p = lamina.ones(2)
    assert p.requires_grad_() is p and p.requires_grad
    p.requires_grad_(False)
    assert not p.requires_grad
    with pytest.raises(RuntimeError):
        lamina.ones(2, dtype=lamina.int64).requires_grad_()
    with pytest.raises(RuntimeError):
        y.requires_grad_(False)


def test_autograd_grad(rng):
    x, y = leaf(rng, 3), leaf(rng, 3)
    out = (x * y).sum()
    gx, gy = lamina.autograd.grad(out, [x, y])
    assert rel_err(to_np(gx), to_np(y)) < 1e-14 and rel_err(to_np(gy), to_np(x)) < 1e-14
    assert x.grad is None and y.grad is None   # grad() does not accumulate
    unused = leaf(rng, 2)
    with pytest.raises(RuntimeError):
        lamina.autograd.grad((x * 2).sum(), [x, unused])
    gx, gu = lamina.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert to_np(gx).tolist() == [2.0] * 3 and gu is None
    (g,) = lamina.autograd.grad(x * x, x, grad_outputs=lamina.ones(3, dtype=lamina.float64))
    assert rel_err(to_np(g), 2 * to_np(x)) < 1e-14


def test_second_derivative_with_create_graph():
    x = lamina.tensor([0.5, -2.0, 3.0], dtype=lamina.float64, requires_grad=True)
    y = (x ** 3 - 2 * x ** 2 + x).sum()
    (g,) = lamina.autograd.grad(y, x, create_graph=True)
    assert g.requires_grad
    assert np.allclose(to_np(g.detach()), 3 * to_np(x.detach()) ** 2 - 4 * to_np(x.detach()) + 1)
    (g2,) = lamina.autograd.grad(g.sum(), x)
    assert np.allclose(to_np(g2), 6 * to_np(x.detach()) - 4)
    z = lamina.tensor([1.5], dtype=lamina.float64, requires_grad=True)
    (z ** 4).sum().backward(create_graph=True)
    first = z.grad
    z.grad = None
    first.sum().backward()
    assert np.allclose(to_np(z.grad), 12 * 1.5 ** 2)


def test_backward_on_leaf_and_inputs_argument(rng):
    x, y = leaf(rng, 2), leaf(rng, 2)
    (x * y).sum().backward(inputs=[x])
    assert x.grad is not None and y.grad is None


# ---------------------------------------------------------------- comparison with PyTorch
def test_composite_gradients_match_torch(rng):
    torch = pytest.importorskip("torch")
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((5,))

    def expr(m, x, y, fns):
        h = fns["gelu"](x * y + 1) + fns["silu"](x) * fns["softplus"](y)
        h = h / (1 + h.abs()) + fns["sigmoid"](x - y).log() + (x.clamp(-0.5, 0.5) ** 2)
        h = fns["log_softmax"](h, 1) * fns["softmax"](x, 0) + fns["logsumexp"](h, 1).reshape(4, 1)
        return (h.cumsum(1) * m.maximum(x, y * 0.5)).sum() / h.var() + h.amax() - fns["std"](x)

    lx, ly = (lamina.tensor(v, dtype=lamina.float64, requires_grad=True) for v in (a, b))
    lf = {"gelu": F.gelu, "silu": F.silu, "softplus": F.softplus, "sigmoid": lamina.sigmoid,
          "log_softmax": lambda t, d: t.log_softmax(d), "softmax": lambda t, d: t.softmax(d),
          "logsumexp": lambda t, d: t.logsumexp(d), "std": lambda t: t.std()}
    tf = {"gelu": torch.nn.functional.gelu, "silu": torch.nn.functional.silu,
          "softplus": torch.nn.functional.softplus, "sigmoid": torch.sigmoid,
          "log_softmax": lambda t, d: t.log_softmax(d), "softmax": lambda t, d: t.softmax(d),
          "logsumexp": lambda t, d: t.logsumexp(d), "std": lambda t: t.std()}
    lo = expr(lamina, lx, ly, lf)
    lo.backward()
    tx, ty = (torch.tensor(v, requires_grad=True) for v in (a, b))
    to = expr(torch, tx, ty, tf)
    to.backward()
    assert rel_err(lo.item(), to.item()) < 1e-12
    assert rel_err(to_np(lx.grad), tx.grad.numpy()) < 1e-10
    assert rel_err(to_np(ly.grad), ty.grad.numpy()) < 1e-10


def test_reduction_gradients_match_torch(rng):
    torch = pytest.importorskip("torch")
    a = rng.integers(-3, 3, (4, 6)).astype(np.float64)  # ties in max/amax/prod zeros
    for name, lf, tf in [("amax", lambda t: t.amax(dim=1), lambda t: t.amax(dim=1)),
                         ("max_all", lambda t: t.max(), lambda t: t.max()),
                         ("max_dim", lambda t: t.max(dim=0).values, lambda t: t.max(dim=0).values),
                         ("prod", lambda t: t.prod(dim=1), lambda t: t.prod(dim=1)),
                         ("var", lambda t: t.var(dim=0, correction=0), lambda t: t.var(dim=0, correction=0))]:
        lx = lamina.tensor(a, requires_grad=True)
        tx = torch.tensor(a, requires_grad=True)
        w = rng.standard_normal(tuple(tf(tx).shape))
        (lf(lx) * lamina.tensor(w).reshape(w.shape)).sum().backward()
        (tf(tx) * torch.tensor(w)).sum().backward()
        assert np.allclose(to_np(lx.grad), tx.grad.numpy(), atol=1e-12), name


# ---------------------------------------------------------------- memory
def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def test_training_loop_memory_is_flat():
    w = lamina.randn(16, requires_grad=True)
    x = lamina.randn(16)
    y = lamina.tensor(0.5)
    start = None
    for step in range(1, 10_001):
        loss = ((w * x).sum() - y) ** 2
        loss.backward()
        with lamina.no_grad():
            w -= 0.01 * w.grad
        w.grad = None
        if step == 1000:
            start = _rss_mb()
    assert _rss_mb() - start < 20
    assert loss.item() < 1e-3  # and the loop really trained

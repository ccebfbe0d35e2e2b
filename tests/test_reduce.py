"""Reductions, softmax and cumsum against float64 NumPy references."""
import numpy as np
import pytest

import lamina
from conftest import rel_err, to_np


def lt(a, dtype=None):
    a = np.asarray(a)
    return lamina.tensor(a, dtype=dtype).reshape(a.shape)


def f64(t):
    return to_np(t.float() if t.dtype == lamina.bfloat16 else t).astype(np.float64)


def _np_axis(dim):
    return tuple(dim) if isinstance(dim, list) else dim


def _lse(a, axis, keepdims=False):
    m = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.exp(a - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis if axis is not None else tuple(range(a.ndim)))


REDUCTIONS = {
    "sum": (lambda x, **k: x.sum(**k), lambda a, axis, keepdims: a.sum(axis=axis, keepdims=keepdims)),
    "mean": (lambda x, **k: lamina.mean(x, **k), lambda a, axis, keepdims: a.mean(axis=axis, keepdims=keepdims)),
    "prod": (lambda x, **k: x.prod(**k), lambda a, axis, keepdims: a.prod(axis=axis, keepdims=keepdims)),
    "var": (lambda x, **k: x.var(**k), lambda a, axis, keepdims: a.var(axis=axis, keepdims=keepdims, ddof=1)),
    "var_biased": (lambda x, **k: x.var(unbiased=False, **k), lambda a, axis, keepdims: a.var(axis=axis, keepdims=keepdims)),
    "std": (lambda x, **k: lamina.std(x, **k), lambda a, axis, keepdims: a.std(axis=axis, keepdims=keepdims, ddof=1)),
    "std_corr2": (lambda x, **k: x.std(correction=2, **k), lambda a, axis, keepdims: a.std(axis=axis, keepdims=keepdims, ddof=2)),
    "amax": (lambda x, **k: x.amax(**k), lambda a, axis, keepdims: a.max(axis=axis, keepdims=keepdims)),
    "amin": (lambda x, **k: lamina.amin(x, **k), lambda a, axis, keepdims: a.min(axis=axis, keepdims=keepdims)),
    "logsumexp": (lambda x, **k: x.logsumexp(**k), lambda a, axis, keepdims: _lse(a, axis, keepdims)),
}

DIMS = [0, 1, -1, [0, 2], [-1, 0], [0, 1, 2], None, [1]]


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_reductions(name, dim, keepdim, rng):
    fn, ref = REDUCTIONS[name]
    a = rng.standard_normal((5, 7, 3))
    if name == "prod":
        a = rng.uniform(0.5, 1.5, a.shape) * rng.choice([-1, 1], a.shape)
    if dim is None and name == "logsumexp":
        return  # logsumexp needs a dim
    kw = {"keepdim": keepdim} if dim is None and keepdim else {}
    if dim is not None:
        kw = {"dim": dim, "keepdim": keepdim}
    expected = ref(a, _np_axis(dim), keepdim or False)
    for dtype, tol in [(lamina.float64, 1e-12), (lamina.float32, 1e-5)]:
        out = fn(lt(a, dtype), **kw)
        assert out.dtype == dtype
        assert tuple(out.shape) == np.shape(expected), (out.shape, np.shape(expected))
        assert rel_err(f64(out), ref(f64(lt(a, dtype)), _np_axis(dim), keepdim or False)) < tol


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reductions_non_contiguous(name, rng):
    fn, ref = REDUCTIONS[name]
    a = rng.uniform(0.5, 1.5, (6, 8, 5)) * rng.choice([-1, 1], (6, 8, 5))
    base = lt(np.zeros((6, 16, 5)))
    base[:, ::2].copy_(lt(a))
    x = base[:, ::2].permute(2, 0, 1)   # stepped and transposed
    b = a.transpose(2, 0, 1)
    for dim in [1, [0, 2], -1]:
        assert rel_err(f64(fn(x, dim=dim)), ref(b, _np_axis(dim), False)) < 1e-12
    row = lt(a[0, :, :1].T).expand(4, 8)   # expanded rows
    assert rel_err(f64(fn(row, dim=1)), ref(np.broadcast_to(a[0, :, 0], (4, 8)), 1, False)) < 1e-12


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "var", "logsumexp"])
@pytest.mark.parametrize("dtype", [lamina.float16, lamina.bfloat16])
def test_reductions_half(name, dtype, rng):
    fn, ref = REDUCTIONS[name]
    a = rng.standard_normal((9, 33))
    x = lt(a, dtype)
    out = fn(x, dim=1)
    assert out.dtype == dtype
    tol = 2e-3 if dtype == lamina.float16 else 1.6e-2
    assert rel_err(f64(out), ref(f64(x), 1, False)) < tol


def test_reductions_of_0d_and_size_1(rng):
    x = lt(np.array(2.5))
    for dim in [None, 0, -1, [0]]:
        kw = {} if dim is None else {"dim": dim}
        assert x.sum(**kw).item() == 2.5 and tuple(x.sum(**kw).shape) == ()
        assert x.amax(**kw).item() == 2.5 and x.mean(**kw).item() == 2.5
    assert tuple(x.sum(dim=0, keepdim=True).shape) == ()
    v, i = x.max(dim=0)
    assert v.item() == 2.5 and i.item() == 0
    assert np.isnan(x.var().item()) and x.var(unbiased=False).item() == 0
    one = lt(np.array([[3.0]]))
    assert one.sum(dim=1).tolist() == [3.0] and one.prod().item() == 3.0
    with pytest.raises(IndexError):
        x.sum(dim=1)


def test_dim_errors():
    x = lt(np.zeros((2, 3)))
    with pytest.raises(IndexError):
        x.sum(dim=2)
    with pytest.raises(IndexError):
        x.amax(dim=-3)
    with pytest.raises(ValueError):
        x.sum(dim=[0, -2])


# ---------------------------------------------------------------- empty
def test_empty_reductions():
    e = lamina.zeros(0)
    assert e.sum().item() == 0 and e.prod().item() == 1
    assert np.isnan(e.mean().item())
    z = lamina.zeros(0, 3)
    assert z.sum(dim=0).tolist() == [0.0] * 3
    assert np.isnan(to_np(z.mean(dim=0))).all()
    assert tuple(z.sum(dim=1).shape) == (0,) and tuple(z.amax(dim=1).shape) == (0,)
    assert e.to(lamina.int32).sum().dtype == lamina.int64
    for op in [lambda: e.max(), lambda: e.amax(), lambda: e.min(), lambda: z.max(dim=0), lambda: z.amin(dim=0),
               lambda: e.argmax(), lambda: z.argmin(dim=0)]:
        with pytest.raises((IndexError, RuntimeError)):
            op()
    assert e.all().item() is True and e.any().item() is False
    assert z.all(dim=0).tolist() == [True] * 3 and z.any(dim=0).tolist() == [False] * 3
    assert lamina.logsumexp(z, dim=0).tolist() == [-np.inf] * 3
    assert tuple(lamina.softmax(z, dim=0).shape) == (0, 3) and tuple(z.cumsum(0).shape) == (0, 3)


# ---------------------------------------------------------------- integers and bools
@pytest.mark.parametrize("dtype", [lamina.int32, lamina.int64, lamina.bool])
def test_integer_reductions(dtype, rng):
    a = rng.integers(-5, 6, (4, 6))
    if dtype == lamina.bool:
        a = a > 0
    x = lt(a, dtype)
    s = x.sum()
    assert s.dtype == lamina.int64 and s.item() == a.sum()
    assert x.sum(dim=1).dtype == lamina.int64 and x.sum(dim=1).tolist() == a.sum(1).tolist()
    assert x.prod(dim=0).dtype == lamina.int64 and x.prod(dim=0).tolist() == a.prod(0).astype(np.int64).tolist()
    assert x.cumsum(1).dtype == lamina.int64 and x.cumsum(1).tolist() == np.cumsum(a, 1).tolist()
    assert x.amax(dim=0).dtype == dtype and x.amax(dim=0).tolist() == a.max(0).tolist()
    assert x.amin().item() == a.min()
    assert x.argmax(dim=1).tolist() == np.argmax(a, 1).tolist()
    assert x.all(dim=1).tolist() == np.all(a, 1).tolist() and x.any().item() == np.any(a)
    if dtype != lamina.bool:
        with pytest.raises(TypeError):
            x.mean()
        assert x.mean(dtype=lamina.float64).item() == pytest.approx(a.mean())
        assert x.softmax(dim=1).dtype == lamina.float32


def test_int32_sum_does_not_overflow():
    a = np.full(10, 2 ** 30, np.int32)
    assert lt(a).sum().item() == 10 * 2 ** 30


# ---------------------------------------------------------------- max/min with dim, argmax
@pytest.mark.parametrize("is_max", [True, False])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_dim(is_max, dim, keepdim, rng):
    a = rng.integers(-4, 5, (5, 6, 4)).astype(np.float64)  # ties included
    x = lt(a).transpose(0, 2)
    b = a.transpose(2, 1, 0)
    res = (x.max if is_max else x.min)(dim=dim, keepdim=keepdim)
    values, indices = res
    assert res.values is values and res.indices is indices
    ref_v = (b.max if is_max else b.min)(axis=dim, keepdims=keepdim)
    ref_i = (np.argmax if is_max else np.argmin)(b, axis=dim)
    if keepdim:
        ref_i = np.expand_dims(ref_i, dim)
    assert np.array_equal(to_np(values), ref_v) and indices.dtype == lamina.int64
    assert np.array_equal(to_np(indices), ref_i)  # first occurrence on ties, like NumPy and PyTorch
    arg = (lamina.argmax if is_max else lamina.argmin)(x, dim=dim, keepdim=keepdim)
    assert np.array_equal(to_np(arg), ref_i)


def test_max_min_without_dim_and_argmax_flat(rng):
    a = rng.standard_normal((4, 7))
    x = lt(a).t()
    assert x.max().item() == a.max() and lamina.min(x).item() == a.min()
    assert tuple(x.max().shape) == ()
    assert x.argmax().item() == np.argmax(a.T) and x.argmin().item() == np.argmin(a.T)
    assert tuple(x.argmax(keepdim=True).shape) == (1, 1)
    m = lamina.max(x, lt(np.zeros((7, 1))))  # with a tensor: elementwise maximum
    assert np.array_equal(to_np(m), np.maximum(a.T, 0))


def test_nan_wins_max_min_and_argmax():
    a = np.array([[1.0, np.nan, 3.0], [2.0, 0.0, -1.0]])
    x = lt(a)
    assert np.isnan(x.max().item()) and np.isnan(x.amin().item())
    v, i = x.max(dim=1)
    assert np.isnan(v[0].item()) and i.tolist() == [1, 0]
    assert x.argmin(dim=1).tolist() == [1, 2]
    assert np.isnan(to_np(x.amax(dim=0))[1]) and np.isnan(to_np(x.sum(dim=1))[0])
    assert np.isnan(to_np(x.logsumexp(dim=1))[0])


# ---------------------------------------------------------------- softmax family
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2])
@pytest.mark.parametrize("log", [False, True])
def test_softmax(dim, log, rng):
    a = rng.standard_normal((4, 5, 7)) * 5
    e = np.exp(a - a.max(axis=dim, keepdims=True))
    ref = e / e.sum(axis=dim, keepdims=True)
    ref = np.log(ref) if log else ref
    fn = lamina.nn.functional.log_softmax if log else lamina.nn.functional.softmax
    for x, tol in [(lt(a), 1e-12), (lt(a.astype(np.float32)), 1e-5), (lt(np.ascontiguousarray(a.transpose(2, 1, 0))).permute(2, 1, 0), 1e-12)]:
        out = fn(x, dim=dim)
        assert out.dtype == x.dtype and rel_err(f64(out), ref) < tol
    meth = lt(a).log_softmax(dim) if log else lt(a).softmax(dim)
    assert rel_err(f64(meth), ref) < 1e-12


def test_softmax_extreme_values():
    a = np.array([[1000.0, 0.0, -1000.0], [-np.inf, 0.0, -np.inf], [-np.inf] * 3, [88.0, 89.0, 90.0]], np.float32)
    s = to_np(lt(a).softmax(dim=1))
    assert np.allclose(s[0], [1, 0, 0]) and np.allclose(s[1], [0, 1, 0]) and np.isnan(s[2]).all()
    assert np.allclose(s[3].sum(), 1, rtol=1e-6)
    ls = to_np(lt(a).log_softmax(dim=1))
    assert ls[0, 0] == 0 and ls[0, 2] == pytest.approx(-2000) and ls[1, 1] == 0 and ls[1, 0] == -np.inf
    lse = to_np(lt(a).logsumexp(dim=1))
    assert lse[0] == pytest.approx(1000) and lse[2] == -np.inf
    assert lse[3] == pytest.approx(90 + np.log1p(np.exp(-1) + np.exp(-2)), rel=1e-6)


def test_softmax_dtype_argument_and_0d(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    out = lamina.softmax(lt(a), dim=1, dtype=lamina.float64)
    assert out.dtype == lamina.float64
    assert lt(np.array(3.0)).softmax(0).item() == 1.0 and lt(np.array(3.0)).log_softmax(0).item() == 0.0


# ---------------------------------------------------------------- cumsum
@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_cumsum(dim, rng):
    a = rng.standard_normal((3, 6, 5))
    ref = np.cumsum(a, axis=dim)
    assert rel_err(f64(lt(a).cumsum(dim)), ref) < 1e-12
    assert rel_err(f64(lamina.cumsum(lt(a.astype(np.float32)), dim)), ref) < 1e-5
    x = lt(np.ascontiguousarray(a.transpose(1, 0, 2))).transpose(0, 1)
    assert rel_err(f64(x.cumsum(dim)), ref) < 1e-12
    assert lamina.cumsum(lt(a), dim, dtype=lamina.float32).dtype == lamina.float32
    with pytest.raises(IndexError):
        lt(a).cumsum(3)


def test_cumsum_0d_and_half():
    assert lt(np.array(4.0)).cumsum(0).item() == 4.0
    h = lt(np.arange(10.0), lamina.float16).cumsum(0)
    assert h.dtype == lamina.float16 and to_np(h).tolist() == np.cumsum(np.arange(10.0)).tolist()


# ---------------------------------------------------------------- all / any / count_nonzero
@pytest.mark.parametrize("dtype", [lamina.float32, lamina.int64, lamina.bool])
def test_all_any(dtype, rng):
    a = rng.integers(0, 2, (4, 5, 3)).astype(bool) | (rng.random((4, 5, 3)) > 0.3)
    a[0] = True
    a[1, 2] = False
    x = lt(a, dtype)
    for dim, keepdim in [(None, False), (0, False), (1, True), ([0, 2], False), (-1, True)]:
        kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
        axis = _np_axis(dim)
        for fn, ref in [(lamina.all, np.all), (lamina.any, np.any)]:
            out = fn(x, **kw)
            assert out.dtype == lamina.bool
            assert np.array_equal(to_np(out), ref(a, axis=axis, keepdims=keepdim if dim is not None else False))
    assert lt(np.array([np.nan, 1.0])).all().item() is True
    assert lamina.count_nonzero(x).item() == a.sum()


@pytest.mark.parametrize("n", [0, 1, 7, 15, 16, 17, 63, 64, 65, 255, 1023, 1024, 1025, 4097])
def test_float32_row_sums_on_block_boundaries(n, rng):
    # Rows are summed in float lane blocks of 64 vectors and a scalar tail: lengths on and
    # around the vector, four-vector and block sizes, against a float64 sum.
    a = (rng.standard_normal((3, n)) + 0.5).astype(np.float32)
    ad = a.astype(np.float64)
    got = f64(lt(a).sum(1))
    assert np.abs(got - ad.sum(1)).max() <= 1e-6 * max(1.0, np.abs(ad).sum(1).max())
    assert rel_err(lt(a[:, ::2]).sum(1).numpy(), ad[:, ::2].sum(1)) < 1e-5  # a strided copy first


# ---------------------------------------------------------------- large inputs
def test_large_float32_reductions_are_accurate(rng):
    n = 3_000_000
    a = (rng.random(n, dtype=np.float32) + np.float32(100.0))
    ad = a.astype(np.float64)
    x = lt(a)
    assert rel_err(x.sum().item(), ad.sum()) < 1e-6
    assert rel_err(x.mean().item(), ad.mean()) < 1e-6
    assert rel_err(x.var().item(), ad.var(ddof=1)) < 1e-4  # variance of values near 100: cancellation-prone
    assert rel_err(x.std().item(), ad.std(ddof=1)) < 1e-4
    assert rel_err(f64(x.reshape(-1, 3).sum(0)), ad.reshape(-1, 3).sum(0)) < 1e-6
    assert rel_err(f64(x.reshape(3, -1).sum(1)), ad.reshape(3, -1).sum(1)) < 1e-6
    assert rel_err(x.cumsum(0)[-1].item(), ad.sum()) < 1e-6
    assert rel_err(x.logsumexp(0).item(), 100 + np.log(np.exp(ad - 100).sum())) < 1e-6
    assert rel_err(x.softmax(0).sum().item(), 1.0) < 1e-5
    assert x.amax().item() == a.max() and x.argmin().item() == np.argmin(a)
    ones = lamina.ones(n)
    assert ones.sum().item() == n and ones.mean().item() == 1.0


@pytest.mark.parametrize("shape,dim", [((4, 3, 5, 2), [0, 2, 3]), ((2, 3, 4, 2, 3), [0, 2, 4]), ((3, 2, 4), [2, 0])])
@pytest.mark.parametrize("keepdim", [False, True])
def test_reductions_over_separate_runs_of_dims(shape, dim, keepdim, rng):
    # Reduced in several passes, one run of adjacent dims each (the bias gradient of a
    # convolution sums NCHW over (0, 2, 3)): every value and dtype as one pass would give it.
    a = rng.standard_normal(shape)
    for name in ("sum", "mean", "amax", "amin", "prod"):
        fn, ref = REDUCTIONS[name]
        for dtype, tol in [(lamina.float64, 1e-12), (lamina.float32, 1e-5)]:
            out = fn(lt(a, dtype), dim=dim, keepdim=keepdim)
            assert out.dtype == dtype
            assert rel_err(f64(out), ref(a, tuple(dim), keepdim)) < tol
    ints = rng.integers(-5, 5, shape)
    out = lt(ints).sum(dim=dim, keepdim=keepdim)
    assert out.dtype == lamina.int64
    np.testing.assert_array_equal(to_np(out), ints.sum(axis=tuple(dim), keepdims=keepdim))

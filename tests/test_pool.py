"""max/avg/adaptive pooling: float64 NumPy loop references, gradcheck, PyTorch parity with random
options (output, indices, gradient) and errors."""
import math

import numpy as np
import pytest

import lamina
from lamina.autograd import gradcheck
from lamina.nn import functional as F
from conftest import rel_err


def _out_len(n, k, s, p, d, ceil_mode):
    """PyTorch's documented output length; with ceil_mode the last window must start inside."""
    span = (n + 2 * p - d * (k - 1) - 1) / s
    out = (math.ceil(span) if ceil_mode else math.floor(span)) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def ref_pool2d(x, k, s, p, d, ceil_mode, kind, count_include_pad=True, divisor=None):
    n, c, h, w = x.shape
    oh, ow = _out_len(h, k[0], s[0], p[0], d[0], ceil_mode), _out_len(w, k[1], s[1], p[1], d[1], ceil_mode)
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            ys = [i * s[0] - p[0] + a * d[0] for a in range(k[0])]
            xs = [j * s[1] - p[1] + b * d[1] for b in range(k[1])]
            rows = [r for r in ys if 0 <= r < h]
            cols = [q for q in xs if 0 <= q < w]
            win = x[:, :, rows][:, :, :, cols]
            if kind == "max":
                y[:, :, i, j] = win.max(axis=(2, 3))
            else:
                # The padded window stops at the padding's far edge (ceil_mode windows may pass it).
                size = ((min(ys[-1] + 1, h + p[0]) - ys[0]) * (min(xs[-1] + 1, w + p[1]) - xs[0]))
                dv = divisor or (size if count_include_pad else len(rows) * len(cols))
                y[:, :, i, j] = win.sum(axis=(2, 3)) / dv
    return y


def ref_adaptive(x, out, kind):
    n, c, h, w = x.shape
    y = np.zeros((n, c) + out)
    for i in range(out[0]):
        for j in range(out[1]):
            r0, r1 = (i * h) // out[0], -((-(i + 1) * h) // out[0])
            c0, c1 = (j * w) // out[1], -((-(j + 1) * w) // out[1])
            win = x[:, :, r0:r1, c0:c1]
            y[:, :, i, j] = win.max(axis=(2, 3)) if kind == "max" else win.mean(axis=(2, 3))
    return y


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


POOL_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0)),
    dict(kernel_size=(2, 3), stride=(3, 2), ceil_mode=True),
    dict(kernel_size=5, stride=1, padding=2),
]


@pytest.mark.parametrize("opts", POOL_CASES)
@pytest.mark.parametrize("shape", [(2, 3, 7, 9), (1, 1, 5, 5), (0, 2, 6, 6)])
def test_max_pool2d_matches_reference(rng, opts, shape):
    x = rng.standard_normal(shape)
    for dil in (1, 2):
        k = _pair(opts["kernel_size"])
        if any(dd * (kk - 1) + 1 > n + 2 * pp for dd, kk, n, pp in zip((dil, dil), k, shape[2:], _pair(opts.get("padding", 0)))):
            continue
        out = F.max_pool2d(lamina.tensor(x), dilation=dil, **opts)
        ref = ref_pool2d(x, k, _pair(opts.get("stride") or k), _pair(opts.get("padding", 0)), (dil, dil),
                         opts.get("ceil_mode", False), "max")
        assert out.shape == ref.shape
        assert np.array_equal(out.numpy(), ref)


@pytest.mark.parametrize("opts", POOL_CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("divisor", [None, 3])
def test_avg_pool2d_matches_reference(rng, opts, count_include_pad, divisor):
    x = rng.standard_normal((2, 3, 7, 9))
    out = F.avg_pool2d(lamina.tensor(x), count_include_pad=count_include_pad, divisor_override=divisor, **opts)
    k = _pair(opts["kernel_size"])
    ref = ref_pool2d(x, k, _pair(opts.get("stride") or k), _pair(opts.get("padding", 0)), (1, 1),
                     opts.get("ceil_mode", False), "avg", count_include_pad, divisor)
    assert rel_err(out.numpy(), ref) < 1e-12


@pytest.mark.parametrize("out", [(1, 1), (3, 4), (7, 9), (4, 2), (10, 11)])
def test_adaptive_pools_match_reference(rng, out):
    x = rng.standard_normal((2, 3, 7, 9))
    assert rel_err(F.adaptive_avg_pool2d(lamina.tensor(x), out).numpy(), ref_adaptive(x, out, "avg")) < 1e-12
    assert np.array_equal(F.adaptive_max_pool2d(lamina.tensor(x), out).numpy(), ref_adaptive(x, out, "max"))


def test_pool_shapes_1d_unbatched_none_and_noncontiguous(rng):
    x = rng.standard_normal((2, 3, 10))
    ref = ref_pool2d(x[:, :, None], (1, 3), (1, 2), (0, 1), (1, 1), False, "max")[:, :, 0]
    assert np.array_equal(F.max_pool1d(lamina.tensor(x), 3, 2, 1).numpy(), ref)
    ref = ref_pool2d(x[:, :, None], (1, 4), (1, 4), (0, 0), (1, 1), True, "avg")[:, :, 0]
    assert rel_err(F.avg_pool1d(lamina.tensor(x), 4, ceil_mode=True).numpy(), ref) < 1e-12
    assert rel_err(F.adaptive_avg_pool1d(lamina.tensor(x), 4).numpy(), ref_adaptive(x[:, :, None], (1, 4), "avg")[:, :, 0]) < 1e-12
    x4 = rng.standard_normal((5, 6, 3, 2))
    t = lamina.tensor(x4).permute(3, 2, 0, 1)
    assert not t.is_contiguous()
    ref = ref_pool2d(x4.transpose(3, 2, 0, 1), (2, 2), (2, 2), (0, 0), (1, 1), False, "max")
    assert np.array_equal(F.max_pool2d(t, 2).numpy(), ref)
    assert F.max_pool2d(t[0], 2).shape == ref.shape[1:]
    assert F.adaptive_avg_pool2d(lamina.tensor(x4), (None, 1)).shape == (5, 6, 3, 1)


def test_max_pool_indices_and_nan(rng):
    x = rng.standard_normal((1, 2, 4, 5))
    x[0, 1, 2, 3] = np.nan
    y, idx = F.max_pool2d(lamina.tensor(x), 2, return_indices=True)
    flat = x.reshape(1, 2, -1)
    assert np.array_equal(np.take_along_axis(flat, idx.numpy().reshape(1, 2, -1), 2).reshape(y.shape),
                          y.numpy(), equal_nan=True)
    assert np.isnan(y.numpy()[0, 1, 1, 1]) and idx.numpy()[0, 1, 1, 1] == 2 * 5 + 3
    assert idx.dtype == lamina.int64


@pytest.mark.parametrize("fn", [
    lambda t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True),
    lambda t: F.max_pool2d(t, 2, dilation=2),
    lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False),
    lambda t: F.avg_pool2d(t, (2, 3), divisor_override=4),
    lambda t: F.adaptive_avg_pool2d(t, (3, 2)),
    lambda t: F.adaptive_max_pool2d(t, (2, 3)),
    lambda t: F.max_pool1d(t.flatten(2), 3, 2),
])
def test_pool_gradcheck(rng, fn):
    # Distinct values keep each maximum away from ties, where max has no derivative.
    x = lamina.tensor(rng.permutation(2 * 2 * 5 * 6).reshape(2, 2, 5, 6) / 7.0, requires_grad=True)
    assert gradcheck(fn, (x,))


@pytest.mark.parametrize("seed", range(5))
def test_pools_torch_parity(seed):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(seed)
    k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
    ceil_mode = bool(rng.integers(0, 2))
    x = rng.standard_normal((2, 3, int(rng.integers(4, 10)), int(rng.integers(4, 10)))).astype(np.float32)
    calls = [("max_pool2d", dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil_mode, return_indices=True)),
             ("avg_pool2d", dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil_mode,
                                 count_include_pad=bool(rng.integers(0, 2)))),
             ("adaptive_avg_pool2d", dict(output_size=(int(rng.integers(1, 5)), int(rng.integers(1, 5))))),
             ("adaptive_max_pool2d", dict(output_size=(int(rng.integers(1, 5)), int(rng.integers(1, 5))),
                                          return_indices=True))]
    for name, opts in calls:
        lx, tx = lamina.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ly, ty = getattr(F, name)(lx, **opts), getattr(tf, name)(tx, **opts)
        if isinstance(ty, tuple):
            assert np.array_equal(ly[1].numpy(), ty[1].numpy())
            ly, ty = ly[0], ty[0]
        g = rng.standard_normal(ly.shape).astype(np.float32)
        (ly * lamina.tensor(g)).sum().backward()
        (ty * torch.tensor(g)).sum().backward()
        assert rel_err(ly.detach().numpy(), ty.detach().numpy()) < 1e-6
        assert rel_err(lx.grad.numpy(), tx.grad.numpy()) < 1e-6


@pytest.mark.parametrize("call,match", [
    (lambda: F.max_pool2d(lamina.zeros(1, 1, 4, 4), 2, padding=2), "at most half"),
    (lambda: F.max_pool2d(lamina.zeros(1, 1, 2, 2), 3), r"\(1, 1, 2, 2\) is too small"),
    (lambda: F.max_pool2d(lamina.zeros(4, 4), 2), r"3-D.*4-D.*\(4, 4\)"),
    (lambda: F.avg_pool2d(lamina.zeros(1, 1, 4, 4), 0), "positive"),
    (lambda: F.avg_pool2d(lamina.zeros(1, 1, 4, 4), 2, divisor_override=0), "divisor_override"),
    (lambda: F.adaptive_avg_pool2d(lamina.zeros(1, 1, 4, 4), (0, 2)), "output_size"),
    (lambda: F.max_pool1d(lamina.zeros(1, 2, 3, 4), 2), r"2-D.*3-D.*\(1, 2, 3, 4\)"),
])
def test_pool_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("opts", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2},
                                  {"kernel_size": 2, "padding": 1}, {"kernel_size": 3, "stride": 2, "ceil_mode": True}])
def test_max_pool_first_nan_wins_and_infinite_windows(opts):
    """Full windows (the branch-free path) and padded or ragged ones agree on the rules: the
    first NaN in row-major window order is taken, and a window of -inf keeps its first index."""
    x = np.zeros((1, 1, 7, 7))
    x[0, 0, 2, 3], x[0, 0, 3, 2] = np.nan, np.nan
    x[0, 0, 4:, 4:] = -np.inf
    y, idx = F.max_pool2d(lamina.tensor(x), return_indices=True, **opts)
    # Recompute each output's winner with a loop over its window, in row-major order.
    k, s = opts["kernel_size"], opts.get("stride", opts["kernel_size"])
    p = opts.get("padding", 0)
    for oy in range(y.shape[2]):
        for ox in range(y.shape[3]):
            best, arg = -np.inf, None
            for iy in range(max(oy * s - p, 0), min(oy * s - p + k, 7)):
                for ix in range(max(ox * s - p, 0), min(ox * s - p + k, 7)):
                    v = x[0, 0, iy, ix]
                    if arg is None or (not np.isnan(best) and (v > best or np.isnan(v))):
                        best, arg = v, iy * 7 + ix
            assert idx.numpy()[0, 0, oy, ox] == arg, (oy, ox)
            assert np.array_equal(y.numpy()[0, 0, oy, ox], best, equal_nan=True)

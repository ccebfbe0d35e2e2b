"""RNN, LSTM, GRU and their cells: the fused per-layer kernels against a float64 NumPy loop,
PyTorch parity (outputs, states, every parameter and input gradient) across the options,
gradcheck, dropout between layers, and errors."""
import itertools

import numpy as np
import pytest

import lamina
from lamina import nn
from lamina.ops.rnn import rnn_layer
from conftest import rel_err


def _sig(x):
    return 1 / (1 + np.exp(-x))


def ref_layer(mode, x, h, c, w_ih, w_hh, b_ih, b_hh, reverse):
    """One layer-direction, step by step in float64 NumPy, written from the cell equations."""
    H = w_hh.shape[1]
    outs = [None] * x.shape[0]
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    for t in steps:
        gx, gh = x[t] @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        if mode == "LSTM":
            g = gx + gh
            i, f, gg, o = _sig(g[:, :H]), _sig(g[:, H:2 * H]), np.tanh(g[:, 2 * H:3 * H]), _sig(g[:, 3 * H:])
            c = f * c + i * gg
            h = o * np.tanh(c)
        elif mode == "GRU":
            r, z = _sig(gx[:, :H] + gh[:, :H]), _sig(gx[:, H:2 * H] + gh[:, H:2 * H])
            n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
            h = (1 - z) * n + z * h
        else:
            h = np.tanh(gx + gh) if mode == "RNN_TANH" else np.maximum(gx + gh, 0)
        outs[t] = h
    return np.stack(outs), h, c


GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


@pytest.mark.parametrize("mode,reverse", list(itertools.product(GATES, [False, True])))
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("T,B,I,H", [(1, 1, 1, 1), (4, 3, 5, 7), (7, 2, 3, 33)])
def test_layer_matches_numpy(rng, mode, reverse, dtype, tol, T, B, I, H):
    G = GATES[mode]
    x = rng.standard_normal((T, B, I))
    h0, c0 = rng.standard_normal((B, H)), rng.standard_normal((B, H))
    ws = [rng.standard_normal(s) * 0.5 for s in [(G * H, I), (G * H, H), (G * H,), (G * H,)]]
    out, h, c = ref_layer(mode, x, h0, c0, *ws, reverse)
    lt = [lamina.tensor(a.astype(dtype)) for a in [x, h0, c0] + ws]
    lo, lh, lc = rnn_layer(mode, lt[0], lt[1], lt[2] if mode == "LSTM" else None, *lt[3:], reverse=reverse)
    assert rel_err(lo.numpy(), out) < tol
    assert rel_err(lh.numpy(), h) < tol
    if mode == "LSTM":
        assert rel_err(lc.numpy(), c) < tol
    else:
        assert lc is None


def test_layer_noncontiguous_input_and_zero_state(rng):
    x = rng.standard_normal((5, 6, 4))
    ws = [rng.standard_normal(s) for s in [(12, 4), (12, 4), (12,), (12,)]]
    out, h, _ = ref_layer("GRU", x[:, ::2], np.zeros((3, 4)), None, *ws, False)
    lx = lamina.tensor(x)[:, ::2]
    assert not lx.is_contiguous()
    lo, lh, _ = rnn_layer("GRU", lx, None, None, *[lamina.tensor(w) for w in ws])
    assert rel_err(lo.numpy(), out) < 1e-12 and rel_err(lh.numpy(), h) < 1e-12


@pytest.mark.parametrize("mode,reverse,bias", list(itertools.product(GATES, [False, True], [False, True])))
def test_layer_gradcheck(rng, mode, reverse, bias):
    G, H = GATES[mode], 3
    t = lambda *s: lamina.tensor(rng.standard_normal(s) * 0.7).requires_grad_()  # noqa: E731
    x, h0, c0 = t(3, 2, 2), t(2, H), t(2, H)
    w_ih, w_hh, b_ih, b_hh = t(G * H, 2), t(G * H, H), t(G * H), t(G * H)
    if mode != "LSTM":
        c0 = None
    if not bias:
        b_ih = b_hh = None

    def fn(*a):
        out, h, c = rnn_layer(mode, *a, reverse=reverse)
        s = out.sum() * 0.3 + (h * h).sum()
        return s + (c * c).sum() if c is not None else s
    assert lamina.autograd.gradcheck(fn, (x, h0, c0, w_ih, w_hh, b_ih, b_hh))


# ---- PyTorch parity of the modules

torch = pytest.importorskip("torch")


def _make(kind, *args, **kw):
    if kind in ("RNN_TANH", "RNN_RELU"):
        kw["nonlinearity"] = "tanh" if kind == "RNN_TANH" else "relu"
        kind = "RNN"
    return getattr(torch.nn, kind)(*args, **kw), getattr(nn, kind)(*args, **kw)


def _lam(a):
    return lamina.tensor(a.detach().numpy()).requires_grad_(a.requires_grad)


def _compare(tm, lm, t_in, l_in, tol):
    """Runs both modules, backpropagates the same random weights of every output, compares outputs
    and the gradients of every parameter and input."""
    to, lo = tm(*t_in), lm(*l_in)
    flat_t = list(_flatten(to))
    flat_l = list(_flatten(lo))
    assert len(flat_t) == len(flat_l)
    gen = np.random.default_rng(1)
    loss_t, loss_l = 0, 0
    for a, b in zip(flat_t, flat_l):
        assert tuple(a.shape) == tuple(b.shape)
        assert rel_err(b.detach().numpy(), a.detach().numpy()) < tol
        g = gen.standard_normal(tuple(a.shape))
        loss_t = loss_t + (a * torch.tensor(g, dtype=a.dtype)).sum()
        loss_l = loss_l + (b * lamina.tensor(g.astype(a.detach().numpy().dtype))).sum()
    loss_t.backward()
    loss_l.backward()
    lp = dict(lm.named_parameters())
    for name, p in tm.named_parameters():
        assert rel_err(lp[name].grad.numpy(), p.grad.numpy()) < tol, name
    for a, b in zip(_flatten(t_in), _flatten(l_in)):
        if a.requires_grad:
            assert rel_err(b.grad.numpy(), a.grad.numpy()) < tol


def _flatten(o):
    if isinstance(o, (tuple, list)):
        for x in o:
            yield from _flatten(x)
    elif o is not None:
        yield o


@pytest.mark.parametrize("kind", list(GATES))
@pytest.mark.parametrize("layers,bidir,batch_first,with_state",
                         list(itertools.product([1, 2], [False, True], [False, True], [False, True])))
def test_module_parity_float64(kind, layers, bidir, batch_first, with_state):
    T, B, I, H = 4, 3, 5, 6
    tm, lm = _make(kind, I, H, num_layers=layers, bidirectional=bidir, batch_first=batch_first)
    tm = tm.double()
    lm = lm.double()
    lm.load_state_dict(tm.state_dict())
    x = torch.randn((B, T, I) if batch_first else (T, B, I), dtype=torch.float64, requires_grad=True)
    t_in, l_in = [x], [_lam(x)]
    if with_state:
        shape = (layers * (2 if bidir else 1), B, H)
        h0 = torch.randn(shape, dtype=torch.float64, requires_grad=True)
        if kind == "LSTM":
            c0 = torch.randn(shape, dtype=torch.float64, requires_grad=True)
            t_in.append((h0, c0))
            l_in.append((_lam(h0), _lam(c0)))
        else:
            t_in.append(h0)
            l_in.append(_lam(h0))
    _compare(tm, lm, t_in, l_in, 1e-10)


@pytest.mark.parametrize("kind", list(GATES))
@pytest.mark.parametrize("with_state", [False, True])
def test_module_parity_unbatched(kind, with_state):
    tm, lm = _make(kind, 3, 4, num_layers=2, bidirectional=True)
    tm, lm = tm.double(), lm.double()
    lm.load_state_dict(tm.state_dict())
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    t_in, l_in = [x], [_lam(x)]
    if with_state:
        h0 = torch.randn(4, 4, dtype=torch.float64, requires_grad=True)
        if kind == "LSTM":
            c0 = torch.randn(4, 4, dtype=torch.float64)
            t_in.append((h0, c0))
            l_in.append((_lam(h0), _lam(c0)))
        else:
            t_in.append(h0)
            l_in.append(_lam(h0))
    _compare(tm, lm, t_in, l_in, 1e-10)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_module_parity_float32(kind):
    tm, lm = _make(kind, 19, 33, num_layers=2, bias=True)
    lm.load_state_dict(tm.state_dict())
    x = torch.randn(9, 4, 19, requires_grad=True)
    _compare(tm, lm, [x], [_lam(x)], 1e-5)


@pytest.mark.parametrize("kind", ["RNN_TANH", "LSTM", "GRU"])
def test_module_no_bias(kind):
    tm, lm = _make(kind, 3, 4, bias=False)
    tm, lm = tm.double(), lm.double()
    assert [n for n, _ in lm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    lm.load_state_dict(tm.state_dict())
    x = torch.randn(3, 2, 3, dtype=torch.float64, requires_grad=True)
    _compare(tm, lm, [x], [_lam(x)], 1e-10)


@pytest.mark.parametrize("cell", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched,with_state", list(itertools.product([False, True], [False, True])))
def test_cell_parity(cell, batched, with_state):
    tm, lm = getattr(torch.nn, cell)(3, 5).double(), getattr(nn, cell)(3, 5).double()
    lm.load_state_dict(tm.state_dict())
    lead = (2,) if batched else ()
    x = torch.randn(lead + (3,), dtype=torch.float64, requires_grad=True)
    t_in, l_in = [x], [_lam(x)]
    if with_state:
        h = torch.randn(lead + (5,), dtype=torch.float64, requires_grad=True)
        if cell == "LSTMCell":
            c = torch.randn(lead + (5,), dtype=torch.float64, requires_grad=True)
            t_in.append((h, c))
            l_in.append((_lam(h), _lam(c)))
        else:
            t_in.append(h)
            l_in.append(_lam(h))
    _compare(tm, lm, t_in, l_in, 1e-10)


def test_parameter_names_shapes_and_init():
    tm, lm = _make("GRU", 4, 6, num_layers=2, bidirectional=True)
    assert [(n, tuple(p.shape)) for n, p in lm.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
    bound = 1 / np.sqrt(6)
    for p in lm.parameters():
        v = p.detach().numpy()
        assert np.all(np.abs(v) <= bound) and v.std() > bound / 4
    assert len(lm.all_weights) == 4 and len(lm.all_weights[0]) == 4


def test_dropout_between_layers():
    lm = nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = lamina.randn(6, 2, 3)
    lm.requires_grad_(False)
    lm.eval()
    a, _ = lm(x)
    b, _ = lm(x)
    assert np.array_equal(a.numpy(), b.numpy())
    lm.train()
    lamina.manual_seed(3)
    c, _ = lm(x)
    lamina.manual_seed(3)
    d, _ = lm(x)
    assert np.array_equal(c.numpy(), d.numpy())
    assert not np.allclose(c.numpy(), a.numpy())


def test_no_grad_and_repr():
    lm = nn.GRU(3, 4, num_layers=2, batch_first=True, bidirectional=True)
    with lamina.no_grad():
        out, h = lm(lamina.randn(2, 5, 3))
    assert out.shape == (2, 5, 8) and h.shape == (4, 2, 4) and not out.requires_grad
    assert repr(lm) == "GRU(3, 4, num_layers=2, batch_first=True, bidirectional=True)"


def test_errors():
    with pytest.raises(lamina.ShapeError, match=r"\[LSTM\].*\(L, N, 3\).*\(4, 2, 5\)"):
        nn.LSTM(3, 4)(lamina.randn(4, 2, 5))
    with pytest.raises(lamina.ShapeError, match=r"\[GRU\] expected hx of shape \(2, 2, 4\), got \(1, 2, 4\)"):
        nn.GRU(3, 4, num_layers=2)(lamina.randn(4, 2, 3), lamina.randn(1, 2, 4))
    with pytest.raises(lamina.ShapeError, match=r"\[LSTMCell\]"):
        nn.LSTMCell(3, 4)(lamina.randn(2, 5))
    with pytest.raises(TypeError, match=r"\[LSTM\] expected hx to be a tuple"):
        nn.LSTM(3, 4)(lamina.randn(4, 2, 3), lamina.randn(1, 2, 4))
    with pytest.raises(NotImplementedError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="dropout"):
        nn.GRU(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(lamina.ShapeError, match=r"\[lstm\] expected w_ih \(16, 3\)"):
        rnn_layer("LSTM", lamina.randn(2, 1, 3), None, None, lamina.randn(16, 2), lamina.randn(16, 4))
    with pytest.raises(ValueError, match=r"\[gru\] expected a sequence length larger than 0"):
        rnn_layer("GRU", lamina.randn(0, 1, 3), None, None, lamina.randn(6, 3), lamina.randn(6, 2))
    with pytest.raises(TypeError, match=r"\[rnn_tanh\] expected every operand of dtype float32"):
        rnn_layer("RNN_TANH", lamina.randn(2, 1, 3), None, None, lamina.randn(2, 3).double(), lamina.randn(2, 2))

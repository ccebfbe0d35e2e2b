"""MultiheadAttention and the Transformer layers: PyTorch parity of outputs, attention weights
and every parameter and input gradient across masks and options, and errors."""
import itertools

import numpy as np
import pytest

import lamina
from lamina import nn
from conftest import rel_err

torch = pytest.importorskip("torch")
E, H, L, S, N = 8, 2, 5, 6, 3


def _lam(a, grad=True):
    if a is None:
        return None
    t = lamina.tensor(a.detach().numpy())
    return t.requires_grad_() if grad and a.is_floating_point() and a.requires_grad else t


def _run(tm, lm, args, kwargs, tol=1e-10):
    """Loads tm's state into lm, runs both, compares the output (and weights), then the gradients
    of a random projection of the output w.r.t. every parameter and input."""
    lm.load_state_dict(tm.state_dict())
    made = {}  # one lamina tensor per distinct torch input, so self-attention shares it
    l_args = [made.setdefault(id(a), _lam(a)) for a in args]
    l_kwargs = {k: _lam(v, False) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
    to, lo = tm(*args, **kwargs), lm(*l_args, **l_kwargs)
    if isinstance(to, tuple):
        (to, tw), (lo, lw) = to, lo
        assert (tw is None) == (lw is None)
        if tw is not None:
            assert tuple(lw.shape) == tuple(tw.shape)
            assert rel_err(lw.detach().numpy(), tw.detach().numpy()) < tol
    assert tuple(lo.shape) == tuple(to.shape)
    assert rel_err(lo.detach().numpy(), to.detach().numpy()) < tol
    g = np.random.default_rng(0).standard_normal(tuple(to.shape))
    (to * torch.tensor(g, dtype=to.dtype)).sum().backward()
    (lo * lamina.tensor(g.astype(lo.detach().numpy().dtype))).sum().backward()
    lp = dict(lm.named_parameters())
    assert set(lp) == {n for n, _ in tm.named_parameters()}
    for name, p in tm.named_parameters():
        assert rel_err(lp[name].grad.numpy(), p.grad.numpy()) < tol, name
    for a, b in zip(args, l_args):
        if a is not None and a.requires_grad:
            assert rel_err(b.grad.numpy(), a.grad.numpy()) < tol


def _x(*shape, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype, requires_grad=True)


def _mha(**kw):
    torch.manual_seed(0)
    return nn.MultiheadAttention(E, H, **kw).double(), torch.nn.MultiheadAttention(E, H, **kw).double()


_MHA_CASES = [(i % 2 == 1,) + c for i, c in enumerate(itertools.product(
    [(False, True), (True, True), (True, False)], [None, "bool", "float", "3d"], [None, "bool", "float"]))]


@pytest.mark.parametrize("batch_first,weights,mask_kind,kpm_kind", _MHA_CASES)
def test_mha_parity(batch_first, weights, mask_kind, kpm_kind):
    need_weights, average = weights
    lm, tm = _mha(batch_first=batch_first)
    q = _x(N, L, E) if batch_first else _x(L, N, E)
    kv = _x(N, S, E) if batch_first else _x(S, N, E)
    kw = dict(need_weights=need_weights, average_attn_weights=average)
    gen = torch.Generator().manual_seed(1)
    if mask_kind == "bool":
        m = torch.rand(L, S, generator=gen) < 0.3
        m[:, 0] = False  # every query keeps one key
        kw["attn_mask"] = m
    elif mask_kind == "float":
        kw["attn_mask"] = torch.randn(L, S, dtype=torch.float64, generator=gen)
    elif mask_kind == "3d":
        kw["attn_mask"] = torch.randn(N * H, L, S, dtype=torch.float64, generator=gen)
    if kpm_kind is not None:
        pad = torch.zeros(N, S, dtype=torch.bool)
        pad[0, -2:] = True
        pad[2, -1] = True
        if kpm_kind == "float" or (mask_kind in ("float", "3d")):
            pad = torch.zeros(N, S, dtype=torch.float64).masked_fill(pad, float("-inf"))
        if mask_kind == "bool" and kpm_kind == "float":
            kw["attn_mask"] = torch.zeros(L, S, dtype=torch.float64).masked_fill(kw["attn_mask"], float("-inf"))
        kw["key_padding_mask"] = pad
    _run(tm, lm, (q, kv, kv.detach().clone().requires_grad_()), kw)


def test_mha_self_attention_causal_and_unbatched():
    lm, tm = _mha()
    x = _x(L, N, E)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64)
    _run(tm, lm, (x, x, x), dict(attn_mask=causal, is_causal=True, need_weights=False))
    lm2, tm2 = _mha()
    u = _x(L, E)
    _run(tm2, lm2, (u, u, u), dict(attn_mask=causal))
    lamina_mask = nn.Transformer.generate_square_subsequent_mask(L, dtype=lamina.float64)
    assert np.array_equal(lamina_mask.numpy(), causal.numpy())


def test_mha_causal_without_mask_matches_explicit_mask():
    lm, _ = _mha()
    x = lamina.randn(L, N, E, dtype=lamina.float64)
    mask = nn.Transformer.generate_square_subsequent_mask(L, dtype=lamina.float64)
    with lamina.no_grad():
        a = lm(x, x, x, need_weights=False, is_causal=True)[0]
        b = lm(x, x, x, need_weights=False, attn_mask=mask)[0]
        c, w = lm(x, x, x, is_causal=True)
    assert rel_err(a.numpy(), b.numpy()) < 1e-12 and rel_err(c.numpy(), b.numpy()) < 1e-12
    assert np.all(np.triu(w.numpy()[0], 1) == 0)


def test_mha_kdim_vdim_and_no_bias():
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(E, H, kdim=5, vdim=3, bias=False).double()
    lm = nn.MultiheadAttention(E, H, kdim=5, vdim=3, bias=False).double()
    assert lm.in_proj_weight is None and tuple(lm.k_proj_weight.shape) == (E, 5)
    _run(tm, lm, (_x(L, N, E), _x(S, N, 5), _x(S, N, 3)), {})


def test_mha_float32_and_init():
    torch.manual_seed(0)
    tm, lm = torch.nn.MultiheadAttention(16, 4), nn.MultiheadAttention(16, 4)
    assert np.all(lm.in_proj_bias.detach().numpy() == 0) and np.all(lm.out_proj.bias.detach().numpy() == 0)
    bound = np.sqrt(6 / (16 + 48))
    assert np.abs(lm.in_proj_weight.detach().numpy()).max() <= bound
    x = _x(7, 2, 16, dtype=torch.float32)
    _run(tm, lm, (x, x, x), dict(need_weights=False), tol=1e-5)


@pytest.mark.parametrize("norm_first,batch_first,activation", [(False, False, "relu"), (True, True, "gelu"),
                                                               (False, True, "gelu"), (True, False, "relu")])
@pytest.mark.parametrize("masks", [False, True])
def test_encoder_layer_and_stack(norm_first, batch_first, activation, masks):
    torch.manual_seed(0)
    kw = dict(dim_feedforward=16, dropout=0.0, activation=activation, norm_first=norm_first, batch_first=batch_first)
    tl = torch.nn.TransformerEncoderLayer(E, H, **kw).double()
    ll = nn.TransformerEncoderLayer(E, H, **kw).double()
    x = _x(N, L, E) if batch_first else _x(L, N, E)
    call = {}
    if masks:
        call["src_mask"] = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64)
        pad = torch.zeros(N, L, dtype=torch.float64)
        pad[1, -1] = float("-inf")
        call["src_key_padding_mask"] = pad
    _run(tl, ll, (x,), call)
    te = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(E).double(), enable_nested_tensor=False)
    le = nn.TransformerEncoder(ll, 2, norm=nn.LayerNorm(E).double())
    assert le.layers[0] is not ll and le.layers[0].linear1 is not le.layers[1].linear1
    stack_call = {("mask" if k == "src_mask" else k): v for k, v in call.items()}
    _run(te, le, (_x(*x.shape),), stack_call)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("masks", [False, True])
def test_decoder_layer_and_stack(norm_first, masks):
    torch.manual_seed(0)
    kw = dict(dim_feedforward=16, dropout=0.0, norm_first=norm_first)
    tl = torch.nn.TransformerDecoderLayer(E, H, **kw).double()
    ll = nn.TransformerDecoderLayer(E, H, **kw).double()
    call = {}
    if masks:
        call["tgt_mask"] = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64)
        call["tgt_is_causal"] = True
        call["memory_mask"] = torch.randn(L, S, dtype=torch.float64)
        pad = torch.zeros(N, S, dtype=torch.float64)
        pad[0, 0] = float("-inf")
        call["memory_key_padding_mask"] = pad
    _run(tl, ll, (_x(L, N, E), _x(S, N, E)), call)
    td, ld = torch.nn.TransformerDecoder(tl, 2), nn.TransformerDecoder(ll, 2)
    _run(td, ld, (_x(L, N, E), _x(S, N, E)), call)


def test_full_transformer():
    torch.manual_seed(0)
    tm = torch.nn.Transformer(E, H, 2, 1, 16, dropout=0.0, batch_first=True).double()
    lm = nn.Transformer(E, H, 2, 1, 16, dropout=0.0, batch_first=True).double()
    tgt_mask = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64)
    _run(tm, lm, (_x(N, S, E), _x(N, L, E)), dict(tgt_mask=tgt_mask))


def test_dropout_is_active_only_in_training():
    layer = nn.TransformerEncoderLayer(E, H, 16, dropout=0.5).double().requires_grad_(False)
    x = lamina.randn(L, N, E, dtype=lamina.float64)
    layer.eval()
    assert np.array_equal(layer(x).numpy(), layer(x).numpy())
    layer.train()
    assert not np.allclose(layer(x).numpy(), layer.eval()(x).numpy())


def test_errors():
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(NotImplementedError, match="add_bias_kv"):
        nn.MultiheadAttention(8, 2, add_bias_kv=True)
    m = nn.MultiheadAttention(8, 2)
    with pytest.raises(lamina.ShapeError, match=r"\[MultiheadAttention\] expected query .*\(5, 3, 7\)"):
        m(lamina.randn(5, 3, 7), lamina.randn(5, 3, 8), lamina.randn(5, 3, 8))
    x = lamina.randn(5, 3, 8)
    with pytest.raises(lamina.ShapeError, match=r"attn_mask of shape \(5, 5\), got \(4, 5\)"):
        m(x, x, x, attn_mask=lamina.zeros(4, 5))
    with pytest.raises(lamina.ShapeError, match=r"key_padding_mask of shape \(3, 5\)"):
        m(x, x, x, key_padding_mask=lamina.zeros(5, 3, dtype=lamina.bool))
    with pytest.raises(lamina.ShapeError, match="batch size"):
        m(x, lamina.randn(5, 2, 8), lamina.randn(5, 2, 8))
    with pytest.raises(RuntimeError, match="relu/gelu"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")

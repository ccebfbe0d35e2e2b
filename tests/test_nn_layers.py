"""Layers against PyTorch: the same state_dict gives the same outputs and gradients (inputs and
parameters); train/eval behaviour, BatchNorm running statistics, Embedding padding, Dropout
statistics, functional gradchecks and the shape errors that name the module."""
import math

import numpy as np
import pytest

import lamina
from lamina import nn
from lamina.nn import functional as F
from lamina.autograd import gradcheck
from conftest import rel_err, to_np

torch = pytest.importorskip("torch")

needs_conv = pytest.mark.skipif(not all(hasattr(F, n) for n in ("conv1d", "conv2d", "conv_transpose2d")),
                                reason="lamina.nn.functional conv kernels are not available in this build")
needs_pool = pytest.mark.skipif(not all(hasattr(F, n) for n in ("max_pool2d", "avg_pool2d", "adaptive_avg_pool2d")),
                                reason="lamina.nn.functional pooling kernels are not available in this build")


def _pair(name, *args, **kwargs):
    """The lamina and the PyTorch layer, lamina's loaded from PyTorch's state_dict."""
    tm = getattr(torch.nn, name)(*args, **kwargs)
    lm = getattr(nn, name)(*args, **kwargs)
    assert [(k, tuple(v.shape)) for k, v in lm.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in tm.state_dict().items()]
    lm.load_state_dict(tm.state_dict())
    return lm, tm


def _compare(lm, tm, *inputs, tol=1e-5, grad=True):
    """Forward both on ``inputs`` (NumPy arrays; integer ones are not differentiated), backward
    a random upstream gradient, and compare outputs and every gradient."""
    li = [lamina.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in inputs]
    ti = [torch.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in inputs]
    lo, to = lm(*li), tm(*ti)
    assert tuple(lo.shape) == tuple(to.shape)
    assert rel_err(to_np(lo), to.detach().numpy()) < tol
    if not grad:
        return lo
    g = np.random.default_rng(1).standard_normal(tuple(to.shape)).astype(np.float32)
    (lo * lamina.tensor(g)).sum().backward()
    (to * torch.tensor(g)).sum().backward()
    for a, b in zip(li, ti):
        if b.requires_grad:
            assert rel_err(to_np(a.grad), b.grad.numpy()) < tol
    tparams = dict(tm.named_parameters())
    for n, p in lm.named_parameters():
        if tparams[n].grad is None:
            assert p.grad is None, n
        else:
            assert rel_err(to_np(p.grad), tparams[n].grad.numpy()) < tol, n
    return lo


def _x(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


# ---- linear family
@pytest.mark.parametrize("shape", [(5, 4), (4,), (2, 3, 4), (0, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(rng, shape, bias):
    _compare(*_pair("Linear", 4, 3, bias=bias), _x(rng, *shape))


def test_bilinear(rng):
    _compare(*_pair("Bilinear", 3, 5, 4), _x(rng, 2, 6, 3), _x(rng, 2, 6, 5))
    _compare(*_pair("Bilinear", 2, 3, 1, bias=False), _x(rng, 7, 2), _x(rng, 7, 3))


def test_identity_flatten_unflatten(rng):
    x = _x(rng, 2, 3, 4, 5)
    _compare(nn.Identity(3, foo=1), torch.nn.Identity(), x)
    _compare(nn.Flatten(), torch.nn.Flatten(), x)
    _compare(nn.Flatten(0, 2), torch.nn.Flatten(0, 2), x)
    _compare(nn.Unflatten(2, (2, 2)), torch.nn.Unflatten(2, (2, 2)), x)


@pytest.mark.parametrize("name,args", [("Linear", (30, 20)), ("Bilinear", (30, 10, 20)), ("Conv2d", (12, 20, 3)),
                                       ("Conv1d", (6, 10, 5)), ("ConvTranspose2d", (12, 20, 3, 1, 0, 0, 2))])
def test_default_init_matches_torch_distribution(name, args):
    """Same parameter shapes and the same uniform bound as PyTorch's reset_parameters:
    1/sqrt(fan_in) (1/sqrt(in1_features) for Bilinear) for weights and biases alike."""
    tm, lm = getattr(torch.nn, name)(*args), getattr(nn, name)(*args)
    w = tm.weight
    fan_in = w.shape[1] if name == "Bilinear" else torch.nn.init._calculate_fan_in_and_fan_out(w)[0]
    bound = 1 / math.sqrt(fan_in)
    for (n, tp), (m, lp) in zip(tm.named_parameters(), lm.named_parameters()):
        assert n == m and tuple(tp.shape) == tuple(lp.shape)
        assert float(tp.detach().abs().max()) <= bound and float(lp.abs().max()) <= bound
        if lp.numel() >= 200:
            assert float(lp.abs().max()) > 0.95 * bound
            assert float(lp.float().std()) == pytest.approx(bound / math.sqrt(3), rel=0.1)


# ---- convolution
def test_mode_pad_matches_numpy(rng):
    from lamina.nn.modules.conv import mode_pad
    x = _x(rng, 2, 3, 4, 5)
    for mode, np_mode in (("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")):
        out = mode_pad(lamina.tensor(x), [(1, 3), (2, 0)], mode, "test")
        np.testing.assert_array_equal(to_np(out), np.pad(x, ((0, 0), (0, 0), (1, 3), (2, 0)), mode=np_mode))
    with pytest.raises(ValueError, match=r"reflect padding \(4, 0\).*size 4"):
        mode_pad(lamina.tensor(x), [(4, 0), (0, 0)], "reflect", "test")
    xt = lamina.tensor(x.astype(np.float64), requires_grad=True)
    assert gradcheck(lambda t: mode_pad(t, [(2, 1), (1, 1)], "reflect", "test"), (xt,))


@needs_conv
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("kw", [{}, {"stride": 2, "padding": 1}, {"padding": 2, "dilation": 2, "groups": 2},
                                {"padding": "same", "padding_mode": "reflect"}, {"padding": 1, "padding_mode": "circular"},
                                {"padding": (1, 2), "padding_mode": "replicate", "bias": False},
                                {"padding": "valid"}, {"padding": "same", "kernel_size": (2, 3)}])
def test_conv2d(rng, kw):
    kw = dict(kw)
    k = kw.pop("kernel_size", 3)
    lm, tm = _pair("Conv2d", 4, 6, k, **kw)
    _compare(lm, tm, _x(rng, 2, 4, 7, 6), tol=1e-4)
    _compare(lm, tm, _x(rng, 4, 5, 5), tol=1e-4)  # unbatched


@needs_conv
@pytest.mark.parametrize("kw", [{}, {"stride": 2, "padding": 1, "groups": 3}, {"padding": 2, "padding_mode": "reflect"}])
def test_conv1d(rng, kw):
    lm, tm = _pair("Conv1d", 3, 6, 3, **kw)
    _compare(lm, tm, _x(rng, 2, 3, 9), tol=1e-4)
    _compare(lm, tm, _x(rng, 3, 8), tol=1e-4)


@needs_conv
@pytest.mark.parametrize("kw", [{}, {"stride": 2, "padding": 1, "output_padding": 1}, {"groups": 2, "dilation": 2}])
def test_conv_transpose2d(rng, kw):
    lm, tm = _pair("ConvTranspose2d", 4, 6, 3, **kw)
    _compare(lm, tm, _x(rng, 2, 4, 5, 4), tol=1e-4)


@needs_conv
def test_conv_transpose2d_output_size(rng):
    lm, tm = _pair("ConvTranspose2d", 2, 3, 3, stride=2, padding=1)
    x = _x(rng, 1, 2, 4, 4)
    for size in ((7, 7), (8, 8), (1, 3, 8, 7)):
        lo = lm(lamina.tensor(x), output_size=size)
        to = tm(torch.tensor(x), output_size=size)
        assert rel_err(to_np(lo), to.detach().numpy()) < 1e-4
    with pytest.raises(lamina.ShapeError, match=r"ConvTranspose2d.*\(9, 9\)"):
        lm(lamina.tensor(x), output_size=(9, 9))


def test_conv_constructor_errors():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(2, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(2, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2d(2, 4, 3, stride=1, output_padding=1)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2d(2, 4, (3, 3, 3))


# ---- pooling
@needs_pool
def test_pooling(rng):
    x = _x(rng, 2, 3, 9, 8)
    for name, args, kw in (("MaxPool2d", (3,), {"stride": 2, "padding": 1}), ("MaxPool2d", (2,), {"ceil_mode": True}),
                           ("AvgPool2d", (3,), {"stride": 2, "padding": 1, "count_include_pad": False}),
                           ("AvgPool2d", (2,), {}), ("AdaptiveAvgPool2d", ((4, 3),), {}),
                           ("AdaptiveAvgPool2d", (1,), {})):
        _compare(getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw), x, tol=1e-5)
    _compare(nn.MaxPool1d(3, 2, 1), torch.nn.MaxPool1d(3, 2, 1), _x(rng, 2, 3, 10))
    _compare(nn.MaxPool1d(2), torch.nn.MaxPool1d(2), _x(rng, 3, 7))


# ---- normalisation
@pytest.mark.parametrize("name,shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)), ("BatchNorm2d", (3, 3, 4, 5))])
@pytest.mark.parametrize("momentum", [0.1, None, 0.5])
def test_batchnorm_running_stats_follow_torch(rng, name, shape, momentum):
    lm, tm = _pair(name, 3, momentum=momentum)
    for _ in range(3):
        _compare(lm, tm, _x(rng, *shape) * 2 + 1, tol=1e-5)
    for key, v in tm.state_dict().items():
        assert rel_err(to_np(lm.state_dict()[key]), v.numpy()) < 1e-6, key
    lm.eval()
    tm.eval()
    _compare(lm, tm, _x(rng, *shape), tol=1e-5)
    assert int(lm.num_batches_tracked.item()) == 3


@pytest.mark.parametrize("kw", [{"affine": False}, {"track_running_stats": False}, {"affine": False, "track_running_stats": False}])
def test_batchnorm_options(rng, kw):
    lm, tm = _pair("BatchNorm2d", 3, **kw)
    x = _x(rng, 2, 3, 3, 3)
    _compare(lm, tm, x)
    lm.eval()
    tm.eval()
    _compare(lm, tm, x)  # without running stats eval mode still uses the batch's


def test_batchnorm_eval_does_not_move_stats(rng):
    bn = nn.BatchNorm1d(3).eval()
    bn(lamina.randn(5, 3))
    assert (to_np(bn.running_mean) == 0).all() and (to_np(bn.running_var) == 1).all()
    assert int(bn.num_batches_tracked.item()) == 0


def test_batch_norm_functional_gradcheck(rng):
    x = lamina.tensor(rng.standard_normal((3, 2, 4)), requires_grad=True)
    w = lamina.tensor(rng.standard_normal(2), requires_grad=True)
    b = lamina.tensor(rng.standard_normal(2), requires_grad=True)
    assert gradcheck(lambda *a: F.batch_norm(a[0], None, None, a[1], a[2], training=True), (x, w, b))
    assert gradcheck(lambda a: F.batch_norm(a, None, None, training=True), (x,))
    rm, rv = lamina.tensor([0.3, -0.2], dtype=lamina.float64), lamina.tensor([1.5, 0.5], dtype=lamina.float64)
    assert gradcheck(lambda *a: F.batch_norm(a[0], rm, rv, a[1], a[2], training=False), (x, w, b))


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(lamina.randn(1, 3), None, None, training=True)
    with pytest.raises(lamina.ShapeError, match=r"\[batch_norm\] weight must have shape \(3,\)"):
        F.batch_norm(lamina.randn(4, 3), None, None, lamina.ones(4), training=True)
    with pytest.raises(ValueError, match="running_mean and running_var"):
        F.batch_norm(lamina.randn(4, 3), None, None, training=False)


@pytest.mark.parametrize("kw", [{}, {"elementwise_affine": False}, {"bias": False}])
def test_layer_norm(rng, kw):
    lm, tm = _pair("LayerNorm", (3, 4), **kw)
    with torch.no_grad():
        for p in tm.parameters():
            p.normal_()
    lm.load_state_dict(tm.state_dict())
    _compare(lm, tm, _x(rng, 2, 3, 4))


def test_rms_norm(rng):
    lm, tm = _pair("RMSNorm", 5, eps=1e-6)
    with torch.no_grad():
        tm.weight.normal_()
    lm.load_state_dict(tm.state_dict())
    _compare(lm, tm, _x(rng, 3, 5))
    _compare(*_pair("RMSNorm", [2, 5]), _x(rng, 3, 2, 5))


@pytest.mark.parametrize("groups,shape", [(2, (3, 4, 5)), (1, (2, 4, 3, 3)), (1, (3, 4)), (4, (1, 4, 3, 2))])
def test_group_norm(rng, groups, shape):
    lm, tm = _pair("GroupNorm", groups, 4)
    with torch.no_grad():
        for p in tm.parameters():
            p.normal_()
    lm.load_state_dict(tm.state_dict())
    _compare(lm, tm, _x(rng, *shape))
    x = lamina.tensor(rng.standard_normal(shape), requires_grad=True)
    w = lamina.tensor(rng.standard_normal(4), requires_grad=True)
    assert gradcheck(lambda a, b: F.group_norm(a, groups, b, None), (x, w))
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(3, 4)


# ---- dropout
def test_dropout_train_and_eval():
    x = lamina.ones(200, 100, requires_grad=True)
    d = nn.Dropout(0.3)
    y = d(x)
    v = to_np(y)
    assert np.all((v == 0) | np.isclose(v, 1 / 0.7))
    assert abs((v == 0).mean() - 0.3) < 0.02
    y.sum().backward()
    np.testing.assert_array_equal(to_np(x.grad), v)  # the gradient is the same mask, scaled
    d.eval()
    assert d(x) is x
    assert nn.Dropout(0.0)(x) is x
    assert (to_np(nn.Dropout(1.0)(x)) == 0).all()


def test_dropout_seeded_and_inplace():
    lamina.manual_seed(7)
    a = to_np(F.dropout(lamina.ones(50)))
    lamina.manual_seed(7)
    b = to_np(F.dropout(lamina.ones(50)))
    np.testing.assert_array_equal(a, b)
    x = lamina.ones(50)
    assert F.dropout(x, 0.5, inplace=True) is x and (to_np(x) == 0).any()


def test_channel_dropout():
    x = lamina.ones(8, 16, 3, 5)
    v = to_np(nn.Dropout2d(0.5)(x))
    per_channel = v.reshape(8, 16, -1)
    assert (per_channel.min(-1) == per_channel.max(-1)).all()  # whole channels kept or zeroed
    assert 0 < (per_channel[..., 0] == 0).mean() < 1
    v1 = to_np(nn.Dropout1d(0.5)(lamina.ones(6, 7)))  # unbatched (C, L)
    assert (v1.min(-1) == v1.max(-1)).all()
    with pytest.raises(lamina.ShapeError, match=r"\[Dropout2d\].*\(N, C, H, W\)"):
        nn.Dropout2d()(lamina.ones(3, 4))
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


# ---- embedding
def test_embedding_matches_torch_and_padding_row_gets_no_gradient(rng):
    lm, tm = _pair("Embedding", 10, 4, padding_idx=2)
    idx = np.array([[1, 2, 2, 9], [0, 2, 5, 1]])
    _compare(lm, tm, idx)
    assert (to_np(lm.weight.grad)[2] == 0).all()
    assert to_np(lm.weight.grad)[1].sum() != 0


def test_embedding_fresh_padding_row_is_zero():
    e = nn.Embedding(5, 3, padding_idx=-1)
    assert e.padding_idx == 4 and (to_np(e.weight)[4] == 0).all()


@pytest.mark.parametrize("kw", [{"max_norm": 1.0}, {"max_norm": 0.5, "norm_type": 1.0}, {"scale_grad_by_freq": True}])
def test_embedding_options_match_torch(rng, kw):
    lm, tm = _pair("Embedding", 6, 3, **kw)
    idx = np.array([0, 3, 3, 5, 3])
    _compare(lm, tm, idx)
    assert rel_err(to_np(lm.weight), tm.weight.detach().numpy()) < 1e-6  # rows renormalised alike


def test_embedding_from_pretrained_and_gradcheck(rng):
    w = lamina.tensor(rng.standard_normal((4, 3)))
    e = nn.Embedding.from_pretrained(w)
    assert not e.weight.requires_grad
    np.testing.assert_array_equal(to_np(e(lamina.tensor([3, 0]))), to_np(w)[[3, 0]])
    assert nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad
    wt = lamina.tensor(rng.standard_normal((5, 2)), requires_grad=True)
    idx = lamina.tensor([[0, 4], [4, 1], [1, 1]])
    assert gradcheck(lambda a: F.embedding(idx, a), (wt,))


def test_embedding_errors():
    e = nn.Embedding(4, 2)
    with pytest.raises(TypeError, match=r"\[Embedding\].*float32"):
        e(lamina.zeros(3))
    with pytest.raises(IndexError, match=r"\[embedding\] index 4 is out of range"):
        e(lamina.tensor([1, 4]))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(4, 2, padding_idx=4)


# ---- activations
@pytest.mark.filterwarnings("ignore:Implicit dimension choice")
@pytest.mark.parametrize("name,args", [("ReLU", ()), ("LeakyReLU", (0.2,)), ("ELU", (0.7,)), ("GELU", ()),
                                       ("GELU", ("tanh",)), ("SiLU", ()), ("Tanh", ()), ("Sigmoid", ()),
                                       ("Softplus", (2.0, 5.0)), ("Softmax", (1,)), ("LogSoftmax", (-1,)),
                                       ("Softmax", ())])
def test_activations_match_torch(rng, name, args):
    x = _x(rng, 3, 5) * 3
    _compare(getattr(nn, name)(*args), getattr(torch.nn, name)(*args), x, tol=1e-5)


def test_inplace_activation():
    x = lamina.tensor([-1.0, 2.0])
    assert nn.ReLU(inplace=True)(x) is x and to_np(x).tolist() == [0.0, 2.0]
    y = lamina.tensor([-1.0, 2.0], requires_grad=True)
    out = nn.ReLU(inplace=True)(y * 1)  # in the graph: computed out of place, gradients still flow
    out.sum().backward()
    assert to_np(y.grad).tolist() == [0.0, 1.0]


# ---- shape errors name the module and the shapes
@pytest.mark.parametrize("module,x,msg", [
    (nn.Linear(4, 3), (2, 5), r"\[Linear\] expected input of shape \(\*, 4\), got \(2, 5\)"),
    (nn.Conv2d(3, 4, 3), (2, 5, 8, 8), r"\[Conv2d\] expected input of shape \(N, 3, H, W\).*got \(2, 5, 8, 8\)"),
    (nn.Conv2d(3, 4, 3), (3, 8), r"\[Conv2d\].*got \(3, 8\)"),
    (nn.Conv1d(2, 4, 3), (2, 3, 8), r"\[Conv1d\] expected input of shape \(N, 2, L\)"),
    (nn.BatchNorm2d(3), (2, 3, 4), r"\[BatchNorm2d\] expected input of shape \(N, 3, H, W\), got \(2, 3, 4\)"),
    (nn.BatchNorm1d(3), (2, 4), r"\[BatchNorm1d\].*\(N, 3\).*got \(2, 4\)"),
    (nn.LayerNorm([3, 4]), (2, 4, 3), r"\[LayerNorm\] expected input of shape \(\*, 3, 4\), got \(2, 4, 3\)"),
    (nn.GroupNorm(2, 4), (2, 6, 3), r"\[GroupNorm\] expected input of shape \(N, 4, \*\)"),
    (nn.MaxPool2d(2), (4, 4), r"\[MaxPool2d\].*got \(4, 4\)"),
    (nn.Bilinear(2, 3, 4), (5, 3), r"\[Bilinear\] expected input of shape \(\*, 2\)"),
])
def test_shape_errors_name_module_and_shapes(module, x, msg):
    with pytest.raises(lamina.ShapeError, match=msg):
        module(lamina.zeros(*x)) if not isinstance(module, nn.Bilinear) else module(lamina.zeros(*x), lamina.zeros(5, 3))


def test_layers_to_float64(rng):
    lm, tm = _pair("Linear", 4, 2)
    lm.double()
    tm.double()
    x = rng.standard_normal((3, 4))
    lo = lm(lamina.tensor(x))
    assert lo.dtype == lamina.float64
    assert rel_err(to_np(lo), tm(torch.tensor(x)).detach().numpy()) < 1e-12

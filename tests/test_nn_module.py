"""nn.Module and the containers: registration, traversal, state_dict round trips (strict
errors, PyTorch tensors), to(dtype), train/eval, zero_grad, hooks, repr, deepcopy and pickle."""
import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import lamina
from lamina import nn
from conftest import to_np


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.scale = nn.Parameter(lamina.ones(4))
        self.register_buffer("steps", lamina.zeros(1))
        self.register_buffer("cache", lamina.zeros(2), persistent=False)

    def forward(self, x):
        return self.bn(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(4, 2, bias=False))

    def forward(self, x):
        return self.head(self.block(x))


KEYS = ["block.scale", "block.steps", "block.fc.weight", "block.fc.bias", "block.bn.weight", "block.bn.bias",
        "block.bn.running_mean", "block.bn.running_var", "block.bn.num_batches_tracked", "head.1.weight"]


def test_registration_and_traversal():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["block.scale", "block.fc.weight", "block.fc.bias",
                                                      "block.bn.weight", "block.bn.bias", "head.1.weight"]
    assert [n for n, _ in net.named_buffers()] == ["block.steps", "block.cache", "block.bn.running_mean",
                                                   "block.bn.running_var", "block.bn.num_batches_tracked"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.fc", "block.bn", "head", "head.0", "head.1"]
    assert [n for n, _ in net.named_children()] == ["block", "head"]
    assert len(list(net.parameters(recurse=False))) == 0
    assert net.get_submodule("head.1") is net.head[1]
    assert net.get_parameter("block.fc.bias") is net.block.fc.bias
    with pytest.raises(AttributeError, match="no submodule 'nope'"):
        net.get_submodule("block.nope")
    assert "fc" in dir(net.block)


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, lin)
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_setattr_rules():
    m = nn.Module()
    m.p = nn.Parameter(lamina.zeros(2))
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'p'"):
        m.p = lamina.zeros(2)
    m.p = None
    assert "p" in m._parameters and m.p is None
    m.sub = nn.ReLU()
    with pytest.raises(TypeError, match="child module 'sub'"):
        m.sub = 3
    m.register_buffer("b", lamina.zeros(1))
    with pytest.raises(TypeError, match="buffer 'b'"):
        m.b = 3
    m.b = lamina.ones(1)
    assert to_np(m.b).tolist() == [1.0]
    del m.b
    assert "b" not in m._buffers
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", lamina.zeros(1))
    with pytest.raises(TypeError, match="Parameter or None required"):
        m.register_parameter("q", lamina.zeros(1))
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        m.missing

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(lamina.zeros(1))
    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_state_dict_keys_and_sharing():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == KEYS
    assert not sd["block.fc.weight"].requires_grad
    sd["block.fc.bias"].fill_(3.0)  # detached, but the same memory
    assert (to_np(net.block.fc.bias) == 3).all()
    assert net.state_dict(keep_vars=True)["block.fc.bias"] is net.block.fc.bias


def test_load_state_dict_round_trip_and_numpy():
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(to_np(x), to_np(y), err_msg=k)
    p = b.block.fc.weight
    b.load_state_dict({k: to_np(v) * 0 + 1 for k, v in a.state_dict().items()})
    assert b.block.fc.weight is p and (to_np(p) == 1).all()  # parameters keep their identity


def test_load_state_dict_strict_errors():
    net = Net()
    sd = net.state_dict()
    del sd["head.1.weight"]
    sd["extra.w"] = lamina.zeros(1)
    sd["block.fc.bias"] = lamina.zeros(5)
    with pytest.raises(RuntimeError) as e:
        net.load_state_dict(sd)
    msg = str(e.value)
    assert 'Missing key(s) in state_dict: "head.1.weight"' in msg
    assert 'Unexpected key(s) in state_dict: "extra.w"' in msg
    assert "size mismatch for block.fc.bias: copying a param with shape (5,)" in msg and "(4,)" in msg
    del sd["block.fc.bias"]
    before = to_np(net.block.fc.weight).copy()
    sd["block.fc.weight"] = lamina.ones(4, 3)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["block.fc.bias", "head.1.weight"] and result.unexpected_keys == ["extra.w"]
    assert (to_np(net.block.fc.weight) == 1).all() and not (before == 1).all()
    with pytest.raises(TypeError, match="mapping"):
        net.load_state_dict([1, 2])


def test_load_state_dict_assign():
    net = nn.Linear(2, 3)
    w = lamina.ones(3, 2)
    net.load_state_dict({"weight": w, "bias": lamina.zeros(3)}, assign=True)
    assert isinstance(net.weight, nn.Parameter) and net.weight.requires_grad
    assert net.weight.data_ptr() == w.data_ptr()


def test_load_torch_state_dict_gives_the_same_outputs():
    torch = pytest.importorskip("torch")

    class TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.block = torch.nn.Module()
            self.block.scale = torch.nn.Parameter(torch.randn(4))
            self.block.register_buffer("steps", torch.zeros(1))
            self.block.fc = torch.nn.Linear(3, 4)
            self.block.bn = torch.nn.BatchNorm1d(4)
            self.head = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(4, 2, bias=False))

        def forward(self, x):
            b = self.block
            return self.head(b.bn(b.fc(x)) * b.scale)

    tnet, net = TorchNet(), Net()
    tnet.train()
    tnet(torch.randn(8, 3))  # moves the running statistics away from their defaults
    tnet.eval()
    net.load_state_dict(tnet.state_dict())
    net.eval()
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(to_np(net(lamina.tensor(x))), tnet(torch.tensor(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    assert int(net.block.bn.num_batches_tracked.item()) == 1


def test_to_dtype_keeps_parameter_identity_and_integer_buffers():
    net = Net()
    p = net.block.fc.weight
    net.block.fc.weight.grad = lamina.ones(4, 3)
    assert net.to(lamina.float64) is net
    assert net.block.fc.weight is p and p.dtype == lamina.float64 and p.requires_grad
    assert p.grad.dtype == lamina.float64
    assert net.block.bn.running_mean.dtype == lamina.float64
    assert net.block.bn.num_batches_tracked.dtype == lamina.int64
    net.float()
    assert p.dtype == lamina.float32
    net.to("cpu", dtype=lamina.float64)
    assert p.dtype == lamina.float64
    net.to(lamina.zeros(1))
    assert p.dtype == lamina.float32
    with pytest.raises(TypeError, match="floating point"):
        net.to(lamina.int64)
    with pytest.raises(TypeError, match="unexpected"):
        net.to(foo=1)


def test_train_eval_requires_grad_zero_grad():
    net = Net()
    assert net.training and net.block.bn.training
    assert net.eval() is net and not net.block.bn.training and not net.head[0].training
    net.train()
    assert net.block.bn.training
    with pytest.raises(ValueError, match="boolean"):
        net.train("yes")
    net(lamina.randn(5, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all((to_np(p.grad) == 0).all() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_apply_visits_children_first():
    seen = []
    Net().apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "BatchNorm1d", "Block", "ReLU", "Linear", "Sequential", "Net"]


def test_hooks():
    lin = nn.Linear(2, 2)
    calls = []
    h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    h2 = lin.register_forward_hook(lambda m, args, out: calls.append(tuple(out.shape)) or out + 1)
    out = lin(lamina.ones(3, 2))
    np.testing.assert_allclose(to_np(out), np.broadcast_to(to_np(lin.bias) + 1, (3, 2)), rtol=1e-6)
    assert calls == [(3, 2)]
    h1.remove()
    h2.remove()
    h2.remove()  # removing twice is harmless
    with lin.register_forward_hook(lambda m, a, o: calls.append("ctx")):
        lin(lamina.ones(1, 2))
    lin(lamina.ones(1, 2))
    assert calls == [(3, 2), "ctx"]


def test_repr_tree():
    assert repr(Net()) == (
        "Net(\n"
        "  (block): Block(\n"
        "    (fc): Linear(in_features=3, out_features=4, bias=True)\n"
        "    (bn): BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)\n"
        "  )\n"
        "  (head): Sequential(\n"
        "    (0): ReLU()\n"
        "    (1): Linear(in_features=4, out_features=2, bias=False)\n"
        "  )\n"
        ")")


def test_repr_matches_torch_for_layers():
    torch = pytest.importorskip("torch")
    for name, args, kw in (("Linear", (3, 4), {}), ("Conv2d", (3, 8, 3), {"stride": 2, "padding": 1}),
                           ("Conv2d", (3, 8, 3), {"groups": 1, "bias": False, "padding_mode": "reflect"}),
                           ("BatchNorm2d", (4,), {}), ("LayerNorm", (5,), {}), ("GroupNorm", (2, 4), {}),
                           ("Embedding", (10, 3), {"padding_idx": 0}), ("Dropout", (0.2,), {}),
                           ("GELU", ("tanh",), {}), ("Softmax", (1,), {}), ("LeakyReLU", (0.1,), {}),
                           ("Flatten", (), {}), ("ConvTranspose2d", (4, 2, 3), {"stride": 2}),
                           ("BatchNorm1d", (4,), {"affine": False}), ("LayerNorm", (5,), {"bias": False}),
                           ("RMSNorm", (4,), {}), ("Conv2d", (3, 8, 3), {"padding": "same"}), ("MaxPool2d", (2,), {}),
                           ("AvgPool2d", (2,), {}), ("AdaptiveAvgPool2d", (2,), {}), ("MSELoss", (), {"reduction": "sum"}),
                           ("ELU", (), {"inplace": True}), ("SiLU", (), {"inplace": True}), ("Softplus", (), {}),
                           ("Bilinear", (2, 3, 4), {}), ("Unflatten", (1, (2, 2)), {}), ("Dropout1d", (), {}),
                           ("MaxPool1d", (3,), {}), ("LogSoftmax", (1,), {}), ("KLDivLoss", (), {}),
                           ("BCEWithLogitsLoss", (), {}), ("Identity", (), {})):
        assert repr(getattr(nn, name)(*args, **kw)) == repr(getattr(torch.nn, name)(*args, **kw)), name


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        np.testing.assert_array_equal(to_np(sa[k]), to_np(sb[k]), err_msg=k)


def test_deepcopy_and_pickle():
    net = Net()
    for clone in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        _same_state(net, clone)
        assert clone.block.fc.weight is not net.block.fc.weight
        assert isinstance(clone.block.fc.weight, nn.Parameter) and clone.block.fc.weight.requires_grad
        with lamina.no_grad():
            clone.block.fc.weight.fill_(0.5)
        assert not (to_np(net.block.fc.weight) == 0.5).all()
        x = lamina.randn(4, 3)
        net.eval()
        clone.eval()
        assert not np.allclose(to_np(net(x)), to_np(clone(x)))


# ---- containers
def test_sequential():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c and list(seq) == [a, b, c]
    assert isinstance(seq[1:], nn.Sequential) and list(seq[1:]) == [b, c]
    x = lamina.randn(4, 2)
    np.testing.assert_allclose(to_np(seq(x)), to_np(c(b(a(x)))))
    named = nn.Sequential(OrderedDict([("first", a), ("act", b)]))
    assert [n for n, _ in named.named_children()] == ["first", "act"]
    seq[1] = nn.Tanh()
    assert isinstance(seq[1], nn.Tanh)
    del seq[1]
    assert len(seq) == 2
    seq.append(nn.Sigmoid()).extend([nn.Identity()])
    assert len(seq) == 4
    with pytest.raises(IndexError, match="out of range"):
        seq[10]
    with pytest.raises(TypeError, match="integers or slices"):
        seq["a"]


def test_module_list():
    ml = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    assert len(ml) == 3 and len(list(ml.parameters())) == 6
    ml.append(nn.ReLU())
    ml.insert(0, nn.Tanh())
    assert isinstance(ml[0], nn.Tanh) and isinstance(ml[-1], nn.ReLU)
    assert [n for n, _ in ml.named_children()] == ["0", "1", "2", "3", "4"]
    del ml[0]
    assert isinstance(ml[0], nn.Linear) and len(ml) == 4
    ml += [nn.Sigmoid()]
    assert len(ml[1:3]) == 2 and len(ml) == 5
    with pytest.raises(NotImplementedError, match="container"):
        ml(lamina.zeros(1))


def test_module_dict_parameter_list_dict():
    md = nn.ModuleDict({"a": nn.Linear(1, 2), "b": nn.ReLU()})
    assert list(md.keys()) == ["a", "b"] and "a" in md and len(md) == 2
    md["c"] = nn.Tanh()
    assert md.pop("b") is not None and list(md) == ["a", "c"]
    md.update([("d", nn.Sigmoid())])
    assert list(md) == ["a", "c", "d"]
    pl = nn.ParameterList([lamina.zeros(2), nn.Parameter(lamina.ones(3))])
    assert len(pl) == 2 and all(isinstance(p, nn.Parameter) for p in pl) and pl[1].shape == (3,)
    pl.append(lamina.zeros(1))
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    pd = nn.ParameterDict({"w": lamina.zeros(2)})
    pd["b"] = lamina.ones(1)
    assert list(pd) == ["w", "b"] and isinstance(pd["b"], nn.Parameter) and "w" in pd
    holder = nn.Module()
    holder.plist, holder.pdict = pl, pd
    assert list(holder.state_dict()) == ["plist.0", "plist.1", "plist.2", "pdict.w", "pdict.b"]


def test_parameter():
    p = nn.Parameter(lamina.zeros(2))
    assert p.requires_grad and p.is_leaf and repr(p).startswith("Parameter containing:")
    assert not nn.Parameter(lamina.zeros(1), requires_grad=False).requires_grad
    assert type(p * 2) is lamina.Tensor
    with pytest.raises(TypeError, match="lamina.Tensor"):
        nn.Parameter(np.zeros(2))

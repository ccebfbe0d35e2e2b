"""Tensor creation, dtypes and conversions, repr, views, and the shape/index ops with their gradients."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lamina
from lamina.autograd import gradcheck


def np_of(t):
    return t.detach().numpy()


def assert_same(t, ref):
    ref = np.asarray(ref)
    assert tuple(t.shape) == ref.shape
    np.testing.assert_array_equal(np_of(t), ref)


def share_storage(a, b):
    return a._t.storage_ptr == b._t.storage_ptr


# ---------------------------------------------------------------- creation
@pytest.mark.parametrize("data, dtype, shape", [
    ([1.0, 2.0], lamina.float32, (2,)),
    ([1, 2.5], lamina.float32, (2,)),
    ([[1, 2], [3, 4]], lamina.int64, (2, 2)),
    ([True, False], lamina.bool, (2,)),
    (3.5, lamina.float32, ()),
    (7, lamina.int64, ()),
    (True, lamina.bool, ()),
    ([], lamina.float32, (0,)),
    (np.array([1.0], dtype=np.float64), lamina.float64, (1,)),
    (np.array([1, 2], dtype=np.int32), lamina.int32, (2,)),
    (np.array([1, 2], dtype=np.int16), lamina.int64, (2,)),
    (np.array([1, 2], dtype=np.float16), lamina.float16, (2,)),
    (np.float64(2.0), lamina.float64, ()),
])
def test_tensor_dtype_inference(data, dtype, shape):
    t = lamina.tensor(data)
    assert t.dtype == dtype and t.shape == shape
    np.testing.assert_array_equal(t.numpy(), np.asarray(data))


def test_tensor_copies_its_input():
    a = np.arange(3.0)
    t = lamina.tensor(a)
    a[0] = 5
    assert t[0].item() == 0.0
    u = lamina.tensor(t)
    u[1] = 9
    assert t[1].item() == 1.0


def test_tensor_from_non_contiguous_array_and_explicit_dtype():
    a = np.arange(12.0).reshape(3, 4).T
    assert_same(lamina.tensor(a), a)
    t = lamina.tensor([1.7, -2.2], dtype=lamina.int64)
    assert t.dtype == lamina.int64 and t.tolist() == [1, -2]
    assert lamina.tensor([1, 2], dtype=lamina.bfloat16).tolist() == [1.0, 2.0]
    assert lamina.tensor(1.0, requires_grad=True).requires_grad


@pytest.mark.parametrize("fn, value", [(lamina.zeros, 0.0), (lamina.ones, 1.0), (lamina.empty, 0.0)])
def test_constant_creators(fn, value):
    for args in [(2, 3), ((2, 3),), ([2, 3],)]:
        t = fn(*args)
        assert t.shape == (2, 3) and t.dtype == lamina.float32
        assert (t.numpy() == value).all()
    assert fn().shape == ()
    assert fn(0, 4).shape == (0, 4)
    assert fn(3, dtype=lamina.int32).dtype == lamina.int32


def test_full():
    assert lamina.full((2, 2), 7).dtype == lamina.int64
    assert lamina.full((2,), 7.5).tolist() == [7.5, 7.5]
    assert lamina.full((2,), True).dtype == lamina.bool
    assert lamina.full(3, 2.0).shape == (3,)
    assert lamina.full((1,), 2 ** 60 + 1).item() == 2 ** 60 + 1  # exact beyond 2**53
    assert lamina.full((2,), 1.5, dtype=lamina.float64).dtype == lamina.float64


def test_like_creators():
    x = lamina.zeros(2, 3, dtype=lamina.int32)
    for fn, v in [(lamina.zeros_like, 0), (lamina.ones_like, 1), (lamina.empty_like, 0)]:
        y = fn(x)
        assert y.shape == x.shape and y.dtype == lamina.int32 and (y.numpy() == v).all()
    assert lamina.full_like(x, 4).tolist() == [[4] * 3] * 2
    assert lamina.ones_like(x, dtype=lamina.float64).dtype == lamina.float64
    r = lamina.rand_like(lamina.zeros(5, 5, dtype=lamina.float64))
    assert r.dtype == lamina.float64 and r.shape == (5, 5)
    assert lamina.randn_like(lamina.zeros(4)).shape == (4,)


@pytest.mark.parametrize("args", [(5,), (2, 9), (2, 9, 3), (10, 0, -3), (0, 1, 0.25), (5, 0, -1.5), (1, 2.5, 0.5),
                                  (0, 1, 0.1), (-3, 3), (3, 3)])
def test_arange(args):
    t = lamina.arange(*args)
    ints = all(isinstance(a, int) for a in args)
    assert t.dtype == (lamina.int64 if ints else lamina.float32)
    np.testing.assert_allclose(t.numpy(), np.arange(*args, dtype=np.float64), rtol=1e-6)


def test_arange_matches_torch_lengths():
    torch = pytest.importorskip("torch")
    for args in [(0, 1, 0.1), (1, 2, 0.3), (-1, 1, 0.2), (10, 0, -0.7)]:
        assert lamina.arange(*args).numel() == torch.arange(*args).numel()


def test_linspace():
    t = lamina.linspace(0, 0.3, 7)
    assert t.dtype == lamina.float32 and t.numel() == 7
    assert t[0].item() == 0.0 and t[-1].item() == np.float32(0.3)  # the end is exact
    np.testing.assert_allclose(t.numpy(), np.linspace(0, 0.3, 7), rtol=1e-6)
    d = lamina.linspace(-1, 1, 1001, dtype=lamina.float64)
    assert d[-1].item() == 1.0 and d[500].item() == pytest.approx(0.0, abs=1e-15)
    assert lamina.linspace(2, 3, 1).tolist() == [2.0]
    assert lamina.linspace(2, 3, 0).shape == (0,)
    assert lamina.linspace(5, 1, 5).tolist() == [5.0, 4.0, 3.0, 2.0, 1.0]


def test_eye():
    assert_same(lamina.eye(3), np.eye(3, dtype=np.float32))
    assert_same(lamina.eye(2, 4), np.eye(2, 4, dtype=np.float32))
    assert_same(lamina.eye(4, 2, dtype=lamina.int64), np.eye(4, 2, dtype=np.int64))
    assert lamina.eye(0).shape == (0, 0)


def test_random_reproducible_with_manual_seed():
    for fn in [lambda: lamina.rand(7), lambda: lamina.randn(3, 3), lambda: lamina.randint(0, 10, (9,)),
               lambda: lamina.normal(1.0, 2.0, (5,))]:
        lamina.manual_seed(123)
        a, b = fn(), fn()
        lamina.manual_seed(123)
        c, d = fn(), fn()
        assert a.tolist() == c.tolist() and b.tolist() == d.tolist()
        assert a.tolist() != b.tolist()
    lamina.manual_seed(1)
    assert lamina.initial_seed() == 1


def test_rng_state_round_trip():
    lamina.manual_seed(7)
    lamina.rand(3)
    state = lamina.get_rng_state()
    a = lamina.randn(5)
    lamina.set_rng_state(state)
    assert lamina.randn(5).tolist() == a.tolist()


def test_rand_statistics():
    lamina.manual_seed(0)
    u = lamina.rand(200_000, dtype=lamina.float64).numpy()
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01
    counts = np.histogram(u, bins=10, range=(0, 1))[0]
    assert counts.min() > 0.95 * 20_000 and counts.max() < 1.05 * 20_000


def test_randn_and_normal_statistics():
    lamina.manual_seed(0)
    z = lamina.randn(200_000).numpy().astype(np.float64)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs((np.abs(z) < 1).mean() - 0.6827) < 0.005
    assert abs(np.corrcoef(z[0::2], z[1::2])[0, 1]) < 0.01  # Box-Muller partners are independent
    n = lamina.normal(2.0, 3.0, (100_000,)).numpy()
    assert abs(n.mean() - 2) < 0.05 and abs(n.std() - 3) < 0.05
    m = lamina.normal(lamina.tensor([0.0, 100.0]), lamina.tensor([1.0, 0.0]))
    assert m.shape == (2,) and m[1].item() == 100.0


def test_randint_statistics():
    lamina.manual_seed(0)
    r = lamina.randint(-2, 3, (50_000,))
    assert r.dtype == lamina.int64
    counts = np.bincount(r.numpy() + 2)
    assert len(counts) == 5 and counts.min() > 9_500 and counts.max() < 10_500
    h = lamina.randint(4, (1000,))  # randint(high, size)
    assert h.numpy().min() == 0 and h.numpy().max() == 3


def test_random_dtypes():
    assert lamina.rand(3, dtype=lamina.float64).dtype == lamina.float64
    b = lamina.rand(1000, dtype=lamina.bfloat16)
    assert b.dtype == lamina.bfloat16 and 0 <= b.float().numpy().min() and b.float().numpy().max() <= 1
    assert lamina.rand(0).shape == (0,)


# ---------------------------------------------------------------- dtypes and conversions
ALL_DTYPES = [lamina.bool, lamina.int32, lamina.int64, lamina.float16, lamina.bfloat16, lamina.float32, lamina.float64]


def test_dtype_attributes():
    assert lamina.zeros(1).dtype == lamina.float32
    assert [d.itemsize for d in ALL_DTYPES] == [1, 4, 8, 2, 2, 4, 8]
    assert lamina.float == lamina.float32 and lamina.long == lamina.int64 and lamina.half == lamina.float16
    for d in ALL_DTYPES:
        t = lamina.zeros(2, dtype=d)
        assert t.dtype == d and t.element_size() == d.itemsize
        assert t.is_floating_point() == d.is_floating_point


@pytest.mark.parametrize("src", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("dst", ALL_DTYPES, ids=str)
def test_to_dtype_round_trip_of_small_integers(src, dst):
    vals = [0, 1, 1, 0] if lamina.bool in (src, dst) else [0, 1, -3, 100]
    t = lamina.tensor(vals, dtype=src).to(dst)
    assert t.dtype == dst
    assert t.to(src).tolist() == lamina.tensor(vals, dtype=src).tolist()


def test_to_returns_self_when_nothing_changes():
    t = lamina.zeros(2)
    assert t.to(lamina.float32) is t and t.float() is t
    assert t.to(lamina.float32, copy=True) is not t
    assert t.double().dtype == lamina.float64 and t.long().dtype == lamina.int64
    assert t.half().dtype == lamina.float16 and t.int().dtype == lamina.int32 and t.bool().dtype == lamina.bool
    assert t.to(lamina.ones(1, dtype=lamina.int32)).dtype == lamina.int32
    assert t.to(dtype=lamina.bfloat16).dtype == lamina.bfloat16
    assert t.type_as(lamina.ones(1, dtype=lamina.float64)).dtype == lamina.float64


def test_float_to_int_truncates_and_bool_is_nonzero():
    assert lamina.tensor([1.7, -1.7, 2.5]).long().tolist() == [1, -1, 2]
    assert lamina.tensor([0, 2, -1]).bool().tolist() == [False, True, True]
    assert lamina.tensor([0.0, 0.1, float("nan")]).bool().tolist() == [False, True, True]
    assert lamina.tensor([True, False]).float().tolist() == [1.0, 0.0]


HALF_VALUES = np.array([1.0, 1.00390625, 1.005859375, 1.0078125 + 2 ** -9, 3.14159, -2.71828, 65504, 65520, 70000,
                        1e-8, 6e-8, 1e-5, 1e38, 3.4e38, np.inf, -np.inf, 0.1, -0.0], dtype=np.float32)


@pytest.mark.parametrize("name", ["bfloat16", "float16"])
def test_half_rounding_matches_torch(name):
    torch = pytest.importorskip("torch")
    ours = lamina.from_numpy(HALF_VALUES).to(getattr(lamina, name)).float().numpy()
    ref = torch.from_numpy(HALF_VALUES).to(getattr(torch, name)).float().numpy()
    np.testing.assert_array_equal(ours, ref)
    assert np.array_equal(np.signbit(ours), np.signbit(ref))
    f64 = np.array([1 + 2 ** -30, 1 / 3, -1e-300], dtype=np.float64)
    np.testing.assert_array_equal(lamina.from_numpy(f64).to(getattr(lamina, name)).double().numpy(),
                                  torch.from_numpy(f64).to(getattr(torch, name)).double().numpy())


def test_float16_rounding_matches_numpy():
    ours = lamina.from_numpy(HALF_VALUES).half().numpy()
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(ours, HALF_VALUES.astype(np.float16))


def test_half_nan_stays_nan():
    nan = np.array([np.nan], dtype=np.float32)
    assert np.isnan(lamina.from_numpy(nan).bfloat16().float().item())
    assert np.isnan(lamina.from_numpy(nan).half().float().item())


def test_item_and_tolist():
    assert lamina.tensor([2.5]).item() == 2.5
    assert type(lamina.tensor(3).item()) is int and type(lamina.tensor(True).item()) is bool
    assert type(lamina.tensor(3.0).item()) is float
    assert lamina.tensor([0.1], dtype=lamina.float16).item() == float(np.float16(0.1))
    assert lamina.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert lamina.tensor(1.5).tolist() == 1.5
    assert lamina.tensor([1.5], dtype=lamina.bfloat16).tolist() == [1.5]
    assert lamina.zeros(2, 0).tolist() == [[], []]
    assert float(lamina.tensor([2.0])) == 2.0 and int(lamina.tensor(3)) == 3
    assert [1, 2, 3][lamina.tensor(1)] == 2


# ---------------------------------------------------------------- repr
REPR_CASES = [
    [1.0, 2.0], [[1, 2], [3, 4]], [True, False], [0.1, 100.5], [1e-5, 1.0], [1e10, 1.0], 3.5, 7, True, [], [[]],
    [1.5, float("nan"), float("inf")], [-1.0, 2.0], [123456.0, 1.0], [0.0, 0.0], [float("nan")], [-0.5, 0.25],
    [[1.5, -2.25, 3.0], [4.0, 5.0, -6.125]], np.arange(30.0).tolist(), np.arange(60).reshape(3, 4, 5).tolist(),
    (np.arange(24.0).reshape(2, 3, 4) / 7).tolist(),
]


@pytest.mark.parametrize("data", REPR_CASES, ids=lambda d: str(d)[:30])
def test_repr_matches_torch(data):
    torch = pytest.importorskip("torch")
    assert repr(lamina.tensor(data)) == repr(torch.tensor(data)).replace("torch", "lamina")


@pytest.mark.parametrize("make", [
    lambda m: m.tensor([1.5, 2.25], dtype=m.float64),
    lambda m: m.tensor([1.5, 2.25], dtype=m.float16),
    lambda m: m.tensor([1.5, 2.25], dtype=m.bfloat16),
    lambda m: m.tensor([1, 2], dtype=m.int32),
    lambda m: m.zeros(2, 3, requires_grad=True),
    lambda m: m.arange(2000),
    lambda m: m.arange(3000.0).reshape(30, 100) / 3,
    lambda m: m.zeros(0, 3),
    lambda m: m.zeros(0, dtype=m.int64),
    lambda m: m.zeros(0, dtype=m.int32),
    lambda m: m.ones(40) * 1.5,
    lambda m: m.eye(3, dtype=m.float64) * 1e9,
])
def test_repr_layouts_match_torch(make):
    torch = pytest.importorskip("torch")
    assert repr(make(lamina)) == repr(make(torch)).replace("torch", "lamina")


def test_repr_of_results_names_grad_fn():
    s = repr(lamina.ones(2, requires_grad=True) * 2)
    assert s.startswith("tensor([2., 2.], grad_fn=<") and s.endswith(">)")


# ---------------------------------------------------------------- views
A = np.arange(24.0).reshape(2, 3, 4)


@pytest.mark.parametrize("op, ref", [
    (lambda x: x.reshape(4, 6), lambda a: a.reshape(4, 6)),
    (lambda x: x.view(-1, 4), lambda a: a.reshape(-1, 4)),
    (lambda x: x.view((6, 4)), lambda a: a.reshape(6, 4)),
    (lambda x: x.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1)),
    (lambda x: x.permute((1, 2, 0)), lambda a: a.transpose(1, 2, 0)),
    (lambda x: x.transpose(0, 2), lambda a: a.swapaxes(0, 2)),
    (lambda x: x.T, lambda a: a.T),
    (lambda x: x[0].t(), lambda a: a[0].T),
    (lambda x: x.mT, lambda a: a.swapaxes(-1, -2)),
    (lambda x: x.unsqueeze(1), lambda a: a[:, None]),
    (lambda x: x.unsqueeze(-1), lambda a: a[..., None]),
    (lambda x: x[:, :1].squeeze(), lambda a: a[:, 0]),
    (lambda x: x[:1, :, :1].squeeze(0), lambda a: a[0, :, :1]),
    (lambda x: x[:1, :, :1].squeeze((0, 2)), lambda a: a[0, :, 0]),
    (lambda x: x[:1].squeeze(1), lambda a: a[:1]),
    (lambda x: x[:, :1].expand(2, 5, 4), lambda a: np.broadcast_to(a[:, :1], (2, 5, 4))),
    (lambda x: x[0, 0].expand(3, -1), lambda a: np.broadcast_to(a[0, 0], (3, 4))),
    (lambda x: x.flatten(), lambda a: a.reshape(-1)),
    (lambda x: x.flatten(1), lambda a: a.reshape(2, 12)),
    (lambda x: x.flatten(0, 1), lambda a: a.reshape(6, 4)),
    (lambda x: x.unflatten(2, (2, 2)), lambda a: a.reshape(2, 3, 2, 2)),
    (lambda x: x[:, ::2, 1::2], lambda a: a[:, ::2, 1::2]),
    (lambda x: x.narrow(2, 1, 2), lambda a: a[:, :, 1:3]),
    (lambda x: x.narrow(-1, -2, 2), lambda a: a[..., 2:]),
    (lambda x: x.flip(0), lambda a: a[::-1]),
    (lambda x: x.flip(0, 2), lambda a: a[::-1, :, ::-1]),
    (lambda x: lamina.flip(x, (-1,)), lambda a: a[..., ::-1]),
    (lambda x: x.movedim(0, -1), lambda a: np.moveaxis(a, 0, -1)),
    (lambda x: x.T.reshape(4, 3, 2), lambda a: a.T),  # already that shape: a view
    (lambda x: x.transpose(1, 2).reshape(2, 2, 2, 3), lambda a: a.swapaxes(1, 2).reshape(2, 2, 2, 3)),
], ids=range(30))
def test_views_share_storage(op, ref):
    x = lamina.tensor(A)
    v = op(x)
    assert_same(v, ref(A))
    assert share_storage(v, x)


def test_view_data_ptr_and_writes():
    x = lamina.tensor(A)
    assert x.view(4, 6).data_ptr() == x.data_ptr()
    assert x[1].data_ptr() == x.data_ptr() + 12 * 8
    assert x.flip(0).data_ptr() == x.data_ptr() + 12 * 8
    x.T[3, 2, 1] = -1.0  # writes through a view land in the base
    assert x[1, 2, 3].item() == -1.0
    x.view(-1)[0] = -2.0
    assert x[0, 0, 0].item() == -2.0


def test_view_needs_compatible_strides_but_reshape_copies():
    x = lamina.tensor(A).transpose(0, 1)
    with pytest.raises(lamina.ShapeError, match="view"):
        x.view(-1)
    r = x.reshape(-1)
    assert_same(r, A.swapaxes(0, 1).reshape(-1))
    assert not share_storage(r, x)


def test_contiguous():
    x = lamina.tensor(A)
    assert x.contiguous() is x
    t = x.T
    assert not t.is_contiguous()
    c = t.contiguous()
    assert c.is_contiguous() and c.stride() == (6, 2, 1) and not share_storage(c, x)
    assert_same(c, A.T)
    assert lamina.zeros(0, 3).T.contiguous().shape == (3, 0)


def test_split_chunk_unbind():
    x = lamina.tensor(A)
    parts = x.split(3, dim=2)
    assert [tuple(p.shape) for p in parts] == [(2, 3, 3), (2, 3, 1)]
    for p, r in zip(parts, np.split(A, [3], axis=2)):
        assert_same(p, r) and share_storage(p, x)
    parts = x.split([1, 2], dim=1)
    assert_same(parts[1], A[:, 1:])
    assert [p.shape[0] for p in lamina.zeros(5).chunk(4)] == [2, 2, 1]
    assert [p.shape[2] for p in x.chunk(3, 2)] == [2, 2]
    for i, u in enumerate(x.unbind(1)):
        assert_same(u, A[:, i])
        assert share_storage(u, x)
    assert len(lamina.zeros(0, 2).unbind(0)) == 0


@st.composite
def view_case(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    perm = draw(st.permutations(range(len(shape))))
    flips = draw(st.lists(st.integers(0, len(shape) - 1), max_size=2, unique=True))
    key = tuple(slice(draw(st.integers(0, n - 1)), None, draw(st.integers(1, 2))) for n in shape)
    return shape, list(perm), flips, key


@settings(max_examples=100, deadline=None)
@given(view_case())
def test_random_view_chains_match_numpy(case):
    shape, perm, flips, key = case
    a = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    x = lamina.tensor(a)
    v = x[key].permute(perm)
    r = a[key].transpose(perm)
    if flips:
        v = v.flip(flips)
        r = np.flip(r, flips)
    assert_same(v, r)
    assert share_storage(v, x)
    assert_same(v.reshape(-1), r.reshape(-1))
    assert_same(v.contiguous(), r)
    assert_same(v.unsqueeze(0).squeeze(0), r)
    if v.ndim >= 2:
        assert_same(v.flatten(0, 1), r.reshape((-1,) + r.shape[2:]))


# ---------------------------------------------------------------- joining, triangles, selection
def test_cat_and_stack():
    a, b = lamina.zeros(2, 3), lamina.ones(2, 1)
    assert_same(lamina.cat([a, b], -1), np.concatenate([np.zeros((2, 3)), np.ones((2, 1))], -1))
    assert_same(lamina.cat((a, a, a)), np.zeros((6, 3)))
    assert lamina.cat([lamina.zeros(0), a]).shape == (2, 3)  # PyTorch's 1-d empty rule
    s = lamina.stack([a, a + 1], -1)
    assert_same(s, np.stack([np.zeros((2, 3)), np.ones((2, 3))], -1))
    assert lamina.stack([lamina.tensor(1.0), lamina.tensor(2.0)]).tolist() == [1.0, 2.0]
    x = lamina.tensor(A).T
    assert_same(lamina.cat([x, x], 1), np.concatenate([A.T, A.T], 1))


@pytest.mark.parametrize("a, b, dtype", [
    (lamina.int64, lamina.float32, lamina.float32),
    (lamina.int32, lamina.int64, lamina.int64),
    (lamina.bool, lamina.float16, lamina.float16),
    (lamina.float32, lamina.float64, lamina.float64),
    (lamina.bool, lamina.int32, lamina.int32),
    (lamina.float16, lamina.bfloat16, lamina.float32),
])
def test_cat_and_stack_promote(a, b, dtype):
    x, y = lamina.ones(2, dtype=a), lamina.ones(2, dtype=b)
    assert lamina.cat([x, y]).dtype == dtype and lamina.stack([x, y]).dtype == dtype
    assert lamina.cat([x, y]).tolist() == [1] * 4


@pytest.mark.parametrize("k", [-3, -1, 0, 1, 2, 5])
def test_tril_triu(k):
    a = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4) + 1
    assert_same(lamina.tril(lamina.tensor(a), k), np.tril(a, k))
    assert_same(lamina.tensor(a).triu(k), np.triu(a, k))
    at = a.swapaxes(1, 2)
    assert_same(lamina.tensor(a).transpose(1, 2).tril(k), np.tril(at, k))
    assert_same(lamina.tensor(a).long().triu(diagonal=k), np.triu(a, k).astype(np.int64))


def test_where_and_masked_fill():
    c = lamina.tensor([True, False, True])
    assert lamina.where(c, lamina.tensor([1.0, 2.0, 3.0]), 0).tolist() == [1.0, 0.0, 3.0]
    assert lamina.where(c, 1, 0).dtype == lamina.int64
    w = lamina.where(c[:, None], lamina.ones(3, 1), lamina.zeros(1, 2, dtype=lamina.float64))
    assert w.shape == (3, 2) and w.dtype == lamina.float64
    assert lamina.where(c)[0].tolist() == [0, 2]
    x = lamina.tensor([1.0, 2.0, 3.0])
    assert x.masked_fill(c, -1.0).tolist() == [-1.0, 2.0, -1.0]
    assert x.tolist() == [1.0, 2.0, 3.0]
    m = lamina.tensor(A).masked_fill(lamina.tensor(A % 5 == 0), 0.5)
    assert_same(m, np.where(A % 5 == 0, 0.5, A))
    x.masked_fill_(c, 9.0)
    assert x.tolist() == [9.0, 2.0, 9.0]


def test_gather_scatter_index_select(rng):
    a = rng.standard_normal((3, 5))
    idx = rng.integers(0, 5, (3, 4))
    assert_same(lamina.tensor(a).gather(1, lamina.tensor(idx)), np.take_along_axis(a, idx, 1))
    idx0 = rng.integers(0, 3, (2, 5))
    assert_same(lamina.tensor(a).gather(0, lamina.tensor(idx0)), np.take_along_axis(a, idx0, 0))
    sel = np.array([4, 0, 4])
    assert_same(lamina.tensor(a).index_select(1, lamina.tensor(sel)), a[:, sel])
    assert_same(lamina.tensor(a).T.index_select(0, lamina.tensor(sel)), a.T[sel])
    # scatter_add accumulates duplicates
    src = rng.standard_normal((3, 4))
    ref = a.copy()
    for i in range(3):
        for j in range(4):
            ref[i, idx[i, j]] += src[i, j]
    np.testing.assert_allclose(lamina.tensor(a).scatter_add(1, lamina.tensor(idx), lamina.tensor(src)).numpy(), ref)
    # scatter writes (unique indices per row so the result is defined)
    perm = np.stack([rng.permutation(5)[:4] for _ in range(3)])
    ref = a.copy()
    np.put_along_axis(ref, perm, src, 1)
    assert_same(lamina.tensor(a).scatter(1, lamina.tensor(perm), lamina.tensor(src)), ref)
    assert lamina.zeros(2, 3).scatter(1, lamina.tensor([[2], [0]]), value=7.0).tolist() == [[0, 0, 7], [7, 0, 0]]


def test_one_hot_and_nonzero():
    from lamina.nn.functional import one_hot
    oh = one_hot(lamina.tensor([0, 2, 1]), 4)
    assert oh.dtype == lamina.int64
    assert_same(oh, np.eye(4, dtype=np.int64)[[0, 2, 1]])
    assert one_hot(lamina.tensor([[1], [3]])).shape == (2, 1, 4)
    a = np.array([[0, 1, 0], [2, 0, 3]])
    assert_same(lamina.tensor(a).nonzero(), np.argwhere(a))
    rows, cols = lamina.tensor(a).nonzero(as_tuple=True)
    assert rows.tolist() == [0, 1, 1] and cols.tolist() == [1, 0, 2]
    assert lamina.tensor(5).nonzero().shape == (1, 0)
    assert lamina.zeros(0, 3).nonzero().shape == (0, 2)
    assert lamina.tensor([0.0, 0.5, -1.0]).nonzero().tolist() == [[1], [2]]


# ---------------------------------------------------------------- gradients
GRAD_CASES = {
    "reshape": lambda x: x.reshape(4, 3),
    "permute": lambda x: x.permute(1, 0).reshape(-1) * lamina.arange(12.0, dtype=lamina.float64),
    "T": lambda x: x.T * 2,
    "squeeze": lambda x: x.unsqueeze(0).unsqueeze(-1).squeeze(),
    "expand": lambda x: x[:, :1].expand(3, 5),
    "flip": lambda x: x.flip(0, 1) * lamina.arange(12.0, dtype=lamina.float64).reshape(3, 4),
    "slice": lambda x: x[::2, 1::2],
    "narrow": lambda x: x.narrow(1, 1, 2),
    "split": lambda x: x.split([1, 3], 1)[1] * 3,
    "chunk": lambda x: x.chunk(2, 1)[0],
    "unbind": lambda x: x.unbind(1)[2],
    "contiguous": lambda x: x.T.contiguous(),
    "clone": lambda x: x.clone(),
    "cat": lambda x: lamina.cat([x, x[:, :2] * 2], 1),
    "stack": lambda x: lamina.stack([x, x.flip(0)], 0),
    "tril": lambda x: x.tril(-1),
    "triu": lambda x: x.triu(1),
    "where": lambda x: lamina.where(x > 0, x, x * 3),
    "masked_fill": lambda x: x.masked_fill(x.detach() > 0, 0.0),
    "gather": lambda x: x.gather(1, lamina.tensor([[0, 0], [3, 1], [2, 2]])),
    "index_select": lambda x: x.index_select(1, lamina.tensor([3, 0, 3])),
    "scatter_add": lambda x: x.scatter_add(1, lamina.tensor([[0, 0], [3, 1], [2, 2]]), x[:, :2] * 2),
    "scatter": lambda x: x.scatter(1, lamina.tensor([[0, 1], [3, 1], [2, 0]]), x[:, 2:] * 2),
}


@pytest.mark.parametrize("name", list(GRAD_CASES))
def test_gradcheck(name, rng):
    x = lamina.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(GRAD_CASES[name], [x])


def test_gradcheck_two_inputs(rng):
    a = lamina.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    b = lamina.tensor(rng.standard_normal((1, 3)), requires_grad=True)
    assert gradcheck(lambda a, b: lamina.cat([a, b], 0), [a, b])
    assert gradcheck(lambda a, b: lamina.where(a > 0, a, b), [a, b])
    assert gradcheck(lambda a, b: a.scatter(0, lamina.tensor([[1, 0, 1]]), b), [a, b])


def test_python_floats_keep_float64_precision_when_asked():
    x = 199.78968549123732
    assert lamina.tensor(x, dtype=lamina.float64).item() == x
    assert lamina.tensor([x, -x], dtype=lamina.float64).tolist() == [x, -x]
    assert lamina.tensor(x).dtype == lamina.float32

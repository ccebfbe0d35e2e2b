"""x[key] reads and x[key] = v writes against NumPy, and the gradient of indexing."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lamina
from lamina.autograd import gradcheck


def lt(key):
    """The same key for lamina: NumPy arrays become tensors."""
    if isinstance(key, tuple):
        return tuple(lt(k) for k in key)
    return lamina.from_numpy(key) if isinstance(key, np.ndarray) else key


def arange(*shape, dtype=np.float64):
    return np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)


def check_read(a, key):
    out = lamina.tensor(a)[lt(key)]
    ref = a[key]
    assert tuple(out.shape) == ref.shape
    np.testing.assert_array_equal(out.numpy(), ref)


def check_write(a, key, value):
    ref = a.copy()
    ref[key] = value
    x = lamina.tensor(a)
    x[lt(key)] = lt(value)
    np.testing.assert_array_equal(x.numpy(), ref)


# ---------------------------------------------------------------- reads
A4 = arange(2, 3, 4, 5)


@pytest.mark.parametrize("key", [
    0, -1, (1, -2), (-1, -1, -1, -1),
    slice(None), slice(1, None), (slice(None, None, 2), slice(None, None, 2)), (slice(-2, None), 1, slice(1, 4, 2)),
    (slice(5, 10),), (slice(2, 1),),
    None, (None, 0, None), (Ellipsis, None), (0, Ellipsis, 1), (Ellipsis,), (None, Ellipsis, None, 2),
], ids=repr)
def test_basic_keys(key):
    check_read(A4, key)


@pytest.mark.parametrize("key", [
    [0, 1, 0],
    ([1, 0], [2, 0]),
    np.array([[1, 0], [0, 0]]),
    (slice(None), [0, 2], [1, 3]),                        # adjacent: result dims stay in place
    ([0, 1], slice(None), [1, 3]),                        # not adjacent: result dims go first
    (slice(None), [0, 2], slice(None), [1, 3]),
    (np.array([[0], [1]]), slice(None), np.array([0, 2, 3])),  # broadcast to (2, 3), first
    (slice(None), np.array([[0], [2]]), np.array([1, 3])),     # broadcast, in place
    (Ellipsis, [0, 4]),
    ([1, 0], Ellipsis, [0, 4]),
    (None, [1], Ellipsis),
    ([0, 1], None, [0, 1]),
    [-1, -2],
    [],
    (slice(1, None), [2, 2, 2]),
], ids=repr)
def test_integer_array_keys(key):
    check_read(A4, key)


def test_int64_and_int32_index_tensors():
    x = lamina.tensor(A4)
    for dt in (np.int64, np.int32):
        idx = np.array([2, 0], dtype=dt)
        np.testing.assert_array_equal(x[:, idx].numpy(), A4[:, idx])


def test_integer_with_array_follows_pytorch():
    # PyTorch applies plain ints first (NumPy would count them as advanced indices).
    torch = pytest.importorskip("torch")
    x, tx = lamina.tensor(A4), torch.tensor(A4)
    for key in [(0, slice(None), [1, 2]), (1, slice(None), slice(None), [1, 2]), (slice(None), 0, slice(None), [1, 2])]:
        tk = tuple(k for k in key)
        assert tuple(x[key].shape) == tuple(tx[tk].shape)
        np.testing.assert_array_equal(x[key].numpy(), tx[tk].numpy())


@pytest.mark.parametrize("key", [
    A4 > 50,
    np.array([True, False]),
    (slice(None), np.array([True, False, True])),
    (slice(None), A4[0, :, :, 0] > 5),
    (np.array([True, False]), 1),
    (np.array([False, False]),),
    (Ellipsis, np.array([True, False, True, False, True])),
    (np.array([True, True]), slice(None), [0, 3]),
    (A4[:, :, 0, 0] > 40, [1, 2, 1]),  # three positions broadcast with three indices
], ids=lambda k: repr(getattr(k, "shape", k)))
def test_boolean_masks(key):
    check_read(A4, key)


@pytest.mark.parametrize("key", [True, False, (0, True), (Ellipsis, False)], ids=repr)
def test_boolean_scalars(key):
    check_read(A4, key)


def test_index_with_lists_and_tensors_agree():
    x = lamina.tensor(A4)
    a = x[[1, 0], :, [2, 3]]
    b = x[lamina.tensor([1, 0]), :, lamina.tensor([2, 3])]
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_basic_index_is_a_view():
    x = lamina.tensor(A4)
    v = x[1, ::2, 1:]
    v[...] = -1.0
    assert (x.numpy()[1, ::2, 1:] == -1).all()
    assert x[1].data_ptr() == x.data_ptr() + 60 * 8


def test_advanced_index_copies():
    x = lamina.tensor(A4)
    v = x[[0, 1]]
    v[...] = -1.0
    assert (x.numpy() == A4).all()


def test_index_0d_and_1d():
    s = lamina.tensor(3.0)
    assert s[()].item() == 3.0 and s[None].shape == (1,) and s[...].shape == ()
    v = lamina.tensor([1.0, 2.0, 3.0])
    assert v[-1].item() == 3.0 and v[-1].shape == ()
    assert v[lamina.tensor(1)].shape == ()


# ---------------------------------------------------------------- random basic keys vs NumPy
@st.composite
def basic_case(draw):
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=4)))
    key, d = [], 0
    ellipsis_used = False
    for _ in range(draw(st.integers(0, len(shape) + 1))):
        kind = draw(st.sampled_from(["int", "slice", "none", "ellipsis"]))
        if kind == "ellipsis" and not ellipsis_used:
            ellipsis_used = True
            key.append(Ellipsis)
            d = len(shape) - (len([k for k in key if k is not None and k is not Ellipsis]))
            continue
        if kind == "none" or d >= len(shape):
            key.append(None)
            continue
        n = shape[d]
        if kind == "int" and n > 0:
            key.append(draw(st.integers(-n, n - 1)))
        else:
            start = draw(st.none() | st.integers(-6, 6))
            stop = draw(st.none() | st.integers(-6, 6))
            step = draw(st.none() | st.integers(1, 3))
            key.append(slice(start, stop, step))
        d += 1
    return shape, tuple(key)


@settings(max_examples=150, deadline=None)
@given(basic_case())
def test_random_basic_keys(case):
    shape, key = case
    a = arange(*shape)
    try:
        ref = a[key]
    except IndexError:
        with pytest.raises(IndexError):
            lamina.tensor(a)[key]
        return
    x = lamina.tensor(a)
    out = x[key]
    assert tuple(out.shape) == ref.shape
    np.testing.assert_array_equal(out.numpy(), ref)
    if out.numel():  # a view: same storage
        assert x._t.storage_ptr == out._t.storage_ptr
    # writes through the same key
    b = a.copy()
    b[key] = -1.0
    x[key] = -1.0
    np.testing.assert_array_equal(x.numpy(), b)


@st.composite
def advanced_case(draw):
    """A shape and a key mixing slices with integer arrays (no plain ints, which PyTorch places
    differently) and at most one boolean mask."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    key = []
    bshape = draw(st.sampled_from([(), (2,), (3,), (2, 1), (1, 3)]))
    for n in shape:
        kind = draw(st.sampled_from(["slice", "array", "array", "mask"]))
        if kind == "array":
            key.append(np.array(draw(st.lists(st.integers(-n, n - 1), min_size=int(np.prod(bshape)),
                                              max_size=int(np.prod(bshape))))).reshape(bshape).astype(np.int64))
        elif kind == "mask" and not any(isinstance(k, np.ndarray) and k.dtype == bool for k in key):
            key.append(np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))))
        else:
            key.append(slice(draw(st.none() | st.integers(0, n)), None, draw(st.integers(1, 2))))
    return shape, tuple(key)


@settings(max_examples=150, deadline=None)
@given(advanced_case())
def test_random_advanced_keys(case):
    shape, key = case
    a = arange(*shape)
    try:
        ref = a[key]
    except IndexError:  # masks whose count does not broadcast with the arrays
        with pytest.raises(IndexError):
            lamina.tensor(a)[lt(key)]
        return
    out = lamina.tensor(a)[lt(key)]
    assert tuple(out.shape) == ref.shape
    np.testing.assert_array_equal(out.numpy(), ref)
    # a scalar write touches exactly the positions NumPy's does (duplicates write the same value)
    check_write(a, key, -1.0)


# ---------------------------------------------------------------- writes
@pytest.mark.parametrize("key, value", [
    (0, 5.0),
    ((slice(None), 1), np.arange(20.0).reshape(4, 5)[None] * 0 + 9),     # broadcast over dim 0
    ((Ellipsis, slice(None, None, 2)), np.array([1.0, 2.0, 3.0])),       # broadcast a row
    ((slice(None), [0, 2]), np.full((2, 2, 4, 5), 3.0)),
    ((slice(None), [0, 2], slice(None), [1, 3]), np.array([7.0, 8.0, 9.0, 10.0])),  # result (2, 2, 4)
    (([1, 0], slice(None), [2, 3]), np.arange(2 * 3 * 5.0).reshape(2, 3, 5)),
    ((slice(None), [2, 0], [1, 3]), np.arange(2 * 2 * 5.0).reshape(2, 2, 5)),  # adjacent, in place
    (A4 > 60, -1.0),
    (A4 > 60, np.arange((A4 > 60).sum(), dtype=np.float64)),
    ((slice(None), np.array([True, False, True])), np.array([4.0, 5.0, 6.0, 7.0, 8.0])),
    ((None, 1, Ellipsis), 2.0),
    (np.array([[1], [0]]), np.arange(2 * 1 * 3 * 4 * 5.0).reshape(2, 1, 3, 4, 5)),
])
def test_setitem(key, value):
    check_write(A4, key, value)


def test_setitem_casts_value_to_target_dtype():
    x = lamina.zeros(4, dtype=lamina.int64)
    x[1:3] = lamina.tensor([1.9, -2.7])
    assert x.tolist() == [0, 1, -2, 0]
    y = lamina.zeros(3)
    y[[0, 2]] = 5
    assert y.dtype == lamina.float32 and y.tolist() == [5.0, 0.0, 5.0]
    b = lamina.zeros(3, dtype=lamina.bool)
    b[1] = True
    assert b.tolist() == [False, True, False]


def test_setitem_into_non_contiguous_target():
    a = A4.copy()
    x = lamina.tensor(a).permute(3, 1, 0, 2)
    ref = a.transpose(3, 1, 0, 2).copy()
    ref[[1, 4], :, 1] = -3.0
    x[[1, 4], :, 1] = -3.0
    np.testing.assert_array_equal(x.numpy(), ref)


def test_setitem_with_overlapping_source():
    x = lamina.tensor(np.arange(6.0))
    x[1:] = x[:-1]
    assert x.tolist() == [0.0, 0.0, 1.0, 2.0, 3.0, 4.0]


def test_setitem_bumps_version():
    x = lamina.zeros(3)
    v = x._version
    x[0] = 1.0
    assert x._version > v
    x[[1]] = 2.0
    assert x._version > v + 1


def test_setitem_shape_mismatch():
    x = lamina.zeros(2, 3)
    with pytest.raises(ValueError):
        x[0] = lamina.zeros(4)
    with pytest.raises(ValueError):
        x[[0, 1]] = lamina.zeros(3, 2)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("key", [
    2, -3, (0, 3), (0, 0, 0),
    [0, 2], [-3], ([0, 1], [0, 3]),
    (slice(None), [5]),
    np.array([True, False, True]),          # mask longer than the dim
    (slice(None), np.array([[True, False]])),  # mask with a wrong shape
    (Ellipsis, Ellipsis),
    ([0, 1], [0, 1, 2]),                    # index arrays that do not broadcast
    1.5,
    "a",
], ids=repr)
def test_bad_keys_raise_index_error(key):
    x = lamina.zeros(2, 3)
    with pytest.raises(IndexError):
        x[lt(key)]
    with pytest.raises(IndexError):
        x[lt(key)] = 1.0


def test_float_index_tensor_raises():
    with pytest.raises(IndexError, match="long, int or bool"):
        lamina.zeros(3)[lamina.tensor([0.0])]


def test_negative_step_raises_like_pytorch():
    with pytest.raises(ValueError, match="step"):
        lamina.zeros(3)[::-1]


# ---------------------------------------------------------------- gradients
def test_gradient_of_duplicate_indices_accumulates():
    x = lamina.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 2, 0, 0]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]


def test_gradient_of_mask_and_slices():
    x = lamina.tensor(arange(3, 4), requires_grad=True)
    (x[x.detach() > 5] * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (arange(3, 4) > 5) * 2.0)


@pytest.mark.parametrize("key", [
    (slice(None), [0, 2, 2]),
    ([1, 1, 0], slice(None, None, 2)),
    (np.array([[0], [2]]), np.array([1, 1, 3])),
    (Ellipsis, 1),
    (None, slice(1, None), -1),
], ids=repr)
def test_gradcheck_indexing(key, rng):
    x = lamina.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(lambda t: t[lt(key)] * 1.0, [x])

"""Zero-copy exchange with NumPy (from_numpy, .numpy(), __array__) and DLPack (NumPy, PyTorch, JAX)."""
import gc

import numpy as np
import pytest

import lamina


def ptr(a):
    return a.__array_interface__["data"][0]


# ---------------------------------------------------------------- NumPy
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32, np.int64, np.bool_])
def test_from_numpy_shares_memory_both_ways(dtype):
    a = np.arange(12).reshape(3, 4).astype(dtype)
    t = lamina.from_numpy(a)
    assert t.dtype == lamina._dtype.to_dtype(dtype) and t.shape == (3, 4)
    assert t.data_ptr() == ptr(a)
    a[0, 1] = 0
    assert t[0, 1].item() == 0
    t[2, 3] = 1
    assert a[2, 3] == 1


@pytest.mark.parametrize("make", [
    lambda a: a[::-1],
    lambda a: a[:, ::-2],
    lambda a: a.T,
    lambda a: np.asfortranarray(a),
    lambda a: a[1:, 1::2],
    lambda a: a[::-1, ::-1].T,
    lambda a: a[0],
    lambda a: a[0, 0, ...],
], ids=range(8))
def test_from_numpy_strided(make):
    a = make(np.arange(20.0).reshape(4, 5))
    t = lamina.from_numpy(a)
    assert t.stride() == tuple(s // 8 for s in a.strides)
    assert t.data_ptr() == ptr(a)
    np.testing.assert_array_equal(t.numpy(), a)
    np.testing.assert_array_equal((t * 2).numpy(), a * 2)
    np.testing.assert_array_equal(t.contiguous().numpy(), a)
    if t.ndim:
        t[(0,) * t.ndim] = -1.0
        assert a[(0,) * a.ndim] == -1.0


def test_from_numpy_views_of_negative_strides_stay_inside():
    a = np.arange(10.0)[::-1]
    t = lamina.from_numpy(a)
    np.testing.assert_array_equal(t[2:5].numpy(), a[2:5])
    np.testing.assert_array_equal(t.flip(0).numpy(), a[::-1])
    with pytest.raises(IndexError):
        t._t.as_strided([11], [1], 0)


def test_from_numpy_keeps_the_array_alive():
    t = lamina.from_numpy(np.arange(1000.0))
    gc.collect()
    assert t.sum().item() == 499500.0


def test_from_numpy_rejects_other_inputs():
    with pytest.raises(TypeError, match="from_numpy"):
        lamina.from_numpy([1, 2])
    with pytest.raises(TypeError, match="uint8"):
        lamina.from_numpy(np.zeros(3, np.uint8))
    with pytest.raises(TypeError):
        lamina.from_numpy(np.zeros(3, np.complex64))


def test_numpy_shares_memory_and_outlives_the_tensor():
    x = lamina.arange(6.0).reshape(2, 3)
    n = x.numpy()
    assert ptr(n) == x.data_ptr() and n.dtype == np.float32
    x[0, 0] = 42.0
    assert n[0, 0] == 42.0
    n[1, 2] = -1.0
    assert x[1, 2].item() == -1.0
    del x
    gc.collect()
    lamina.ones(100_000)  # reuse freed memory if it had been freed
    assert n.tolist() == [[42.0, 1.0, 2.0], [3.0, 4.0, -1.0]]


def test_numpy_of_views():
    x = lamina.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(x.T.numpy(), np.arange(12.0).reshape(3, 4).T)
    assert x.T.numpy().strides == (4, 16)
    np.testing.assert_array_equal(x.flip(1).numpy(), np.arange(12.0).reshape(3, 4)[:, ::-1])
    assert ptr(x[1:, 2:].numpy()) == x[1:, 2:].data_ptr()
    assert lamina.tensor(3.0).numpy().shape == ()
    assert lamina.zeros(0, 3).numpy().shape == (0, 3)


def test_numpy_refusals():
    with pytest.raises(RuntimeError, match="requires grad"):
        lamina.ones(2, requires_grad=True).numpy()
    with pytest.raises(TypeError, match="bfloat16"):
        lamina.ones(2, dtype=lamina.bfloat16).numpy()
    np.testing.assert_array_equal(lamina.ones(2, dtype=lamina.bfloat16).numpy(force=True), [1.0, 1.0])


def test_array_protocol():
    x = lamina.arange(3)
    assert np.asarray(x).tolist() == [0, 1, 2] and np.asarray(x).dtype == np.int64
    assert np.array(x, dtype=np.float32).dtype == np.float32
    assert np.asarray(lamina.arange(3.0).bfloat16()).tolist() == [0.0, 1.0, 2.0]
    assert np.asarray(lamina.ones(2, requires_grad=True)).tolist() == [1.0, 1.0]


# ---------------------------------------------------------------- DLPack with NumPy
def test_numpy_from_dlpack_of_lamina():
    x = lamina.arange(6.0).reshape(2, 3)
    n = np.from_dlpack(x)
    assert ptr(n) == x.data_ptr() and n.dtype == np.float32
    x[0, 1] = 7.0
    assert n[0, 1] == 7.0
    np.testing.assert_array_equal(np.from_dlpack(x.T), np.from_dlpack(x).T)
    np.testing.assert_array_equal(np.from_dlpack(x.flip(1)), np.from_dlpack(x)[:, ::-1])
    del x
    gc.collect()
    assert n.tolist() == [[0.0, 7.0, 2.0], [3.0, 4.0, 5.0]]


def test_lamina_from_dlpack_of_numpy():
    a = np.arange(5.0)
    t = lamina.from_dlpack(a)
    assert t.data_ptr() == ptr(a) and t.dtype == lamina.float64
    a[0] = 9.0
    assert t[0].item() == 9.0
    np.testing.assert_array_equal(lamina.from_dlpack(a[::-2]).numpy(), a[::-2])
    t2 = lamina.from_dlpack(np.arange(4, dtype=np.int32))
    gc.collect()
    assert t2.tolist() == [0, 1, 2, 3] and t2.dtype == lamina.int32


def test_dlpack_device_and_capsule_reuse():
    x = lamina.ones(2)
    assert x.__dlpack_device__() == (1, 0)
    cap = x.__dlpack__()
    y = lamina.from_dlpack(cap)
    assert y.data_ptr() == x.data_ptr()
    with pytest.raises(ValueError, match="unconsumed"):
        lamina.from_dlpack(cap)
    assert lamina.from_dlpack(lamina.arange(3)).tolist() == [0, 1, 2]


# ---------------------------------------------------------------- DLPack with PyTorch
@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def test_torch_from_dlpack_of_lamina(torch):
    x = lamina.arange(6.0).reshape(2, 3)
    tx = torch.from_dlpack(x)
    assert tx.data_ptr() == x.data_ptr() and tx.dtype == torch.float32
    tx[1, 1] = -3.0
    assert x[1, 1].item() == -3.0
    assert torch.from_dlpack(x.T).stride() == (1, 3)
    assert torch.equal(torch.from_dlpack(x.flip(0)), tx.flip(0))
    assert torch.from_dlpack(lamina.tensor(2.5)).item() == 2.5
    assert torch.from_dlpack(lamina.zeros(0, 3)).shape == (0, 3)
    assert torch.from_dlpack(lamina.tensor([1.0, 2.0]).expand(3, 2)).tolist() == [[1.0, 2.0]] * 3
    del x
    gc.collect()
    assert tx.tolist() == [[0.0, 1.0, 2.0], [3.0, -3.0, 5.0]]


def test_lamina_from_dlpack_of_torch(torch):
    tx = torch.arange(12.0).reshape(3, 4)
    x = lamina.from_dlpack(tx)
    assert x.data_ptr() == tx.data_ptr() and x.dtype == lamina.float32
    tx[0, 0] = 100.0
    assert x[0, 0].item() == 100.0
    np.testing.assert_array_equal(lamina.from_dlpack(tx.T).numpy(), tx.T.numpy())
    np.testing.assert_array_equal(lamina.from_dlpack(tx[:, 1::2]).numpy(), tx[:, 1::2].numpy())
    del tx
    gc.collect()
    assert x.sum().item() == 166.0


@pytest.mark.parametrize("name", ["bool", "bfloat16", "float16", "int32", "int64", "float64"])
def test_dtypes_through_torch_dlpack(torch, name):
    src = torch.tensor([1, 0, 1, 1]).to(getattr(torch, name))
    if name == "bfloat16":
        src = torch.tensor([1.5, -2.25, 3e38, 1e-3]).to(torch.bfloat16)
    x = lamina.from_dlpack(src)
    assert x.dtype == getattr(lamina, name)
    assert x.data_ptr() == src.data_ptr()
    assert x.tolist() == src.tolist()
    back = torch.from_dlpack(x)
    assert back.dtype == src.dtype and torch.equal(back, src) and back.data_ptr() == src.data_ptr()
    made = lamina.tensor([1.5, 0.0, -2.0], dtype=getattr(lamina, name))
    assert torch.from_dlpack(made).tolist() == made.tolist()


# ---------------------------------------------------------------- DLPack with JAX (optional)
def test_jax_dlpack_round_trip():
    jnp = pytest.importorskip("jax.numpy")
    x = lamina.arange(6.0).reshape(2, 3)
    j = jnp.from_dlpack(x)
    np.testing.assert_array_equal(np.asarray(j), x.numpy())
    assert j.unsafe_buffer_pointer() == x.data_ptr()  # no copy into JAX
    src = jnp.arange(4.0, dtype=jnp.float32)
    back = lamina.from_dlpack(src)
    assert back.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert back.data_ptr() == src.unsafe_buffer_pointer()  # no copy out of JAX
    del src
    assert back.tolist() == [0.0, 1.0, 2.0, 3.0]  # the capsule keeps JAX's buffer alive


def test_cupy_dlpack_round_trip():
    cp = pytest.importorskip("cupy")
    if not lamina.cuda.is_available():
        pytest.skip("no CUDA device")
    src = cp.arange(6, dtype=cp.float32).reshape(2, 3)
    x = lamina.from_dlpack(src)
    assert x.is_cuda and x.data_ptr() == src.data.ptr
    back = cp.from_dlpack(x)
    assert back.data.ptr == src.data.ptr
    assert cp.asnumpy(back).tolist() == src.get().tolist()


def test_negative_strides_export_as_a_copy(torch):
    # PyTorch aborts the process on negative DLPack strides, so flipped views go out copied.
    x = lamina.arange(6.0).reshape(2, 3).flip(0)
    tx = torch.from_dlpack(x)
    assert tx.tolist() == x.tolist() and tx.stride() == (3, 1)
    assert np.from_dlpack(x).tolist() == x.tolist()
    with pytest.raises(BufferError, match="negative strides"):
        x.__dlpack__(copy=False)
    assert lamina.from_dlpack(x.__dlpack__(copy=True)).data_ptr() != x.data_ptr()

"""CUDA: creation on the device and copies both ways (skipped without a GPU), plus the checks
that must hold on every machine."""
import numpy as np
import pytest

import lamina

requires_cuda = pytest.mark.skipif(not lamina.cuda.is_available(), reason="no CUDA device")


def test_is_available_returns_a_bool():
    assert isinstance(lamina.cuda.is_available(), bool)
    assert isinstance(lamina.cuda.is_compiled(), bool)
    assert lamina.cuda.device_count() >= 0
    if not lamina.cuda.is_compiled():
        assert lamina.cuda.is_available() is False


@pytest.mark.skipif(lamina.cuda.is_available(), reason="a CUDA device is present")
@pytest.mark.parametrize("make", [
    lambda: lamina.zeros(2, device="cuda"),
    lambda: lamina.ones(2, 3, device="cuda:0"),
    lambda: lamina.full((2,), 1.5, device="cuda"),
    lambda: lamina.tensor([1.0, 2.0], device="cuda"),
    lambda: lamina.arange(3, device="cuda"),
    lambda: lamina.ones(2).to("cuda"),
    lambda: lamina.ones(2).cuda(),
])
def test_cuda_tensor_without_a_device_raises(make):
    with pytest.raises(RuntimeError, match="cuda"):
        make()


def test_bad_device_strings():
    with pytest.raises(ValueError):
        lamina.zeros(2, device="tpu")
    with pytest.raises(ValueError):
        lamina.device("cuda:x")


@requires_cuda
@pytest.mark.parametrize("dtype", [lamina.float32, lamina.float64, lamina.float16, lamina.bfloat16, lamina.int64,
                                   lamina.int32, lamina.bool])
def test_fill_on_device_and_copy_back(dtype):
    for fn, v in [(lamina.zeros, 0), (lamina.ones, 1)]:
        t = fn(3, 4, dtype=dtype, device="cuda")
        assert t.is_cuda and t.device == lamina.device("cuda", 0) and t.dtype == dtype
        back = t.cpu()
        assert not back.is_cuda and back.dtype == dtype
        assert (back.float().numpy() == v).all()
    f = lamina.full((5,), 2.5 if dtype.is_floating_point else 1, dtype=dtype, device="cuda").cpu()
    assert f.tolist() == [2.5 if dtype.is_floating_point else (True if dtype == lamina.bool else 1)] * 5


@requires_cuda
def test_round_trip_to_cuda_and_back(rng):
    a = rng.standard_normal((7, 5))
    x = lamina.tensor(a)
    g = x.to("cuda")
    assert g.is_cuda and g.shape == (7, 5) and g.dtype == lamina.float64
    np.testing.assert_array_equal(g.cpu().numpy(), a)
    np.testing.assert_array_equal(x.T.cuda().cpu().numpy(), a.T)  # strided source
    np.testing.assert_array_equal(g.to("cuda").cpu().numpy(), a)
    assert g.to("cuda") is g
    np.testing.assert_array_equal(x.to("cuda", lamina.float32).cpu().numpy(), a.astype(np.float32))
    assert "device='cuda:0'" in repr(g)
    with pytest.raises(TypeError, match="cpu"):
        g.numpy()

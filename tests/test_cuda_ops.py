"""CUDA kernels against the CPU path and float64 NumPy: elementwise (broadcast, strided,
every dtype), casts, reductions, softmax family, matmul/linear, gradients, mixed-device
errors and the allocator on a real device. Skipped without a GPU."""
import numpy as np
import pytest

import lamina

pytestmark = pytest.mark.skipif(not lamina.cuda.is_available(), reason="no CUDA device")

FLOATS = [lamina.float32, lamina.float64, lamina.float16, lamina.bfloat16]
ALL = FLOATS + [lamina.int32, lamina.int64, lamina.bool]
TOL = {lamina.float32: 1e-5, lamina.float64: 1e-12, lamina.float16: 2e-3, lamina.bfloat16: 1e-2}


def _make(rng, shape, dtype):
    if dtype == lamina.bool:
        return lamina.tensor(rng.random(shape) > 0.5)
    if dtype in (lamina.int32, lamina.int64):
        return lamina.tensor(rng.integers(-9, 10, shape)).to(dtype)
    return lamina.tensor(rng.standard_normal(shape)).to(dtype)


def _same(gpu, cpu, dtype=None):
    """gpu (a CUDA tensor) equals cpu (the CPU result) within dtype's tolerance."""
    assert gpu.is_cuda and gpu.shape == cpu.shape and gpu.dtype == cpu.dtype
    g, c = gpu.cpu(), cpu
    if not (g.dtype.is_floating_point):
        np.testing.assert_array_equal(g.numpy(), c.numpy())
        return
    tol = TOL[dtype or g.dtype]
    np.testing.assert_allclose(g.double().numpy(), c.double().numpy(), rtol=tol, atol=tol, equal_nan=True)


def _both(fn, *xs):
    return fn(*[x.cuda() for x in xs]), fn(*xs)


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("name", ["add", "mul", "maximum", "minimum", "eq", "lt", "ge"])
def test_binary_broadcast_every_dtype(rng, dtype, name):
    a, b = _make(rng, (3, 1, 5), dtype), _make(rng, (4, 1), dtype)
    _same(*_both(getattr(lamina, name), a, b))


@pytest.mark.parametrize("dtype", [lamina.float32, lamina.float64, lamina.int32, lamina.int64])
@pytest.mark.parametrize("name", ["sub", "floor_divide", "remainder", "pow"])
def test_binary_arith(rng, dtype, name):
    a = _make(rng, (37,), dtype)
    b = _make(rng, (37,), dtype)
    if not dtype.is_floating_point:
        b = lamina.where(b == 0, lamina.ones_like(b), b)
        if name == "pow":
            b = b.abs()
    _same(*_both(getattr(lamina, name), a, b))


def test_binary_non_contiguous_and_scalars(rng):
    a = _make(rng, (6, 7, 5), lamina.float32)
    b = _make(rng, (5, 7), lamina.float32)
    _same(*_both(lambda x, y: x.permute(2, 1, 0)[::2] * y.T[::2] + 1.5, a, b))
    _same(*_both(lambda x: 2 - x[:, ::3, 1:], a))
    _same(*_both(lambda x: x / 3, _make(rng, (9,), lamina.int64)))  # true division promotes


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "neg", "sin", "floor",
                                  "round", "erf", "expm1", "log1p", "rsqrt", "reciprocal"])
def test_unary(rng, dtype, name):
    x = _make(rng, (33, 3), dtype)
    if name in ("log", "sqrt", "rsqrt", "log1p"):
        x = x.abs() + 0.1
    _same(*_both(getattr(lamina, name), x), dtype)


@pytest.mark.parametrize("name", ["gelu", "silu", "softplus", "leaky_relu", "elu"])
def test_activations(rng, name):
    import lamina.nn.functional as F
    x = _make(rng, (17, 9), lamina.float32)
    _same(*_both(getattr(F, name), x))


def test_clamp_and_where(rng):
    x = _make(rng, (5, 6), lamina.float32)
    _same(*_both(lambda t: t.clamp(-0.5, 0.3), x))
    _same(*_both(lambda t: lamina.where(t > 0, t, t * 2), x))
    _same(*_both(lambda t: lamina.where(t.T > 0, t.T, 0.0), x))


@pytest.mark.parametrize("src", ALL)
@pytest.mark.parametrize("dst", ALL)
def test_casts(rng, src, dst):
    x = _make(rng, (4, 6), src)
    _same(*_both(lambda t: t.T.to(dst), x), dst if dst.is_floating_point else None)


def test_cast_saturates_and_nan_to_zero():
    x = lamina.tensor([float("nan"), 1e30, -1e30, 2.7, -2.7])
    _same(*_both(lambda t: t.to(lamina.int32), x))


@pytest.mark.parametrize("dtype", [lamina.float32, lamina.float64, lamina.int32, lamina.int64, lamina.bool])
@pytest.mark.parametrize("dims", [None, 0, 1, 2, (0, 2), -1])
def test_reductions(rng, dtype, dims):
    x = _make(rng, (5, 301, 7), dtype)
    for name in ("sum", "amax", "amin"):
        fn = getattr(lamina, name)
        _same(*_both(lambda t: fn(t) if dims is None else fn(t, dims), x))
    if dtype.is_floating_point:
        _same(*_both(lambda t: t.mean() if dims is None else t.mean(dims), x))
        _same(*_both(lambda t: t.var() if dims is None else t.var(dims), x))


def test_sum_long_row_float32_accumulates_in_float64(rng):
    a = rng.standard_normal(1_000_003).astype(np.float32)
    got = lamina.tensor(a).cuda().sum().item()
    assert abs(got - a.astype(np.float64).sum()) < 1e-6 * np.abs(a).sum()


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_argmax_max_min_dim(rng, dim):
    x = _make(rng, (6, 257), lamina.float32)
    _same(*_both(lambda t: t.argmax(dim), x))
    _same(*_both(lambda t: t.argmin(dim), x))
    _same(*_both(lambda t: t.max(dim)[0], x))
    ties = lamina.tensor([[1.0, 3.0, 3.0, float("nan"), 3.0]])
    _same(*_both(lambda t: t.argmax(1), ties))


@pytest.mark.parametrize("n", [1, 7, 256, 1000, 4097])
@pytest.mark.parametrize("dtype", [lamina.float32, lamina.float64])
def test_softmax_family(rng, n, dtype):
    x = _make(rng, (3, n), dtype) * 10
    _same(*_both(lambda t: t.softmax(-1), x))
    _same(*_both(lambda t: t.log_softmax(-1), x))
    _same(*_both(lambda t: t.softmax(0), x))
    _same(*_both(lambda t: t.logsumexp(-1), x))
    _same(*_both(lambda t: t.cumsum(-1), x), dtype)


@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (7, 5, 3), (128, 128, 8), (129, 65, 257), (300, 200, 100), (5, 0, 3),
                                   (4, 3, 0)])
@pytest.mark.parametrize("dtype", [lamina.float32, lamina.float64])
def test_matmul_shapes(rng, M, N, K, dtype):
    a, b = _make(rng, (M, K), dtype), _make(rng, (K, N), dtype)
    got = (a.cuda() @ b.cuda()).cpu().double().numpy()
    ref = a.double().numpy() @ b.double().numpy()
    tol = 1e-4 * max(K, 1) ** 0.5 if dtype == lamina.float32 else 1e-12
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


def test_matmul_transposed_sliced_batched(rng):
    a, b = _make(rng, (3, 70, 45), lamina.float32), _make(rng, (3, 90, 70), lamina.float32)
    _same(*_both(lambda x, y: x.transpose(1, 2) @ y.transpose(1, 2), a, b))  # both column-major
    _same(*_both(lambda x, y: x[:, ::2, 1:] @ y[:, 1:45, ::3], a, b))
    _same(*_both(lambda x, y: x @ y[0, :45, :33], a, b))
    _same(*_both(lambda x: x[0, 0] @ x[0].T, a))  # vector @ matrix


@pytest.mark.parametrize("act", [None, "relu", "gelu", "silu"])
def test_linear_with_bias_and_activation(rng, act):
    import lamina.nn.functional as F
    x, w, bias = _make(rng, (2, 33, 20), lamina.float32), _make(rng, (17, 20), lamina.float32), _make(rng, (17,), lamina.float32)
    def f(x, w, bias):
        y = F.linear(x, w, bias)
        return getattr(F, act)(y) if act else y
    _same(*_both(f, x, w, bias))


def test_gradients_match_cpu(rng):
    x0 = _make(rng, (6, 10), lamina.float64)
    w0 = _make(rng, (4, 10), lamina.float64)
    grads = []
    for dev in ("cpu", "cuda"):
        x = x0.to(dev).requires_grad_()
        w = w0.to(dev).requires_grad_()
        y = (x @ w.T).tanh().log_softmax(-1).sum() + (x * x).mean()
        y.backward()
        grads.append((x.grad.cpu().numpy(), w.grad.cpu().numpy()))
    for g_cpu, g_gpu in zip(*grads):
        np.testing.assert_allclose(g_gpu, g_cpu, rtol=1e-10, atol=1e-12)


def test_mixed_devices_raise_clearly():
    a, b = lamina.ones(3), lamina.ones(3).cuda()
    with pytest.raises(RuntimeError, match="same device"):
        a + b
    with pytest.raises(RuntimeError, match="one device"):
        a @ b
    assert (b + 1).is_cuda and (b * lamina.tensor(2.0)).is_cuda  # 0-d CPU tensors are scalars


def test_allocator_reuses_blocks_and_reports():
    lamina.cuda.synchronize()
    base = lamina.cuda.memory_allocated()
    x = lamina.empty(1 << 20, device="cuda")
    assert lamina.cuda.memory_allocated() >= base + 4 * (1 << 20)
    lamina.cuda.reset_peak_memory_stats()
    del x
    assert lamina.cuda.memory_allocated() == base
    reserved = lamina.cuda.memory_reserved()
    y = lamina.empty(1 << 20, device="cuda")  # the cached block comes back
    assert lamina.cuda.memory_reserved() == reserved
    del y
    lamina.cuda.empty_cache()
    assert lamina.cuda.memory_reserved() <= reserved


def test_out_of_memory_is_memory_error():
    with pytest.raises(MemoryError):
        lamina.empty(1 << 50, dtype=lamina.bool, device="cuda")  # 1 PiB


def test_item_print_and_numpy_see_finished_results(rng):
    x = _make(rng, (1000, 100), lamina.float32).cuda()
    s = (x * 2).sum()
    assert abs(s.item() - 2 * x.cpu().double().numpy().sum()) < 1e-3
    assert "cuda" in repr(s)

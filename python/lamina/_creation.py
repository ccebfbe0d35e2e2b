"""Tensor creation: from data (``tensor``, ``from_numpy``, ``from_dlpack``), constants,
ranges, identity, and random draws from the seedable counter-based generator."""
import numbers

import numpy as np

from . import _C
from ._dtype import to_dtype, float32, int64, bool_, from_numpy_dtype
from ._device import to_device
from ._tensor import Tensor

_wrap = Tensor._wrap


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    out = []
    for s in size:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"size must be a sequence of ints, got {size!r}")
        if s < 0:
            raise ValueError(f"negative dimension {s} in size {tuple(size)}")
        if s >= 1 << 63:
            raise ValueError(f"dimension {s} in size {tuple(size)} does not fit in int64")
        out.append(int(s))
    return out


def _finish(t, device, requires_grad):
    dev = to_device(device)
    if dev.type != "cpu":
        t = _wrap(t._t.to(t._t.dtype, *dev._codes, False))
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (nested lists, scalars, NumPy arrays or tensors).

    Python floats become float32 and ints int64 unless ``dtype`` says otherwise; NumPy arrays
    keep their dtype."""
    if isinstance(data, Tensor):
        t = data.detach().to(dtype or data.dtype, copy=True)
        return _finish(t, device or data.device, requires_grad)
    try:
        arr = np.array(data, copy=True)
    except ValueError as e:
        raise ValueError(f"[tensor] cannot make a tensor from {type(data).__name__} data: {e}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"[tensor] could not infer a dtype from {type(data).__name__} data (NumPy sees {arr.dtype})")
    if not isinstance(data, np.ndarray) and not isinstance(data, np.generic) and dtype is None:
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
        elif arr.size == 0 and arr.dtype.kind != "b":
            arr = arr.astype(np.float32)
    if dtype is not None:
        dt = to_dtype(dtype)
        if dt.name == "bfloat16":
            t = _wrap(_C.from_numpy(_c_order(arr.astype(np.float32))).to(dt.code, 0, 0, True))
            return _finish(t, device, requires_grad)
        arr = arr.astype(dt.numpy_dtype)
    elif arr.dtype.kind == "u" or (arr.dtype.kind == "i" and arr.dtype.itemsize < 4):
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "f" and arr.dtype.itemsize > 8:
        arr = arr.astype(np.float64)
    return _finish(_wrap(_C.from_numpy(_c_order(arr))), device, requires_grad)


def _c_order(arr):
    # Not np.ascontiguousarray: it turns 0-d arrays into 1-d ones.
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


as_tensor = tensor


def from_numpy(array):
    """A tensor sharing ``array``'s memory (no copy); writes through either are seen by both."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"[from_numpy] expected a numpy.ndarray, got {type(array).__name__}")
    return _wrap(_C.from_numpy(array))


def from_dlpack(ext):
    """A tensor sharing the memory of any DLPack producer (NumPy, PyTorch, JAX, CuPy, ...)."""
    if hasattr(ext, "__dlpack__"):
        kwargs = {}
        dev = ext.__dlpack_device__() if hasattr(ext, "__dlpack_device__") else (1, 0)
        if dev[0] == 2:
            kwargs["stream"] = 1  # legacy default stream: lamina synchronises the device on use
        try:
            cap = ext.__dlpack__(max_version=(1, 0), **kwargs)
        except TypeError:
            cap = ext.__dlpack__(**kwargs)
    else:
        cap = ext
    return _wrap(_C.from_dlpack_capsule(cap))


def _fill(size, value, dtype, device, requires_grad):
    dt = to_dtype(dtype) if dtype is not None else (float32 if not isinstance(value, (bool, int)) or isinstance(value, float) else None)
    if dt is None:
        dt = bool_ if isinstance(value, bool) else int64
    t, i = to_device(device)._codes
    shape = _shape(size)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and not dt.is_floating_point and t == 0:
        impl = _C.full_int(shape, int(value), dt.code)
    else:
        impl = _C.full(shape, float(value), dt.code, t, i)
    out = _wrap(impl)
    if requires_grad:
        out.requires_grad_(True)
    return out


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _fill(size, 0.0, dtype or float32, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _fill(size, 1.0, dtype or float32, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    return _fill((size,) if not isinstance(size, (tuple, list)) else (tuple(size),), fill_value, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    # Zero-filled: uninitialised memory would hand users whatever the allocator last held.
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def _like(fn, x, dtype, device, requires_grad, *args):
    return fn(x.shape, *args, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


def zeros_like(input, dtype=None, device=None, requires_grad=False):
    return _like(zeros, input, dtype, device, requires_grad)


def ones_like(input, dtype=None, device=None, requires_grad=False):
    return _like(ones, input, dtype, device, requires_grad)


def empty_like(input, dtype=None, device=None, requires_grad=False):
    return _like(empty, input, dtype, device, requires_grad)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False):
    return full(input.shape, fill_value, dtype=dtype or input.dtype, device=device or input.device,
                requires_grad=requires_grad)


def rand_like(input, dtype=None, device=None, requires_grad=False):
    return _like(rand, input, dtype, device, requires_grad)


def randn_like(input, dtype=None, device=None, requires_grad=False):
    return _like(randn, input, dtype, device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Values from ``start`` up to (not including) ``end`` by ``step``."""
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if dtype is None:
        dtype = int64 if all(isinstance(v, numbers.Integral) for v in vals) else float32
    t = _wrap(_C.arange(float(vals[0]), float(vals[1]), float(vals[2]), to_dtype(dtype).code))
    return _finish(t, device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    t = _wrap(_C.linspace(float(start), float(end), int(steps), to_dtype(dtype or float32).code))
    return _finish(t, device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    t = _wrap(_C.eye(int(n), int(n if m is None else m), to_dtype(dtype or float32).code))
    return _finish(t, device, requires_grad)


def _random(size, dist, a, b, dtype, device, requires_grad):
    t = _wrap(_C.random(_shape(size), dist, float(a), float(b), to_dtype(dtype).code))
    return _finish(t, device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None):
    """Uniform samples in [0, 1)."""
    return _random(size, 0, 0.0, 1.0, dtype or float32, device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None):
    """Standard normal samples."""
    return _random(size, 1, 0.0, 1.0, dtype or float32, device, requires_grad)


def randint(low, high=None, size=None, dtype=None, device=None, requires_grad=False, generator=None):
    """Integers drawn uniformly from [low, high)."""
    if high is None:
        low, high = 0, low
    elif size is None and isinstance(high, (tuple, list)):
        low, high, size = 0, low, high  # randint(high, size)
    if size is None:
        raise TypeError("[randint] missing the 'size' argument")
    return _random((tuple(size),), 2, low, high, dtype or int64, device, requires_grad)


def normal(mean=0.0, std=1.0, size=None, dtype=None, device=None, requires_grad=False, generator=None):
    """Normal samples with the given mean and std (floats; tensors broadcast)."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        m = mean if isinstance(mean, Tensor) else tensor(mean)
        s = std if isinstance(std, Tensor) else tensor(std)
        shape = np.broadcast_shapes(tuple(m.shape), tuple(s.shape))
        return randn(*shape, dtype=dtype or m.dtype) * s + m
    if size is None:
        raise TypeError("[normal] with float mean and std, 'size' is required")
    return _random((tuple(size),), 1, mean, std, dtype or float32, device, requires_grad)


def manual_seed(seed):
    """Seeds the default generator: the same seed gives the same draws on every machine."""
    _C.manual_seed(int(seed) & 0xFFFFFFFFFFFFFFFF)


def seed():
    import random
    s = random.getrandbits(63)
    _C.manual_seed(s)
    return s


def initial_seed():
    return _C.initial_seed()


def get_rng_state():
    # Stored as signed int64 values; set_rng_state undoes the wrap.
    return tensor([v - (1 << 64) if v >= 1 << 63 else v for v in _C.get_rng_state()], dtype=int64)


def set_rng_state(state):
    s, o = state.tolist()
    _C.set_rng_state(int(s) & 0xFFFFFFFFFFFFFFFF, int(o) & 0xFFFFFFFFFFFFFFFF)

"""lamina: a deep-learning library for Python whose compute is its own.

Hand-written C++ (SIMD, threads) and CUDA kernels under a PyTorch-shaped API: ``lamina.Tensor``
with reverse-mode autograd, ``lamina.nn.functional``, zero-copy NumPy and DLPack exchange.
"""
import builtins as _builtins

from . import _C
from ._C import ShapeError
from ._dtype import dtype, bool_ as bool, int32, int64, float16, bfloat16, float32, float64  # noqa: A001
from ._dtype import float32 as float, float64 as double, float16 as half, int64 as long, int32 as int  # noqa: A001
from ._device import device
from ._tensor import Tensor, Size, _install_methods
from .autograd.grad_mode import no_grad, enable_grad, set_grad_enabled, is_grad_enabled
from ._creation import (tensor, as_tensor, from_numpy, from_dlpack, zeros, ones, full, empty, zeros_like, ones_like,
                        empty_like, full_like, rand_like, randn_like, arange, linspace, eye, rand, randn, randint,
                        normal, manual_seed, seed, initial_seed, get_rng_state, set_rng_state)
from .ops.elementwise import (add, sub, subtract, mul, multiply, div, divide, true_divide, pow, maximum, minimum,
                              atan2, eq, ne, lt, le, gt, ge, greater, greater_equal, less, less_equal, not_equal,
                              floor_divide, remainder, logical_not, logical_and, logical_or, logical_xor, bitwise_not,
                              bitwise_and, bitwise_or, bitwise_xor, neg, abs, sign, exp, expm1, log, log1p, log2,
                              sqrt, rsqrt, reciprocal, square, sin, cos, tanh, sigmoid, relu, silu, erf, floor, ceil,
                              round, trunc, clamp, clip, clamp_min, clamp_max, where)
from .ops.reduce import (sum, mean, prod, var, std, amax, amin, max, min, argmax, argmin, logsumexp, softmax,
                         log_softmax, cumsum, all, any, count_nonzero)
from .ops.shape import (reshape, permute, transpose, swapaxes, swapdims, t, movedim, squeeze, unsqueeze, flatten,
                        unflatten, ravel, clone, flip, narrow, split, chunk, unbind, cat, concat, concatenate, stack,
                        tril, triu, broadcast_to)
from .ops.matmul import matmul
from .ops.indexing import index_select, gather, scatter, scatter_add, index_add, masked_fill, nonzero
from ._paths import get_include, get_library_dir, get_cmake_dir  # noqa: E402
from . import autograd, cpu, cuda, nn, backends  # noqa: E402
from . import optim  # noqa: E402
from .serialization import save, load  # noqa: E402
from . import data, io  # noqa: E402
from . import models  # noqa: E402

_install_methods()

__version__ = _C.__version__


def set_num_threads(n):
    """Sets how many threads lamina's CPU kernels use."""
    _C.set_num_threads(_builtins.int(n))


def get_num_threads():
    """How many threads lamina's CPU kernels use (OpenMP's default unless set)."""
    return _C.get_num_threads()


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()


def result_type(a, b):
    from ._dtype import BY_CODE
    if isinstance(a, Tensor):
        return BY_CODE[_C.result_type(a._t, b._t if isinstance(b, Tensor) else b)]
    return BY_CODE[_C.result_type(a, b._t)]


def broadcast_shapes(*shapes):
    import numpy as _np
    return Size(_np.broadcast_shapes(*[tuple(s) for s in shapes]))

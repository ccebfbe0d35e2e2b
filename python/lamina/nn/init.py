"""Parameter initialisation with PyTorch's names and distributions. Every function fills its
tensor in place without recording autograd history, draws from lamina's seeded generator (so
``lamina.manual_seed`` makes it reproducible) and returns the tensor."""
import math

import numpy as np

from .. import _creation
from .._tensor import Tensor
from .._dtype import float64
from ..autograd.grad_mode import no_grad

_GAINS = {"linear": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0, "conv_transpose1d": 1.0,
          "conv_transpose2d": 1.0, "conv_transpose3d": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3,
          "relu": math.sqrt(2.0), "selu": 3.0 / 4}


def calculate_gain(nonlinearity, param=None):
    """The recommended scale for weights feeding ``nonlinearity``: 1 for linear/conv/sigmoid,
    5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + slope**2)) for leaky_relu, 3/4 for selu."""
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"[calculate_gain] negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity in _GAINS:
        return _GAINS[nonlinearity]
    raise ValueError(f"[calculate_gain] unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight laid out (out, in, *kernel): in/out times the kernel size."""
    if tensor.ndim < 2:
        raise ValueError(f"[init] fan in and fan out can not be computed for a tensor with fewer than 2 "
                         f"dimensions, got shape {tuple(tensor.shape)}")
    receptive = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"[init] mode {mode!r} not supported, please use one of 'fan_in', 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _check(tensor, op):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"[{op}] expected a lamina.Tensor, got {type(tensor).__name__}")


def _fill_random(tensor, dist, a, b):
    """Draws ``tensor``'s shape from the generator (dist 0: U[a, b), 1: N(a, b)) and copies it in."""
    with no_grad():
        tensor.copy_(_creation._random(tuple(tensor.shape), dist, a, b, tensor.dtype, None, False)
                     .to(tensor.device))
    return tensor


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fills with U(a, b)."""
    _check(tensor, "uniform_")
    return _fill_random(tensor, 0, float(a), float(b))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fills with N(mean, std**2)."""
    _check(tensor, "normal_")
    return _fill_random(tensor, 1, float(mean), float(std))


def _phi(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fills with N(mean, std**2) restricted to [a, b] (absolute bounds, as in PyTorch) by
    rejection: from the normal itself, or from U(a, b) when the interval holds little mass."""
    _check(tensor, "trunc_normal_")
    if not a < b:
        raise ValueError(f"[trunc_normal_] expected a < b, got a={a}, b={b}")
    n = tensor.numel()
    lo, hi = (a - mean) / std, (b - mean) / std
    mass = _phi(hi) - _phi(lo)
    peak = 0.0 if lo <= 0.0 <= hi else min(lo * lo, hi * hi) / 2.0   # -log of the max density ratio on [lo, hi]
    uniform_accept = mass * math.sqrt(2 * math.pi) * math.exp(peak) / (hi - lo)
    out = np.empty(0)
    while out.size < n:
        want = max(n - out.size, 16)
        if mass >= uniform_accept:
            draw = _creation.randn(int(want / max(mass, 1e-3)) + 16, dtype=float64).numpy()
            draw = draw[(draw >= lo) & (draw <= hi)]
        else:
            m = int(want / max(uniform_accept, 1e-3)) + 16
            draw = _creation.rand(m, dtype=float64).numpy() * (hi - lo) + lo
            accept = _creation.rand(m, dtype=float64).numpy()
            draw = draw[accept <= np.exp(peak - draw * draw / 2.0)]
        out = np.concatenate([out, draw])
    vals = np.clip(out[:n] * std + mean, a, b).reshape(tuple(tensor.shape))
    with no_grad():
        tensor.copy_(_creation.tensor(vals, dtype=tensor.dtype, device=tensor.device))
    return tensor


def constant_(tensor, val):
    """Fills with ``val``."""
    _check(tensor, "constant_")
    with no_grad():
        tensor.fill_(val)
    return tensor


def ones_(tensor):
    """Fills with ones."""
    return constant_(tensor, 1.0)


def zeros_(tensor):
    """Fills with zeros."""
    return constant_(tensor, 0.0)


def eye_(tensor):
    """Fills a 2-D tensor with the identity (ones on the main diagonal)."""
    _check(tensor, "eye_")
    if tensor.ndim != 2:
        raise ValueError(f"[eye_] only tensors with 2 dimensions are supported, got shape {tuple(tensor.shape)}")
    with no_grad():
        tensor.copy_(_creation.eye(*tensor.shape, dtype=tensor.dtype).to(tensor.device))
    return tensor


def dirac_(tensor, groups=1):
    """Fills a 3-, 4- or 5-D convolution weight so the convolution is the identity (per group)."""
    _check(tensor, "dirac_")
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"[dirac_] only tensors with 3, 4, or 5 dimensions are supported, got {tuple(tensor.shape)}")
    out_per_group = tensor.shape[0] // groups
    if tensor.shape[0] % groups:
        raise ValueError(f"[dirac_] dim 0 ({tensor.shape[0]}) must be divisible by groups ({groups})")
    vals = np.zeros(tuple(tensor.shape))
    centre = tuple(k // 2 for k in tensor.shape[2:])
    for g in range(groups):
        for d in range(min(out_per_group, tensor.shape[1])):
            vals[(g * out_per_group + d, d) + centre] = 1.0
    with no_grad():
        tensor.copy_(_creation.tensor(vals, dtype=tensor.dtype, device=tensor.device))
    return tensor


def _empty(tensor, op):
    _check(tensor, op)
    return tensor.numel() == 0


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio)."""
    if _empty(tensor, "xavier_uniform_"):
        return tensor
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return _fill_random(tensor, 0, -bound, bound)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """N(0, std**2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    if _empty(tensor, "xavier_normal_"):
        return tensor
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return _fill_random(tensor, 1, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    return calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-b, b) with ``b = gain * sqrt(3 / fan)`` (He et al.); ``a`` is the leaky_relu slope."""
    if _empty(tensor, "kaiming_uniform_"):
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return _fill_random(tensor, 0, -bound, bound)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, std**2) with ``std = gain / sqrt(fan)`` (He et al.)."""
    if _empty(tensor, "kaiming_normal_"):
        return tensor
    return _fill_random(tensor, 1, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))


def orthogonal_(tensor, gain=1.0, generator=None):
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian draw (signs fixed by
    R's diagonal so the result is uniformly distributed), over ``tensor`` viewed as (rows, -1)."""
    _check(tensor, "orthogonal_")
    if tensor.ndim < 2:
        raise ValueError(f"[orthogonal_] only tensors with 2 or more dimensions are supported, got "
                         f"{tuple(tensor.shape)}")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _creation.randn(rows, cols, dtype=float64).numpy()
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    with no_grad():
        tensor.copy_(_creation.tensor(gain * q.reshape(tuple(tensor.shape)), dtype=tensor.dtype,
                                      device=tensor.device))
    return tensor

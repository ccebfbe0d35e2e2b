"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_``, with PyTorch's semantics.
Each gradient is read once for its share of the norm (a float64 sum in C++) and scaled or clamped
in place by one more C++ pass (``csrc/ops/optim.cpp``)."""
import math

from ... import _C
from ..._tensor import Tensor
from ..._creation import full
from ..._dtype import float32, float64


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scales all gradients together so that their joint ``norm_type``-norm (the norm of the
    per-tensor norms) is at most ``max_norm``: each is multiplied by
    ``min(1, max_norm / (total_norm + 1e-6))``. Returns the total norm (before clipping) as a
    0-d tensor. ``foreach`` is accepted for PyTorch compatibility; every path here is fused."""
    grads = _grads(parameters)
    p = float(norm_type)
    if not grads:
        return full((), 0.0)
    shares = [_C.grad_pow_sum(g._t, p) for g in grads]
    if any(math.isnan(v) for v in shares):
        total = math.nan
    elif math.isinf(p):
        total = max(shares)
    else:
        total = math.fsum(shares) ** (1.0 / p)
    dtype = float64 if any(g.dtype is float64 for g in grads) else float32
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {p} for gradients from `parameters` is non-finite, so it "
                           "cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    coef = float(max_norm) / (total + 1e-6)
    if not coef >= 1.0:  # a NaN norm scales the gradients to NaN, as in PyTorch
        for g in grads:
            _C.grad_scale_(g._t, coef)
    return full((), total, dtype=dtype)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamps every gradient elementwise into ``[-clip_value, clip_value]``, in place."""
    v = float(clip_value)
    for g in _grads(parameters):
        _C.grad_clamp_(g._t, -v, v)

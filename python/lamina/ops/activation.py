"""Activations composed from the elementwise kernels."""
from . import elementwise as ew


def elu(input, alpha=1.0, inplace=False):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise."""
    out = ew.where(input > 0, input, ew.expm1(ew.clamp_max(input, 0.0)) * float(alpha))
    return input.copy_(out) if inplace else out

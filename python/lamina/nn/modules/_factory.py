"""Helpers the layer constructors share: fresh parameters with the requested dtype/device."""
from ..._creation import empty
from ..parameter import Parameter

ANY_RANK = range(1, 65)


def new_param(*shape, dtype=None, device=None):
    """An uninitialised Parameter; the layer's ``reset_parameters`` fills it."""
    return Parameter(empty(*shape, dtype=dtype, device=device))


def int_tuple(value, n, name, owner):
    """``value`` (an int or a sequence of ``n`` ints) as an ``n``-tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != n or not all(isinstance(v, int) for v in value):
            raise ValueError(f"[{owner}] {name} must be an int or {n} ints, got {value!r}")
        return tuple(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"[{owner}] {name} must be an int or {n} ints, got {value!r}")
    return (value,) * n

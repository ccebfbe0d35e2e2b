"""Dropout: zeroes elements (or whole channels) with probability ``p`` using lamina's seeded
generator and scales the survivors by ``1 / (1 - p)`` so the expected value is unchanged."""
from .._creation import rand, zeros_like


def _check_p(p, op):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"[{op}] dropout probability has to be between 0 and 1, but got {p}")


def _masked(input, p, mask_shape):
    """``input`` times a keep-mask of ``mask_shape`` (broadcast over the rest) scaled by 1/(1-p)."""
    if p == 1.0:
        return input * zeros_like(input)
    keep = rand(*mask_shape, dtype=input.dtype if input.is_floating_point() else None) >= p
    return input * (keep.to(input.dtype) * (1.0 / (1.0 - p)))


def dropout(input, p=0.5, training=True, inplace=False):
    """During training, zeroes each element with probability ``p`` and scales the rest by
    ``1 / (1 - p)``; the identity when not training or when ``p == 0``."""
    p = float(p)
    _check_p(p, "dropout")
    if not training or p == 0.0:
        return input
    out = _masked(input, p, tuple(input.shape))
    return _store(input, out) if inplace else out


def _channel_dropout(input, p, training, inplace, op, spatial):
    p = float(p)
    _check_p(p, op)
    if input.ndim not in (spatial + 1, spatial + 2):
        from .._C import ShapeError
        raise ShapeError(f"[{op}] expected a {spatial + 1}-D (unbatched) or {spatial + 2}-D (batched) input, "
                         f"got {tuple(input.shape)}")
    if not training or p == 0.0:
        return input
    # One draw per (sample, channel), broadcast over the spatial dims.
    lead = tuple(input.shape[:input.ndim - spatial])
    out = _masked(input, p, lead + (1,) * spatial)
    return _store(input, out) if inplace else out


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of an (N, C, L) or (C, L) input with probability ``p``."""
    return _channel_dropout(input, p, training, inplace, "dropout1d", 1)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of an (N, C, H, W) or (C, H, W) input with probability ``p``."""
    return _channel_dropout(input, p, training, inplace, "dropout2d", 2)


def _store(input, out):
    input.copy_(out)
    return input

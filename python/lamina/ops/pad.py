"""``pad`` with PyTorch's argument order (the last dim first: ``(left, right, top, bottom, ...)``).
Constant padding joins filled blocks to the input (negative amounts crop); reflect, replicate and
circular padding gather each padded dim through an index, so the gradient is that gather's
(indices that repeat add up). No kernel of its own: ``cat``, ``narrow`` and ``index_select``."""
import numpy as np

from .._creation import full, tensor
from .._tensor import Tensor
from .shape import cat

_MODES = ("constant", "reflect", "replicate", "circular")


def _source_index(n, left, right, mode):
    """For each position of the padded dim, the input position it copies."""
    i = np.arange(-left, n + right)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        return i % n
    period = 2 * (n - 1)  # reflect: mirror about the first and last element, not repeating them
    i = np.abs(i) % period if period else np.zeros_like(i)
    return np.where(i >= n, period - i, i)


def pad(input, pad, mode="constant", value=None):
    """Pads ``input``: ``pad`` holds (before, after) amounts for the last ``len(pad) // 2`` dims, the
    last dim first. ``mode``: 'constant' (``value``, default 0; negative amounts crop), 'reflect'
    (mirror without repeating the edge; amounts below the dim's size), 'replicate' (repeat the
    edge) or 'circular' (wrap around)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"[pad] input must be a Tensor, got {type(input).__name__}")
    amounts = [int(p) for p in pad]
    if len(amounts) % 2 or len(amounts) // 2 > input.ndim:
        raise ValueError(f"[pad] pad must have an even length of at most 2 * input.ndim = {2 * input.ndim}, "
                         f"got {tuple(pad)} for input shape {tuple(input.shape)}")
    if mode not in _MODES:
        raise ValueError(f"[pad] mode must be one of {_MODES}, got {mode!r}")
    if mode != "constant" and value not in (None, 0):
        raise ValueError(f"[pad] value is only used by mode='constant', got value={value!r} with mode={mode!r}")
    out = input
    for j in range(len(amounts) // 2):
        dim = input.ndim - 1 - j
        left, right = amounts[2 * j], amounts[2 * j + 1]
        if left == 0 and right == 0:
            continue
        n = out.shape[dim]
        if mode == "constant":
            out = _pad_constant(out, dim, left, right, 0 if value is None else value)
            continue
        if min(left, right) < 0:
            raise ValueError(f"[pad] negative padding {tuple(pad)} is only supported by mode='constant'")
        if n == 0 or (mode == "reflect" and max(left, right) >= n) or (mode == "circular" and max(left, right) > n):
            raise ValueError(f"[pad] {mode} padding ({left}, {right}) of dim {dim} is too large for input shape "
                             f"{tuple(input.shape)}")
        out = out.index_select(dim, tensor(_source_index(n, left, right, mode)))
    return out


def _pad_constant(x, dim, left, right, value):
    n = x.shape[dim]
    if left + right + n < 0:
        raise ValueError(f"[pad] cropping ({left}, {right}) leaves a negative size of dim {dim} (size {n})")
    if left < 0 or right < 0:
        lo, hi = max(-left, 0), n - max(-right, 0)
        x = x.narrow(dim, lo, max(hi - lo, 0))
        left, right = max(left, 0), max(right, 0)
    parts = []
    for amount in (left, None, right):
        if amount is None:
            parts.append(x)
        elif amount:
            shape = list(x.shape)
            shape[dim] = amount
            parts.append(full(shape, value, dtype=x.dtype))
    return cat(parts, dim) if len(parts) > 1 else x

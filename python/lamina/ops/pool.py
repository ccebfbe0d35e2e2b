"""Pooling with PyTorch's names and arguments: ``max_pool1d/2d``, ``avg_pool1d/2d``,
``adaptive_avg_pool1d/2d`` and ``adaptive_max_pool2d``. Kernels: ``csrc/ops/pool.cpp``, all 2-D
(1-D pooling runs over a height of 1). The kernel computes the output (and, for max pooling, the
index of each maximum) first; the recorded op then only carries what its backward needs."""
from .. import _C
from .._tensor import Tensor
from ..autograd.function import Function
from .conv import _no_double_backward, _tuple

_wrap = Tensor._wrap


class _MaxPool(Function):
    """Gradient routed to each window's maximum through the saved indices."""

    @staticmethod
    def forward(ctx, x, y, indices):
        ctx.save_for_backward(indices)
        ctx.shape = x.shape
        return y

    @staticmethod
    def backward(ctx, g):
        _no_double_backward("max_pool2d")
        (indices,) = ctx.saved_tensors
        return _wrap(_C.max_pool2d_backward(g._t, indices._t, list(ctx.shape))), None, None


class _AvgPool(Function):
    @staticmethod
    def forward(ctx, x, y, options):
        ctx.shape, ctx.options = x.shape, options
        return y

    @staticmethod
    def backward(ctx, g):
        _no_double_backward("avg_pool2d")
        return _wrap(_C.avg_pool2d_backward(g._t, list(ctx.shape), **ctx.options)), None, None


def _as_4d(input, spatial, op):
    """``input`` as (N, C, H, W), and a function restoring the caller's layout."""
    if not isinstance(input, Tensor):
        raise TypeError(f"[{op}] input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"[{op}] expected a {spatial + 1}-D (unbatched) or {spatial + 2}-D (batched) input, "
                         f"got shape {tuple(input.shape)}")
    unbatched = input.ndim == spatial + 1
    x = input.unsqueeze(0) if unbatched else input
    if spatial == 1:
        x = x.unsqueeze(2)

    def restore(t):
        if spatial == 1:
            t = t.squeeze(2)
        return t.squeeze(0) if unbatched else t
    return x, restore


def _window_options(op, spatial, kernel_size, stride, padding, dilation=1):
    k = _tuple(kernel_size, spatial, "kernel_size", op)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _tuple(stride, spatial, "stride", op)
    p = _tuple(padding, spatial, "padding", op)
    d = _tuple(dilation, spatial, "dilation", op)
    if spatial == 1:
        k, s, p, d = (1,) + k, (1,) + s, (0,) + p, (1,) + d
    return {"kernel": k, "stride": s, "padding": p, "dilation": d}


def _max_pool(op, spatial, input, options, return_indices):
    x, restore = _as_4d(input, spatial, op)
    y, idx = _C.max_pool2d(x._t, **options)
    idx = _wrap(idx)
    out = restore(_MaxPool.apply(x, y, idx))
    return (out, restore(idx)) if return_indices else out


def _avg_pool(op, spatial, input, options):
    x, restore = _as_4d(input, spatial, op)
    return restore(_AvgPool.apply(x, _C.avg_pool2d(x._t, **options), options))


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Maximum over ``kernel_size`` windows of (N, C, H, W) or (C, H, W) input, ``stride``
    defaulting to ``kernel_size``; padding (at most half the kernel) counts as -inf. With
    ``return_indices``, also the flat index (h * W + w) of each maximum in its plane."""
    options = _window_options("max_pool2d", 2, kernel_size, stride, padding, dilation)
    return _max_pool("max_pool2d", 2, input, dict(options, ceil_mode=bool(ceil_mode)), return_indices)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Maximum over windows of (N, C, L) or (C, L) input; arguments as in :func:`max_pool2d`."""
    options = _window_options("max_pool1d", 1, kernel_size, stride, padding, dilation)
    return _max_pool("max_pool1d", 1, input, dict(options, ceil_mode=bool(ceil_mode)), return_indices)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over ``kernel_size`` windows of (N, C, H, W) or (C, H, W) input. The divisor is
    ``divisor_override`` when given, else the window's size counting the zero padding
    (``count_include_pad``) or only the input elements it covers."""
    options = _window_options("avg_pool2d", 2, kernel_size, stride, padding)
    if divisor_override is not None and int(divisor_override) <= 0:
        raise ValueError(f"[avg_pool2d] divisor_override must be positive, got {divisor_override!r}")
    options.update(ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad),
                   divisor_override=int(divisor_override or 0))
    return _avg_pool("avg_pool2d", 2, input, options)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over windows of (N, C, L) or (C, L) input; arguments as in :func:`avg_pool2d`."""
    options = _window_options("avg_pool1d", 1, kernel_size, stride, padding)
    options.update(ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad))
    return _avg_pool("avg_pool1d", 1, input, options)


def _output_size(output_size, input, spatial, op):
    """PyTorch's output_size: an int, or a tuple whose None entries keep the input's size."""
    if isinstance(output_size, int):
        return (1,) * (2 - spatial) + (int(output_size),) * spatial
    sizes = tuple(output_size)
    if len(sizes) != spatial:
        raise ValueError(f"[{op}] output_size must be an int or a tuple of {spatial}, got {output_size!r}")
    sizes = tuple(input.shape[-spatial + i] if s is None else int(s) for i, s in enumerate(sizes))
    return (1,) * (2 - spatial) + sizes


def adaptive_avg_pool2d(input, output_size):
    """Mean over the windows that split each plane evenly into ``output_size`` (window i of n over
    a length L spans [floor(i L / n), ceil((i + 1) L / n)))."""
    out = _output_size(output_size, input, 2, "adaptive_avg_pool2d")
    return _avg_pool("adaptive_avg_pool2d", 2, input, {"output_size": out})


def adaptive_avg_pool1d(input, output_size):
    """Mean over ``output_size`` even windows of (N, C, L) or (C, L) input."""
    out = _output_size(_tuple(output_size, 1, "output_size", "adaptive_avg_pool1d"), input, 1, "adaptive_avg_pool1d")
    return _avg_pool("adaptive_avg_pool1d", 1, input, {"output_size": out})


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Maximum over the windows of :func:`adaptive_avg_pool2d`; with ``return_indices``, also the
    flat index of each maximum in its plane."""
    out = _output_size(output_size, input, 2, "adaptive_max_pool2d")
    return _max_pool("adaptive_max_pool2d", 2, input, {"output_size": out}, return_indices)


TENSOR_METHODS = []

"""Convolutions: ``conv1d``, ``conv2d`` (NCHW) and ``conv_transpose2d`` with PyTorch's arguments.
Every form runs on the three 2-D kernels of ``csrc/ops/conv.cpp`` (forward, gradient for the input,
gradient for the weight): a 1-D convolution is a 2-D one over a height of 1, and a transposed
convolution's forward is a convolution's input gradient, so its gradients are a convolution's
forward and weight gradient."""
from .. import _C
from .._tensor import Tensor
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled

_wrap = Tensor._wrap


def _tuple(value, n, name, op):
    """``value`` as an n-tuple of ints (an int is repeated), checked."""
    if isinstance(value, int):
        return (int(value),) * n
    try:
        out = tuple(int(v) for v in value)
    except TypeError:
        raise TypeError(f"[{op}] {name} must be an int or a tuple of {n} ints, got {value!r}") from None
    if len(out) != n:
        raise ValueError(f"[{op}] {name} must be an int or a tuple of {n} ints, got {value!r}")
    return out


def _no_double_backward(op):
    if is_grad_enabled():
        raise NotImplementedError(f"[{op}] double backward (create_graph=True) is not supported yet")


class _Conv(Function):
    """y = conv2d(x, w) + b on 4-D tensors; args: (stride, dilation, pad_begin, pad_end, groups)."""

    @staticmethod
    def forward(ctx, x, w, b, args):
        ctx.save_for_backward(x, w)
        ctx.args = args
        ctx.has_bias = b is not None
        return _C.conv2d(x._t, w._t, b._t if b is not None else None, *args)

    @staticmethod
    def backward(ctx, g):
        _no_double_backward("conv2d")
        x, w = ctx.saved_tensors
        g = g._t
        dx = _wrap(_C.conv2d_backward_data(g, w._t, x.shape[2], x.shape[3], *ctx.args)) if x.requires_grad else None
        dw = _wrap(_C.conv2d_backward_weight(x._t, g, w.shape[2], w.shape[3], *ctx.args)) if w.requires_grad else None
        db = _wrap(g).sum((0, 2, 3)) if ctx.has_bias else None
        return dx, dw, db, None


class _ConvTranspose(Function):
    """The input gradient of a convolution, as a forward op; args as in _Conv plus the output size."""

    @staticmethod
    def forward(ctx, x, w, out_hw, args):
        ctx.save_for_backward(x, w)
        ctx.args = args
        return _C.conv2d_backward_data(x._t, w._t, out_hw[0], out_hw[1], *args)

    @staticmethod
    def backward(ctx, g):
        _no_double_backward("conv_transpose2d")
        x, w = ctx.saved_tensors
        dx = _wrap(_C.conv2d(g._t, w._t, None, *ctx.args)) if x.requires_grad else None
        dw = _wrap(_C.conv2d_backward_weight(g._t, x._t, w.shape[2], w.shape[3], *ctx.args)) if w.requires_grad else None
        return dx, dw, None, None


def _check_tensors(op, input, weight, bias, spatial):
    for name, t in (("input", input), ("weight", weight)) + ((("bias", bias),) if bias is not None else ()):
        if not isinstance(t, Tensor):
            raise TypeError(f"[{op}] {name} must be a Tensor, got {type(t).__name__}")
    if input.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"[{op}] expected a {spatial + 1}-D (unbatched) or {spatial + 2}-D (batched) input, "
                         f"got shape {tuple(input.shape)}")
    if weight.ndim != spatial + 2:
        raise ValueError(f"[{op}] expected a {spatial + 2}-D weight, got shape {tuple(weight.shape)} "
                         f"for input shape {tuple(input.shape)}")


def _padding(padding, kernel, dilation, stride, op):
    """(pad_begin, pad_end) per spatial dim for an int, a tuple, 'valid' or 'same'."""
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * n, (0,) * n
        if padding != "same":
            raise ValueError(f"[{op}] padding must be 'same', 'valid', an int or a tuple, got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"[{op}] padding='same' is not supported for strided convolutions (stride {stride})")
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        # An odd total puts the extra row/column after the image, as PyTorch does.
        return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)
    p = _tuple(padding, n, "padding", op)
    if min(p) < 0:
        raise ValueError(f"[{op}] padding must be non-negative, got {padding!r}")
    return p, p


def _conv(op, spatial, input, weight, bias, stride, padding, dilation, groups):
    _check_tensors(op, input, weight, bias, spatial)
    stride = _tuple(stride, spatial, "stride", op)
    dilation = _tuple(dilation, spatial, "dilation", op)
    begin, end = _padding(padding, tuple(weight.shape[2:]), dilation, stride, op)
    unbatched = input.ndim == spatial + 1
    x = input.unsqueeze(0) if unbatched else input
    w = weight
    if spatial == 1:  # a height of 1
        x, w = x.unsqueeze(2), w.unsqueeze(2)
        stride, dilation, begin, end = (1,) + stride, (1,) + dilation, (0,) + begin, (0,) + end
    y = _Conv.apply(x, w, bias, (stride, dilation, begin, end, int(groups)))
    if spatial == 1:
        y = y.squeeze(2)
    return y.squeeze(0) if unbatched else y


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) of ``input`` (N, C, H, W) or (C, H, W) with ``weight``
    (out_channels, C / groups, kH, kW), plus ``bias`` (out_channels,). ``padding``: an int, a pair,
    ``'valid'`` (none) or ``'same'`` (output as large as the input; stride 1 only)."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution of ``input`` (N, C, L) or (C, L) with ``weight`` (out_channels, C / groups, k);
    arguments as in :func:`conv2d`."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-D convolution (the gradient of :func:`conv2d` with respect to its input) of
    ``input`` (N, C, H, W) or (C, H, W) with ``weight`` (C, out_channels / groups, kH, kW). The output
    is ``(H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1`` high (and
    likewise wide); ``output_padding`` picks among the input sizes a strided convolution maps to H."""
    op = "conv_transpose2d"
    _check_tensors(op, input, weight, bias, 2)
    stride = _tuple(stride, 2, "stride", op)
    dilation = _tuple(dilation, 2, "dilation", op)
    pad = _tuple(padding, 2, "padding", op)
    out_pad = _tuple(output_padding, 2, "output_padding", op)
    if min(pad) < 0:
        raise ValueError(f"[{op}] padding must be non-negative, got {padding!r}")
    if any(not 0 <= op_ < max(s, d) for op_, s, d in zip(out_pad, stride, dilation)):
        raise ValueError(f"[{op}] output_padding {out_pad} must be smaller than stride {stride} or dilation {dilation}")
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    if weight.shape[0] != x.shape[1]:
        raise ValueError(f"[{op}] weight shape {tuple(weight.shape)} expects {weight.shape[0]} input channels, "
                         f"got input shape {tuple(input.shape)}")
    out_hw = tuple((n - 1) * s - 2 * p + d * (k - 1) + o + 1
                   for n, s, p, d, k, o in zip(x.shape[2:], stride, pad, dilation, weight.shape[2:], out_pad))
    if min(out_hw) < 1:
        raise ValueError(f"[{op}] output size {out_hw} is empty for input shape {tuple(input.shape)} and weight "
                         f"shape {tuple(weight.shape)}")
    y = _ConvTranspose.apply(x, weight, out_hw, (stride, dilation, pad, pad, int(groups)))
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1)
    return y.squeeze(0) if unbatched else y


TENSOR_METHODS = []

"""Batch norm (statistics per channel over the batch and spatial dims) and group norm
(statistics per sample and channel group). Batch norm is one Function whose forward and
backward are each one fused kernel call (``csrc/ops/batch_norm.cpp`` ->
``csrc/cpu/batch_norm_kernels.cpp``); the kernel also moves the running statistics in place."""
from .. import _C
from .._C import ShapeError
from .._tensor import Tensor
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from .norm import layer_norm

_wrap = Tensor._wrap


def _raw(t):
    return t._t if t is not None else None


def _maybe(t):
    return _wrap(t) if t is not None else None


def _channel_view(t, ndim):
    """A per-channel vector (C,) shaped (1, C, 1, ...) to broadcast against an ndim input."""
    return t.reshape((1, -1) + (1,) * (ndim - 2))


def _affine(y, weight, bias):
    if weight is not None:
        y = y * _channel_view(weight, y.ndim)
    if bias is not None:
        y = y + _channel_view(bias, y.ndim)
    return y


class BatchNorm(Function):
    """Training normalises with the batch's statistics (and moves the running buffers, which
    are never differentiated); eval with the running ones, so its gradient is a per-channel
    scale."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        y, mean, invstd = _C.batch_norm_forward(x._t, _raw(weight), _raw(bias), _raw(running_mean),
                                                _raw(running_var), training, momentum, eps)
        ctx.save_for_backward(x, weight, _wrap(mean), _wrap(invstd))
        ctx.args = (training, bias is not None)
        return y

    @staticmethod
    def backward(ctx, g):
        if is_grad_enabled():
            raise NotImplementedError("[batch_norm] double backward (create_graph=True) is not supported yet")
        x, weight, mean, invstd = ctx.saved_tensors
        training, has_bias = ctx.args
        dx, dw, db = _C.batch_norm_backward(g._t, x._t, mean._t, invstd._t, _raw(weight), training,
                                            weight is not None, has_bias)
        return _wrap(dx), _maybe(dw), _maybe(db), None, None, None, None, None


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalises each channel (dim 1) of an (N, C, *) input. Training uses the batch's biased
    statistics and, when given, moves the running buffers by ``momentum`` towards the batch
    mean and the unbiased batch variance (in place; an empty batch leaves them alone);
    otherwise the running statistics are used."""
    if not isinstance(input, Tensor):
        raise ShapeError(f"[batch_norm] expected an input of shape (N, C, *), got {type(input).__name__}")
    return BatchNorm.apply(input, weight, bias, running_mean, running_var, bool(training), float(momentum),
                           float(eps))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Splits the C channels of an (N, C, *) input into ``num_groups`` groups and normalises each
    (sample, group) to zero mean and unit variance, then applies the per-channel affine."""
    if not isinstance(input, Tensor) or input.ndim < 2:
        got = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
        raise ShapeError(f"[group_norm] expected an input of shape (N, C, *), got {got}")
    n, c = input.shape[0], input.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise ValueError(f"[group_norm] num_channels ({c}) must be divisible by num_groups ({num_groups})")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ShapeError(f"[group_norm] {name} must have shape ({c},) for input {tuple(input.shape)}, "
                             f"got {tuple(t.shape)}")
    # Each (sample, group) is one contiguous row: the fused layer-norm kernel does the rest.
    rows = input.reshape(n, num_groups, -1)
    y = layer_norm(rows, [rows.shape[-1]], eps=eps).reshape(input.shape)
    return _affine(y, weight, bias)

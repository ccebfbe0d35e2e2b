"""Losses that are an elementwise function of (input, target) followed by a reduction:
mse, l1, smooth L1, Huber, binary cross-entropy (on probabilities and on logits) and KL
divergence. The two binary cross-entropies are Functions with closed-form gradients so they
stay finite where the composite formula would give 0 * inf."""
import warnings

import numpy as np

from .._C import ShapeError
from .._tensor import Tensor
from ..autograd.function import Function
from ..autograd.grad_mode import no_grad
from . import elementwise as ew

_REDUCTIONS = ("none", "mean", "sum")


def _reduce(loss, reduction, op, batchmean=False):
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if batchmean and reduction == "batchmean":
        return loss.sum() / (loss.shape[0] if loss.ndim else 1)
    allowed = _REDUCTIONS + (("batchmean",) if batchmean else ())
    raise ValueError(f"[{op}] reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}")


def _check_same(input, target, op, broadcast=False):
    """Both tensors of one shape. With ``broadcast`` (the regression losses), differing shapes
    that broadcast are accepted with a warning, as in PyTorch, since they are usually a bug."""
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"[{op}] expected lamina Tensors, got {type(input).__name__} and {type(target).__name__}")
    if tuple(input.shape) == tuple(target.shape):
        return
    msg = f"[{op}] target shape {tuple(target.shape)} differs from input shape {tuple(input.shape)}"
    if broadcast:
        try:
            np.broadcast_shapes(tuple(input.shape), tuple(target.shape))
        except ValueError:
            raise ShapeError(msg + " and the two do not broadcast") from None
        warnings.warn(msg + "; they will be broadcast, which is likely not intended", stacklevel=3)
        return
    raise ShapeError(msg)


def mse_loss(input, target, reduction="mean"):
    """Squared error ``(input - target)**2``, reduced."""
    _check_same(input, target, "mse_loss", broadcast=True)
    return _reduce(ew.square(input - target), reduction, "mse_loss")


def l1_loss(input, target, reduction="mean"):
    """Absolute error ``|input - target|``, reduced."""
    _check_same(input, target, "l1_loss", broadcast=True)
    return _reduce(ew.abs(input - target), reduction, "l1_loss")


def _piecewise_quadratic(input, target, width):
    """``0.5 * d**2`` for ``|d| < width``, ``width * (|d| - 0.5 * width)`` beyond."""
    d = ew.abs(input - target)
    return ew.where(d < width, 0.5 * ew.square(d), width * (d - 0.5 * width))


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """Quadratic (``0.5 * d**2 / beta``) for ``|d| < beta``, ``|d| - 0.5 * beta`` beyond;
    plain L1 when ``beta == 0``."""
    _check_same(input, target, "smooth_l1_loss", broadcast=True)
    if beta < 0:
        raise ValueError(f"[smooth_l1_loss] beta must be non-negative, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction)
    return _reduce(_piecewise_quadratic(input, target, beta) / beta, reduction,
                   "smooth_l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0):
    """Quadratic (``0.5 * d**2``) for ``|d| < delta``, ``delta * (|d| - 0.5 * delta)`` beyond."""
    _check_same(input, target, "huber_loss", broadcast=True)
    if delta <= 0:
        raise ValueError(f"[huber_loss] delta must be positive, got {delta}")
    return _reduce(_piecewise_quadratic(input, target, delta), reduction, "huber_loss")


def _clamped_log(x):
    # PyTorch clamps log terms at -100 so a saturated probability gives a finite loss.
    return ew.clamp_min(ew.log(x), -100.0)


class BinaryCrossEntropy(Function):
    @staticmethod
    def forward(ctx, x, t):
        with no_grad():
            log_x, log_1mx = _clamped_log(x), _clamped_log(1 - x)
            out = -(t * log_x + (1 - t) * log_1mx)
        ctx.save_for_backward(x, t, log_x, log_1mx)
        return out._t

    @staticmethod
    def backward(ctx, g):
        x, t, log_x, log_1mx = ctx.saved_tensors
        dx = g * (x - t) / ew.clamp_min((1 - x) * x, 1e-12)
        return dx, g * (log_1mx - log_x)


class BinaryCrossEntropyWithLogits(Function):
    """``(1 - t) * x + (1 + (pw - 1) * t) * softplus(-x)``, softplus written stably."""

    @staticmethod
    def forward(ctx, x, t, pos_weight):
        with no_grad():
            sp_neg = ew.log1p(ew.exp(-ew.abs(x))) + ew.relu(-x)
            lw = 1 + (pos_weight - 1) * t if pos_weight is not None else None
            out = (1 - t) * x + (sp_neg if lw is None else lw * sp_neg)
        ctx.save_for_backward(x, t, pos_weight, sp_neg)
        return out._t

    @staticmethod
    def backward(ctx, g):
        x, t, pw, sp_neg = ctx.saved_tensors
        s = ew.sigmoid(x)
        if pw is None:
            return g * (s - t), g * -x, None
        lw = 1 + (pw - 1) * t
        return g * (lw * s - pw * t), g * ((pw - 1) * sp_neg - x), g * t * sp_neg


def _check_weight(weight, shape, op, name="weight"):
    if weight is None:
        return
    try:
        np.broadcast_shapes(tuple(weight.shape), tuple(shape))
    except ValueError:
        raise ShapeError(f"[{op}] {name} of shape {tuple(weight.shape)} does not broadcast to the input "
                         f"shape {tuple(shape)}") from None


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """``-(t * log(x) + (1 - t) * log(1 - x))`` on probabilities ``input`` in [0, 1], each log
    clamped at -100; optionally scaled elementwise by ``weight``."""
    _check_same(input, target, "binary_cross_entropy")
    _check_weight(weight, input.shape, "binary_cross_entropy")
    if input.numel():
        with no_grad():
            lo, hi = float(input.min()), float(input.max())
        if not (0.0 <= lo and hi <= 1.0):
            raise ValueError(f"[binary_cross_entropy] all elements of input should be between 0 and 1, "
                             f"got values in [{lo}, {hi}]")
    loss = BinaryCrossEntropy.apply(input, target)
    return _reduce(loss if weight is None else loss * weight, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Binary cross-entropy on ``sigmoid(input)``, computed stably from the logits.
    ``pos_weight`` (broadcast along the last dim, one per class) scales the positive term."""
    op = "binary_cross_entropy_with_logits"
    _check_same(input, target, op)
    _check_weight(weight, input.shape, op)
    _check_weight(pos_weight, input.shape, op, "pos_weight")
    loss = BinaryCrossEntropyWithLogits.apply(input, target, pos_weight)
    return _reduce(loss if weight is None else loss * weight, reduction, op)


def kl_div(input, target, reduction="mean", log_target=False):
    """Pointwise KL divergence ``target * (log(target) - input)`` with ``input`` given as
    log-probabilities (and ``target`` too when ``log_target``); terms with target 0 are 0.
    ``reduction='batchmean'`` divides the sum by the batch size, the true KL divergence."""
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"[kl_div] expected lamina Tensors, got {type(input).__name__} and {type(target).__name__}")
    if log_target:
        loss = ew.exp(target) * (target - input)
    else:
        pos = target > 0
        # log of 1 where target is 0, so neither the value nor the gradient becomes 0 * -inf.
        xlogx = target * ew.log(ew.where(pos, target, 1.0))
        loss = xlogx - target * input
    return _reduce(loss, reduction, "kl_div", batchmean=True)

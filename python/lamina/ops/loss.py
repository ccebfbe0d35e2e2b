"""Classification losses: ``cross_entropy`` (fused log-softmax + loss; the backward rebuilds the
softmax from the saved log-sum-exp) and ``nll_loss``. Kernels: ``csrc/ops/loss.cpp`` →
``csrc/cpu/loss_kernels.cpp``."""
from .. import _C
from .._tensor import Tensor
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled

_wrap = Tensor._wrap
_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}


def _reduction(reduction, op):
    try:
        return _REDUCTIONS[reduction]
    except (KeyError, TypeError):
        raise ValueError(f"[{op}] reduction must be 'none', 'mean' or 'sum', got {reduction!r}") from None


def _t(x):
    return x._t if x is not None else None


def _no_double_backward(op):
    if is_grad_enabled():
        raise NotImplementedError(f"[{op}] double backward (create_graph=True) is not supported yet")


class CrossEntropy(Function):
    @staticmethod
    def forward(ctx, input, target, weight, ignore_index, reduction, label_smoothing):
        loss, lse, denom = _C.cross_entropy_forward(input._t, target._t, _t(weight), ignore_index, reduction,
                                                    label_smoothing)
        ctx.save_for_backward(input, target, weight, _wrap(lse))
        ctx.args = (ignore_index, reduction, label_smoothing, denom)
        return loss

    @staticmethod
    def backward(ctx, g):
        _no_double_backward("cross_entropy")
        input, target, weight, lse = ctx.saved_tensors
        ignore_index, reduction, label_smoothing, denom = ctx.args
        dx = _C.cross_entropy_backward(g._t, input._t, target._t, lse._t, _t(weight), ignore_index, reduction,
                                       label_smoothing, denom)
        return _wrap(dx), None, None, None, None, None


class NllLoss(Function):
    @staticmethod
    def forward(ctx, input, target, weight, ignore_index, reduction):
        loss, denom = _C.nll_loss_forward(input._t, target._t, _t(weight), ignore_index, reduction)
        ctx.save_for_backward(input, target, weight)
        ctx.args = (ignore_index, reduction, denom)
        return loss

    @staticmethod
    def backward(ctx, g):
        _no_double_backward("nll_loss")
        input, target, weight = ctx.saved_tensors
        ignore_index, reduction, denom = ctx.args
        dx = _C.nll_loss_backward(g._t, input._t, target._t, _t(weight), ignore_index, reduction, denom)
        return _wrap(dx), None, None, None, None


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    """Cross entropy between logits ``input`` (C,) or (N, C, d1, ...) and ``target``, as
    ``torch.nn.functional.cross_entropy``.

    ``target`` holds class indices (int64, shape of input without dim 1; entries equal to
    ``ignore_index`` contribute nothing) or class probabilities (float, input's shape).
    ``weight`` (C,) rescales each class; with class indices, ``'mean'`` divides by the summed
    weights of the non-ignored targets. ``label_smoothing`` mixes the target with the uniform
    distribution. ``size_average``/``reduce`` are PyTorch's deprecated spellings of ``reduction``.
    """
    red = _reduction(_legacy_reduction(size_average, reduce, reduction), "cross_entropy")
    return CrossEntropy.apply(input, target, weight, int(ignore_index), red, float(label_smoothing))


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log-likelihood of class-index ``target`` under log-probabilities ``input``
    (C,) or (N, C, d1, ...), as ``torch.nn.functional.nll_loss``: ``-weight[t] * input[t]`` per
    element, ``'mean'`` dividing by the summed weights of the non-ignored targets."""
    red = _reduction(_legacy_reduction(size_average, reduce, reduction), "nll_loss")
    return NllLoss.apply(input, target, weight, int(ignore_index), red)


def _legacy_reduction(size_average, reduce, reduction):
    if size_average is None and reduce is None:
        return reduction
    if reduce is not None and not reduce:
        return "none"
    return "mean" if size_average is None or size_average else "sum"


"""Layer norm and RMS norm over the trailing dims, forward and backward each one fused kernel
pass. Kernel: ``csrc/ops/norm.cpp`` → ``csrc/cpu/norm_kernels.cpp``."""
import numpy as np

from .. import _C
from .._tensor import Tensor
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled

_wrap = Tensor._wrap


def _maybe(t):
    return _wrap(t) if t is not None else None


class Norm(Function):
    @staticmethod
    def forward(ctx, x, normalized_shape, weight, bias, eps, rms):
        y, mean, rstd = _C.norm_forward(x._t, normalized_shape, weight._t if weight is not None else None,
                                        bias._t if bias is not None else None, eps, rms)
        ctx.save_for_backward(x, weight, _wrap(mean), _wrap(rstd))
        ctx.args = (normalized_shape, bias is not None, rms)
        return y

    @staticmethod
    def backward(ctx, g):
        if is_grad_enabled():
            raise NotImplementedError("[layer_norm] double backward (create_graph=True) is not supported yet")
        x, weight, mean, rstd = ctx.saved_tensors
        ns, has_bias, rms = ctx.args
        dx, dw, db = _C.norm_backward(g._t, x._t, mean._t, rstd._t, weight._t if weight is not None else None,
                                      has_bias, ns, rms)
        return _wrap(dx), None, _maybe(dw), _maybe(db), None, None


def _shape(normalized_shape):
    return [int(normalized_shape)] if isinstance(normalized_shape, (int, np.integer)) else [int(s) for s in normalized_shape]


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalises over the trailing ``normalized_shape`` dims to zero mean and unit variance
    (biased), then scales by ``weight`` and shifts by ``bias``."""
    return Norm.apply(input, _shape(normalized_shape), weight, bias, float(eps), False)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """Divides by the root mean square over the trailing ``normalized_shape`` dims, then scales
    by ``weight``. ``eps`` defaults to the machine epsilon of the input's dtype, as in PyTorch."""
    if eps is None:
        eps = float(np.finfo(np.float64 if input.dtype.name == "float64" else np.float32).eps)
    return Norm.apply(input, _shape(normalized_shape), weight, None, float(eps), True)


TENSOR_METHODS = []

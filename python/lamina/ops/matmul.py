"""Matrix products: ``matmul``/``@`` (NumPy semantics: 1-D operands, broadcast batch dims) and
``linear`` with bias and activation fused into the GEMM epilogue. Kernel: ``csrc/ops/matmul.cpp``
→ ``csrc/cpu/gemm_kernels.cpp``. Gradients run through the same kernel, with transposes passed
as strides (no copies); broadcast batch dims are summed by the autograd engine."""
from .. import _C
from .._tensor import Tensor
from ..autograd.function import Function, _NO_CTX
from .elementwise import _SavesOperands

_wrap = Tensor._wrap
_ACTIVATIONS = {None: 0, "relu": 1, "gelu": 2, "gelu_tanh": 3, "silu": 4}


def _mT(t):
    return t.transpose(-2, -1)


class Matmul(_SavesOperands):
    kernel = staticmethod(_C.matmul)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        # Work with matrices: 1-D operands become a row (a) or a column (b), as in forward.
        a2 = a.unsqueeze(0) if a.ndim == 1 else a
        b2 = b.unsqueeze(-1) if b.ndim == 1 else b
        if a.ndim == 1 and b.ndim == 1:
            g2 = g.reshape(1, 1)
        elif a.ndim == 1:
            g2 = g.unsqueeze(-2)
        elif b.ndim == 1:
            g2 = g.unsqueeze(-1)
        else:
            g2 = g
        ga = matmul(g2, _mT(b2)) if a.requires_grad else None
        gb = matmul(_mT(a2), g2) if b.requires_grad else None
        if ga is not None and a.ndim == 1:
            ga = ga.sum(dim=list(range(ga.ndim - 2))) if ga.ndim > 2 else ga
            ga = ga.reshape(a.shape)
        if gb is not None and b.ndim == 1:
            gb = gb.sum(dim=list(range(gb.ndim - 2))) if gb.ndim > 2 else gb
            gb = gb.reshape(b.shape)
        return ga, gb


def matmul(input, other):
    """Matrix product with NumPy/PyTorch semantics (batched, broadcast, 1-D operands)."""
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError(f"[matmul] expected two Tensors, got {type(input).__name__} and {type(other).__name__}")
    return Matmul.apply(input, other)


class Linear(Function):
    @staticmethod
    def forward(ctx, x, w, b, act):
        bt = b._t if b is not None else None
        ctx.act = act
        if act is None or ctx is _NO_CTX:
            ctx.save_for_backward(x, w, None)
            return _C.linear(x._t, w._t, bt, _ACTIVATIONS[act])
        # The activation's derivative needs the pre-activation: keep it, activate separately.
        pre = _C.linear(x._t, w._t, bt, 0)
        ctx.save_for_backward(x, w, _wrap(pre))
        return _C.unary(_C.UNARY[act], pre)

    @staticmethod
    def backward(ctx, g):
        x, w, pre = ctx.saved_tensors
        if ctx.act is not None:
            from .elementwise import _B
            code = {"relu": "relu_backward", "gelu": "gelu_backward", "gelu_tanh": "gelu_tanh_backward",
                    "silu": "silu_backward"}[ctx.act]
            g = _wrap(_C.binary_grad(_B[code], pre._t, g._t, []))
        g2 = g.reshape(-1, g.shape[-1]) if g.ndim != 2 else g
        x2 = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
        gx = matmul(g, w) if x.requires_grad else None
        gw = matmul(_mT(g2), x2) if w.requires_grad else None
        gb = g2.sum(0) if g.ndim else g
        return gx, gw, gb, None


def linear(input, weight, bias=None, activation=None):
    """``input @ weight.T + bias``, then ``activation`` (None, 'relu', 'gelu', 'gelu_tanh', 'silu'),
    all in one GEMM pass."""
    if activation not in _ACTIVATIONS:
        raise ValueError(f"[linear] activation must be one of {sorted(k for k in _ACTIVATIONS if k)} or None, "
                         f"got {activation!r}")
    return Linear.apply(input, weight, bias, activation)


def _rmatmul(self, other):
    return matmul(other, self)


TENSOR_METHODS = ["matmul"]
DUNDERS = {"__matmul__": matmul, "__rmatmul__": _rmatmul}

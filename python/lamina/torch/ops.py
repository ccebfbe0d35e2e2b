"""lamina's kernels as PyTorch operators (``torch.ops.lamina.*``).

Each kernel is a ``torch.library`` custom op with a fake (shape-only) implementation, so it
runs under ``torch.compile``, and a backward that is itself made of lamina custom ops. Tensors
cross in both directions through DLPack without copies. The forward ops return whatever the
backward needs (layer norm's mean and rstd), because a custom op keeps no state between calls.
"""
import torch
from torch.library import custom_op

from .. import _C
from ..ops.matmul import _ACTIVATIONS
from ._convert import to_lamina, to_torch, maybe_lamina

_lt = to_lamina


def _raw(t):
    return None if t is None else _lt(t)._t


def _out(impl):
    from .._tensor import Tensor
    return to_torch(Tensor._wrap(impl))


# ---------------------------------------------------------------- matmul
@custom_op("lamina::matmul", mutates_args=())
def _matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _out(_C.matmul(_raw(a), _raw(b)))


@_matmul.register_fake
def _(a, b):
    batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return a.new_empty((*batch, a.shape[-2], b.shape[-1]), dtype=torch.promote_types(a.dtype, b.dtype))


def _matmul_setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _matmul_backward(ctx, g):
    a, b = ctx.saved_tensors
    ga = _matmul(g, b.mT).sum_to_size(a.shape) if ctx.needs_input_grad[0] else None
    gb = _matmul(a.mT, g).sum_to_size(b.shape) if ctx.needs_input_grad[1] else None
    return ga, gb


_matmul.register_autograd(_matmul_backward, setup_context=_matmul_setup)


def matmul(a, b):
    """``torch.matmul`` on lamina's GEMM (1-D operands, broadcast batch dims)."""
    if a.dim() == 0 or b.dim() == 0:
        raise ValueError(f"[lamina.torch.matmul] both operands need at least one dim, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    out = _matmul(a.unsqueeze(0) if a.dim() == 1 else a, b.unsqueeze(-1) if b.dim() == 1 else b)
    if b.dim() == 1:
        out = out.squeeze(-1)
    if a.dim() == 1:
        out = out.squeeze(-1 if b.dim() == 1 else -2)
    return out


# ---------------------------------------------------------------- linear
@custom_op("lamina::linear", mutates_args=())
def _linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    return _out(_C.linear(_raw(x), _raw(w), _raw(b), _ACTIVATIONS[None]))


@_linear.register_fake
def _(x, w, b):
    return x.new_empty((*x.shape[:-1], w.shape[0]))


def _linear_setup(ctx, inputs, output):
    x, w, b = inputs
    ctx.save_for_backward(x, w)
    ctx.has_bias = b is not None


def _linear_backward(ctx, g):
    x, w = ctx.saved_tensors
    g2 = g.reshape(-1, g.shape[-1])
    gx = _matmul(g, w) if ctx.needs_input_grad[0] else None
    gw = _matmul(g2.mT, x.reshape(-1, x.shape[-1])) if ctx.needs_input_grad[1] else None
    gb = g2.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
    return gx, gw, gb


_linear.register_autograd(_linear_backward, setup_context=_linear_setup)


def linear(x, weight, bias=None):
    """``torch.nn.functional.linear`` on lamina's GEMM with the bias in its epilogue."""
    return _linear(x, weight, bias)


# ---------------------------------------------------------------- layer norm / RMS norm
@custom_op("lamina::norm_forward", mutates_args=())
def _norm_forward(x: torch.Tensor, normalized_shape: list[int], weight: torch.Tensor | None,
                  bias: torch.Tensor | None, eps: float, rms: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    y, mean, rstd = _C.norm_forward(_raw(x), normalized_shape, _raw(weight), _raw(bias), eps, rms)
    return _out(y), _out(mean), _out(rstd)


@_norm_forward.register_fake
def _(x, normalized_shape, weight, bias, eps, rms):
    rows = x.shape[:x.dim() - len(normalized_shape)]
    return torch.empty_like(x), x.new_empty(rows), x.new_empty(rows)


@custom_op("lamina::norm_backward", mutates_args=())
def _norm_backward(g: torch.Tensor, x: torch.Tensor, mean: torch.Tensor, rstd: torch.Tensor,
                   weight: torch.Tensor | None, has_bias: bool, normalized_shape: list[int],
                   rms: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    dx, dw, db = _C.norm_backward(_raw(g), _raw(x), _raw(mean), _raw(rstd), _raw(weight), has_bias,
                                  normalized_shape, rms)
    # Absent gradients come back as distinct empty tensors: custom-op outputs may not alias.
    return _out(dx), _out(dw) if dw is not None else x.new_empty(0), _out(db) if db is not None else x.new_empty(0)


@_norm_backward.register_fake
def _(g, x, mean, rstd, weight, has_bias, normalized_shape, rms):
    return (torch.empty_like(x), torch.empty_like(weight) if weight is not None else x.new_empty(0),
            x.new_empty(normalized_shape) if has_bias else x.new_empty(0))


def _norm_setup(ctx, inputs, output):
    x, ns, weight, bias, eps, rms = inputs
    _, mean, rstd = output
    ctx.save_for_backward(x, mean, rstd, weight)
    ctx.args = (ns, bias is not None, rms)


def _norm_backward_rule(ctx, g, _gmean, _grstd):
    x, mean, rstd, weight = ctx.saved_tensors
    ns, has_bias, rms = ctx.args
    dx, dw, db = _norm_backward(g.contiguous(), x, mean, rstd, weight, has_bias, ns, rms)
    return dx, None, dw if weight is not None else None, db if has_bias else None, None, None


_norm_forward.register_autograd(_norm_backward_rule, setup_context=_norm_setup)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """``torch.nn.functional.layer_norm`` as one fused lamina kernel pass (forward and backward)."""
    ns = [int(normalized_shape)] if isinstance(normalized_shape, int) else [int(s) for s in normalized_shape]
    return _norm_forward(x, ns, weight, bias, float(eps), False)[0]


def rms_norm(x, normalized_shape, weight=None, eps=None):
    """``torch.nn.functional.rms_norm`` as one fused lamina kernel pass (forward and backward)."""
    ns = [int(normalized_shape)] if isinstance(normalized_shape, int) else [int(s) for s in normalized_shape]
    if eps is None:
        eps = torch.finfo(x.dtype).eps
    return _norm_forward(x, ns, weight, None, float(eps), True)[0]


__all__ = ["matmul", "linear", "layer_norm", "rms_norm", "maybe_lamina"]

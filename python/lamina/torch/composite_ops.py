"""Convolution, attention and cross entropy as PyTorch operators.

These ops' lamina backward needs state the forward keeps in Python (attention's log-sum-exp
and mask layout, convolution's resolved padding, the loss's normaliser), and a custom op can
only hand tensors from forward to backward. So the backward op runs lamina's own forward again
under lamina's autograd and takes lamina's gradients from it: the gradients are exactly
lamina's, at the cost of one extra forward inside backward (for attention that is the same
recomputation a flash backward does anyway). Dropout in attention is refused here, because a
recomputed forward would draw a different mask.
"""
import torch
from torch.library import custom_op

from .. import autograd
from ..autograd.grad_mode import enable_grad
from ..nn import functional as LF
from ._convert import to_lamina, to_torch


def _vjp(fn, inputs, needs, g):
    """lamina's gradients of ``fn(*inputs)`` for the inputs flagged in ``needs``, applied to ``g``.
    Returns one torch tensor per input (an empty one where no gradient was asked for)."""
    lam = [None if t is None else to_lamina(t) for t in inputs]
    wanted = [x for x, n in zip(lam, needs) if n and x is not None]
    for x in wanted:
        x.requires_grad_(True)
    with enable_grad():
        out = fn(*lam)
    grads = iter(autograd.grad(out, wanted, to_lamina(g.contiguous())) if wanted else ())
    return [to_torch(next(grads)) if n and x is not None else inputs[0].new_empty(0) for x, n in zip(lam, needs)]


def _fake_grads(g, tensors, needs, *static):
    return [torch.empty_like(t) if n and t is not None else g.new_empty(0) for t, n in zip(tensors, needs)]


def _register(op, n_grad_inputs):
    """Autograd for ``op`` whose first ``n_grad_inputs`` arguments may need gradients; the rest
    are static. The backward is the custom op ``op.backward_op``."""
    def setup(ctx, inputs, output):
        ctx.save_for_backward(*[t for t in inputs[:n_grad_inputs] if t is not None])
        ctx.present = [t is not None for t in inputs[:n_grad_inputs]]
        ctx.static = inputs[n_grad_inputs:]

    def backward(ctx, g):
        saved = iter(ctx.saved_tensors)
        tensors = [next(saved) if p else None for p in ctx.present]
        needs = [bool(n) for n in ctx.needs_input_grad[:n_grad_inputs]]
        grads = op.backward_op(g, tensors, needs, *ctx.static)
        return (*[gr if n and t is not None else None for gr, n, t in zip(grads, needs, tensors)],
                *[None] * len(ctx.static))

    op.register_autograd(backward, setup_context=setup)


# ---------------------------------------------------------------- conv2d
@custom_op("lamina::conv2d", mutates_args=())
def _conv2d(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, stride: list[int], padding: list[int],
            dilation: list[int], groups: int) -> torch.Tensor:
    return to_torch(LF.conv2d(to_lamina(x), to_lamina(w), None if b is None else to_lamina(b), stride, padding,
                              dilation, groups))


@_conv2d.register_fake
def _(x, w, b, stride, padding, dilation, groups):
    hw = [(x.shape[2 + i] + 2 * padding[i] - dilation[i] * (w.shape[2 + i] - 1) - 1) // stride[i] + 1 for i in range(2)]
    return x.new_empty((x.shape[0], w.shape[0], *hw))


@custom_op("lamina::conv2d_backward", mutates_args=())
def _conv2d_backward(g: torch.Tensor, tensors: list[torch.Tensor | None], needs: list[bool], stride: list[int],
                     padding: list[int], dilation: list[int], groups: int) -> list[torch.Tensor]:
    return _vjp(lambda x, w, b: LF.conv2d(x, w, b, stride, padding, dilation, groups), tensors, needs, g)


_conv2d_backward.register_fake(_fake_grads)


_conv2d.backward_op = _conv2d_backward
_register(_conv2d, 3)


def _pair(v):
    return [int(v), int(v)] if isinstance(v, int) else [int(a) for a in v]


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``torch.nn.functional.conv2d`` (batched NCHW, numeric padding) on lamina's kernels."""
    if isinstance(padding, str) or x.dim() != 4:
        raise ValueError(f"[lamina.torch.conv2d] expects a 4-d (N, C, H, W) input and numeric padding, got "
                         f"shape {tuple(x.shape)} and padding {padding!r}")
    return _conv2d(x, weight, bias, _pair(stride), _pair(padding), _pair(dilation), int(groups))


@custom_op("lamina::conv_transpose2d", mutates_args=())
def _conv_transpose2d(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, stride: list[int],
                      padding: list[int], output_padding: list[int], groups: int, dilation: list[int]) -> torch.Tensor:
    return to_torch(LF.conv_transpose2d(to_lamina(x), to_lamina(w), None if b is None else to_lamina(b), stride,
                                        padding, output_padding, groups, dilation))


@_conv_transpose2d.register_fake
def _(x, w, b, stride, padding, output_padding, groups, dilation):
    hw = [(x.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (w.shape[2 + i] - 1) + output_padding[i] + 1
          for i in range(2)]
    return x.new_empty((x.shape[0], w.shape[1] * groups, *hw))


@custom_op("lamina::conv_transpose2d_backward", mutates_args=())
def _conv_transpose2d_backward(g: torch.Tensor, tensors: list[torch.Tensor | None], needs: list[bool],
                               stride: list[int], padding: list[int], output_padding: list[int], groups: int,
                               dilation: list[int]) -> list[torch.Tensor]:
    return _vjp(lambda x, w, b: LF.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation),
                tensors, needs, g)


_conv_transpose2d_backward.register_fake(_fake_grads)
_conv_transpose2d.backward_op = _conv_transpose2d_backward
_register(_conv_transpose2d, 3)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """``torch.nn.functional.conv_transpose2d`` (batched NCHW) on lamina's kernels."""
    if x.dim() != 4:
        raise ValueError(f"[lamina.torch.conv_transpose2d] expects a 4-d (N, C, H, W) input, got shape {tuple(x.shape)}")
    return _conv_transpose2d(x, weight, bias, _pair(stride), _pair(padding), _pair(output_padding), int(groups),
                             _pair(dilation))


# ---------------------------------------------------------------- scaled_dot_product_attention
@custom_op("lamina::sdpa", mutates_args=())
def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, is_causal: bool,
          scale: float | None, enable_gqa: bool) -> torch.Tensor:
    return to_torch(LF.scaled_dot_product_attention(to_lamina(q), to_lamina(k), to_lamina(v),
                                                    None if mask is None else to_lamina(mask), 0.0, is_causal, scale,
                                                    enable_gqa))


@_sdpa.register_fake
def _(q, k, v, mask, is_causal, scale, enable_gqa):
    return q.new_empty((*q.shape[:-1], v.shape[-1]))


@custom_op("lamina::sdpa_backward", mutates_args=())
def _sdpa_backward(g: torch.Tensor, tensors: list[torch.Tensor | None], needs: list[bool], is_causal: bool,
                   scale: float | None, enable_gqa: bool) -> list[torch.Tensor]:
    return _vjp(lambda q, k, v, m: LF.scaled_dot_product_attention(q, k, v, m, 0.0, is_causal, scale, enable_gqa),
                tensors, needs, g)


_sdpa_backward.register_fake(_fake_grads)


_sdpa.backward_op = _sdpa_backward
_register(_sdpa, 4)


def scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """``torch.nn.functional.scaled_dot_product_attention`` on lamina's fused flash kernel."""
    if dropout_p:
        raise NotImplementedError("[lamina.torch.scaled_dot_product_attention] dropout_p > 0 is not supported "
                                  "through the PyTorch bridge; use dropout_p=0.0")
    return _sdpa(q, k, v, attn_mask, bool(is_causal), None if scale is None else float(scale), bool(enable_gqa))


# ---------------------------------------------------------------- cross_entropy
@custom_op("lamina::cross_entropy", mutates_args=())
def _cross_entropy(x: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, ignore_index: int,
                   reduction: str, label_smoothing: float) -> torch.Tensor:
    return to_torch(LF.cross_entropy(to_lamina(x), to_lamina(target), None if weight is None else to_lamina(weight),
                                     ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing))


@_cross_entropy.register_fake
def _(x, target, weight, ignore_index, reduction, label_smoothing):
    if reduction == "none":
        return x.new_empty(target.shape if not target.is_floating_point() else x.shape[:1] + x.shape[2:])
    return x.new_empty(())


@custom_op("lamina::cross_entropy_backward", mutates_args=())
def _cross_entropy_backward(g: torch.Tensor, tensors: list[torch.Tensor | None], needs: list[bool],
                            ignore_index: int, reduction: str, label_smoothing: float) -> list[torch.Tensor]:
    return _vjp(lambda x, t, w: LF.cross_entropy(x, t, w, ignore_index=ignore_index, reduction=reduction,
                                                 label_smoothing=label_smoothing), tensors, needs, g)


_cross_entropy_backward.register_fake(_fake_grads)


_cross_entropy.backward_op = _cross_entropy_backward
_register(_cross_entropy, 3)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """``torch.nn.functional.cross_entropy`` on lamina's fused kernel (logits (N, C) or (N, C, d...))."""
    return _cross_entropy(input, target, weight, int(ignore_index), str(reduction), float(label_smoothing))

"""Scaled dot-product attention, forward and backward each one fused kernel that never builds
the L x S score matrix. Kernel: ``csrc/ops/attention.cpp`` → ``csrc/cpu/attention_kernels.cpp``."""
from .. import _C
from .._tensor import Tensor
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled

_wrap = Tensor._wrap


class Attention(Function):
    @staticmethod
    def forward(ctx, q, k, v, mask, dropout_p, is_causal, scale, enable_gqa):
        m = mask._t if mask is not None else None
        out, lse, seed, offset = _C.attention_forward(q._t, k._t, v._t, m, dropout_p, is_causal, scale, enable_gqa)
        ctx.save_for_backward(q, k, v, _wrap(out), _wrap(lse))
        # The mask gets no gradient; keeping its _C tensor avoids tracking its version.
        ctx.args = (m, dropout_p, is_causal, scale, enable_gqa, seed, offset)
        return out

    @staticmethod
    def backward(ctx, g):
        if is_grad_enabled():
            raise NotImplementedError("[scaled_dot_product_attention] double backward (create_graph=True) "
                                      "is not supported yet")
        q, k, v, out, lse = ctx.saved_tensors
        m, dropout_p, is_causal, scale, enable_gqa, seed, offset = ctx.args
        dq, dk, dv = _C.attention_backward(g._t, q._t, k._t, v._t, m, out._t, lse._t, dropout_p, is_causal, scale,
                                           enable_gqa, seed, offset)
        return _wrap(dq), _wrap(dk), _wrap(dv), None, None, None, None, None


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value, as ``torch.nn.functional.scaled_dot_product_attention``.

    query (..., L, E), key (..., S, E), value (..., S, Ev); key/value batch dims broadcast over
    query's, and with ``enable_gqa`` the heads (dim -3) of query may be a multiple of key's (query
    head h reads key/value head h // (Hq // Hk)). ``attn_mask``: bool (True = take part) or an
    additive float mask, broadcastable to (..., L, S). ``is_causal``: query i sees keys j <= i.
    ``scale`` defaults to 1 / sqrt(E). ``dropout_p`` drops attention weights with the global
    generator (``lamina.manual_seed``), rescaling the kept ones by 1 / (1 - dropout_p). Query rows
    whose keys are all masked out give zeros (and zero gradients), as PyTorch's CPU kernel does.
    """
    return Attention.apply(query, key, value, attn_mask, float(dropout_p), bool(is_causal),
                           None if scale is None else float(scale), bool(enable_gqa))


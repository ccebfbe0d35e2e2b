"""Embedding lookup: rows of a weight matrix picked by integer indices. The gradient scatters
back into the rows that were used (accumulating repeats); the ``padding_idx`` row gets none."""
import numpy as np

from .. import _C
from .._C import ShapeError
from .._tensor import Tensor
from ..autograd.function import Function
from ..autograd.grad_mode import no_grad

_wrap = Tensor._wrap


class Embedding(Function):
    @staticmethod
    def forward(ctx, weight, flat, padding_idx, scale_grad_by_freq):
        ctx.save_for_backward(flat)
        ctx.args = (tuple(weight.shape), padding_idx, scale_grad_by_freq)
        return _C.index_select(weight._t, 0, flat._t)

    @staticmethod
    def backward(ctx, g):
        (flat,) = ctx.saved_tensors
        shape, padding_idx, scale_grad_by_freq = ctx.args
        g = g.contiguous()
        if scale_grad_by_freq:
            idx = flat.numpy()
            counts = np.bincount(idx, minlength=shape[0])[idx].astype(np.float64)
            from .._creation import tensor
            g = g / tensor(counts, dtype=g.dtype).unsqueeze(1)
        from .._creation import zeros
        dw = zeros(shape, dtype=g.dtype)
        _C.index_put_dim_(dw._t, 0, flat._t, g._t, True)
        if padding_idx is not None:
            dw[padding_idx] = 0.0
        return dw, None, None, None


def _check(input, weight, padding_idx):
    if not isinstance(input, Tensor) or input.dtype.name not in ("int64", "int32"):
        got = input.dtype.name if isinstance(input, Tensor) else type(input).__name__
        raise TypeError(f"[embedding] expected indices of dtype int64 or int32, got {got}")
    if weight.ndim != 2:
        raise ShapeError(f"[embedding] weight must be 2-D (num_embeddings, embedding_dim), got {tuple(weight.shape)}")
    n = weight.shape[0]
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError(f"[embedding] padding_idx {padding_idx} must be within num_embeddings ({n})")
        padding_idx %= n
    return padding_idx


def _renorm_(weight, flat, max_norm, norm_type):
    """Rescales, in place, the looked-up rows whose ``norm_type``-norm exceeds ``max_norm``."""
    rows = np.unique(flat.numpy())
    if rows.size == 0:
        return
    with no_grad():
        w = weight.detach()
        from .._creation import tensor
        idx = tensor(rows)
        sel = w.index_select(0, idx)
        norms = sel.abs().pow(norm_type).sum(1, keepdim=True).pow(1.0 / norm_type)
        scale = (max_norm / (norms + 1e-7)).clamp(max=1.0)
        w[idx] = sel * scale


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Looks up rows of ``weight`` (num_embeddings, embedding_dim) for the integer ``input``;
    the result has shape ``input.shape + (embedding_dim,)``. With ``max_norm``, the rows used
    are first renormalised in place, as in PyTorch."""
    padding_idx = _check(input, weight, padding_idx)
    if sparse:
        raise ValueError("[embedding] sparse gradients are not supported; use sparse=False")
    flat = input.reshape(-1)
    if flat.dtype.name != "int64":
        flat = flat.long()
    if flat.numel():
        lo, hi = int(flat.min()), int(flat.max())
        if lo < 0 or hi >= weight.shape[0]:
            raise IndexError(f"[embedding] index {lo if lo < 0 else hi} is out of range for {weight.shape[0]} "
                             "embeddings")
    if max_norm is not None:
        _renorm_(weight, flat, float(max_norm), float(norm_type))
    out = Embedding.apply(weight, flat, padding_idx, bool(scale_grad_by_freq))
    return out.reshape(*input.shape, weight.shape[1])

"""``MultiheadAttention`` with PyTorch's parameters, masks and outputs. Without attention weights
to return it runs the fused ``scaled_dot_product_attention``; with them, the explicit softmax."""
from ..._C import ShapeError
from ..._creation import full, zeros
from ..._tensor import Tensor
from ...ops.matmul import matmul
from ...ops.shape import triu
from .. import functional as F
from .. import init
from ._factory import new_param
from .linear import Linear
from .module import Module


def _additive(mask, dtype, owner, name):
    """A float mask to add to attention scores: bool True (= not allowed) becomes -inf."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise TypeError(f"[{owner}] expected {name} to be a lamina.Tensor, got {type(mask).__name__}")
    if mask.dtype.name == "bool":
        return zeros(tuple(mask.shape), dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))
    if not mask.dtype.is_floating_point:
        raise TypeError(f"[{owner}] only bool and floating types of {name} are supported, got {mask.dtype}")
    return mask.to(dtype=dtype)


def causal_mask(size, dtype=None, device=None):
    """A (size, size) float mask with -inf above the diagonal and 0 elsewhere: position i may
    attend to positions j <= i."""
    return triu(full((size, size), float("-inf"), dtype=dtype, device=device), 1)


class MultiheadAttention(Module):
    """Multi-head attention as ``torch.nn.MultiheadAttention``: ``in_proj_weight`` (3E, E) (or
    ``q/k/v_proj_weight`` when kdim/vdim differ from E), ``in_proj_bias`` (3E) and ``out_proj``.
    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` returns (output, weights or None). Bool masks
    mark positions that may NOT be attended (True = masked); float masks are added to scores.
    ``is_causal`` without an ``attn_mask`` applies the causal mask itself."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"[MultiheadAttention] embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"[MultiheadAttention] embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads})")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("[MultiheadAttention] add_bias_kv and add_zero_attn are not supported")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, float(dropout)
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim = embed_dim // num_heads
        self.batch_first = batch_first
        self.bias_k = self.bias_v = None
        self.add_zero_attn = False
        if self._qkv_same_embed_dim:
            self.in_proj_weight = new_param(3 * embed_dim, embed_dim, dtype=dtype, device=device)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = new_param(embed_dim, embed_dim, dtype=dtype, device=device)
            self.k_proj_weight = new_param(embed_dim, self.kdim, dtype=dtype, device=device)
            self.v_proj_weight = new_param(embed_dim, self.vdim, dtype=dtype, device=device)
        if bias:
            self.in_proj_bias = new_param(3 * embed_dim, dtype=dtype, device=device)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        self._reset_parameters()

    def _reset_parameters(self):
        for w in (self.in_proj_weight, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
            if w is not None:
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _project(self, query, key, value):
        """q, k, v after the input projections, each (N, L or S, E)."""
        E = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b.narrow(0, 0, E), b.narrow(0, E, E), b.narrow(0, 2 * E, E))
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            if query is key and key is value:
                return F.linear(query, w, b).chunk(3, -1)
            wq, wk, wv = w.narrow(0, 0, E), w.narrow(0, E, E), w.narrow(0, 2 * E, E)
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)

    def _check_shapes(self, query, key, value):
        owner = type(self).__name__
        for name, t, dim in (("query", query, self.embed_dim), ("key", key, self.kdim), ("value", value, self.vdim)):
            if not isinstance(t, Tensor):
                raise TypeError(f"[{owner}] expected {name} to be a lamina.Tensor, got {type(t).__name__}")
            if t.ndim != query.ndim or t.ndim not in (2, 3) or t.shape[-1] != dim:
                layout = "(N, L, E)" if self.batch_first else "(L, N, E)"
                raise ShapeError(f"[{owner}] expected {name} of shape (L, {dim}) or {layout[:-2]}{dim}) matching "
                                 f"the query's rank, got {tuple(t.shape)} (query {tuple(query.shape)})")
        b = 0 if self.batch_first else 1
        if query.ndim == 3 and not (query.shape[b] == key.shape[b] == value.shape[b]):
            raise ShapeError(f"[{owner}] query, key and value must share the batch size, got shapes "
                             f"{tuple(query.shape)}, {tuple(key.shape)} and {tuple(value.shape)}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ShapeError(f"[{owner}] key shape {tuple(key.shape)} does not match value shape {tuple(value.shape)}")

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        owner = type(self).__name__
        self._check_shapes(query, key, value)
        batched = query.ndim == 3
        if not batched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            key_padding_mask = key_padding_mask.unsqueeze(0) if key_padding_mask is not None else None
        elif not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        N, L, S, H, D = query.shape[0], query.shape[1], key.shape[1], self.num_heads, self.head_dim
        q, k, v = self._project(query, key, value)
        q, k, v = (t.reshape(N, -1, H, D).transpose(1, 2) for t in (q, k, v))

        mask = _additive(attn_mask, q.dtype, owner, "attn_mask")
        if mask is not None:
            if mask.ndim == 3:
                if tuple(mask.shape) != (N * H, L, S):
                    raise ShapeError(f"[{owner}] expected a 3-D attn_mask of shape {(N * H, L, S)}, got "
                                     f"{tuple(mask.shape)}")
                mask = mask.reshape(N, H, L, S)
            elif tuple(mask.shape) != (L, S):
                raise ShapeError(f"[{owner}] expected a 2-D attn_mask of shape {(L, S)}, got {tuple(mask.shape)}")
        elif is_causal:
            if L != S:
                raise ShapeError(f"[{owner}] is_causal needs as many queries as keys, got {L} and {S}")
            if key_padding_mask is not None or need_weights:  # else the fused kernel masks by itself
                mask = causal_mask(L, dtype=q.dtype, device=q.device)
        kpm = _additive(key_padding_mask, q.dtype, owner, "key_padding_mask")
        if kpm is not None:
            if tuple(kpm.shape) != (N, S):
                raise ShapeError(f"[{owner}] expected key_padding_mask of shape {(N, S)}, got "
                                 f"{tuple(key_padding_mask.shape)}")
            kpm = kpm.reshape(N, 1, 1, S)
            mask = kpm if mask is None else mask + kpm
        causal_in_kernel = bool(is_causal) and mask is None
        dropout_p = self.dropout if self.training else 0.0

        if need_weights:
            scores = matmul(q, k.transpose(-2, -1)) * (D ** -0.5)
            if mask is not None:
                scores = scores + mask
            weights = F.softmax(scores, -1)
            if dropout_p:
                weights = F.dropout(weights, dropout_p, True)
            out = matmul(weights, v)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p,
                                                 is_causal=causal_in_kernel)
            weights = None
        out = self.out_proj(out.transpose(1, 2).reshape(N, L, self.embed_dim))
        if weights is not None and average_attn_weights:
            weights = weights.mean(1)
        if not batched:
            out = out.squeeze(0)
            weights = weights.squeeze(0) if weights is not None else None
        elif not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"

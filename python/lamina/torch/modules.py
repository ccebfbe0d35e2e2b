"""Drop-in ``torch.nn`` modules whose forward runs on lamina's kernels, and ``patch(model)``
which swaps them into an existing model in place.

Each drop-in subclasses the PyTorch module it replaces and only overrides ``forward``, so
parameters, ``state_dict`` keys, initialisation and ``repr`` stay PyTorch's own; patching
changes an instance's class and nothing else (optimisers keep working on the same tensors).
"""
import torch

from . import composite_ops, ops


class Linear(torch.nn.Linear):
    def forward(self, x):
        return ops.linear(x, self.weight, self.bias)


class LayerNorm(torch.nn.LayerNorm):
    def forward(self, x):
        return ops.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)


class RMSNorm(torch.nn.RMSNorm):
    def forward(self, x):
        return ops.rms_norm(x, self.normalized_shape, self.weight, self.eps)


class Conv2d(torch.nn.Conv2d):
    def forward(self, x):
        if self.padding_mode != "zeros" or isinstance(self.padding, str) or x.dim() != 4:
            return super().forward(x)  # padded copies and unbatched inputs stay on PyTorch's path
        return composite_ops.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose2d(torch.nn.ConvTranspose2d):
    def forward(self, x, output_size=None):
        if output_size is not None or x.dim() != 4:
            return super().forward(x, output_size)
        return composite_ops.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                              self.output_padding, self.groups, self.dilation)


class MultiheadAttention(torch.nn.MultiheadAttention):
    """Runs the projections and lamina's fused attention when no attention weights are asked for
    (how Transformer layers call it); anything else falls back to PyTorch's implementation."""

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        if (need_weights or not self._qkv_same_embed_dim or self.bias_k is not None or query.dim() != 3
                or (self.training and self.dropout > 0) or (is_causal and attn_mask is None)):
            return super().forward(query, key, value, key_padding_mask=key_padding_mask, need_weights=need_weights,
                                   attn_mask=attn_mask, average_attn_weights=average_attn_weights,
                                   is_causal=is_causal)
        if not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        n, L, e = query.shape
        S, h = key.shape[1], self.num_heads
        bias = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None,) * 3
        q, k, v = (ops.linear(t, w, b).view(n, -1, h, e // h).transpose(1, 2)
                   for t, w, b in zip((query, key, value), self.in_proj_weight.chunk(3), bias))
        mask = _additive_mask(attn_mask, key_padding_mask, n, h, L, S, query.dtype)
        out = composite_ops.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = ops.linear(out.transpose(1, 2).reshape(n, L, e), self.out_proj.weight, self.out_proj.bias)
        return (out if self.batch_first else out.transpose(0, 1)), None


def _additive_mask(attn_mask, key_padding_mask, n, h, L, S, dtype):
    """MultiheadAttention's masks (bool True = masked out, or additive) as one additive mask
    (n, h, L, S), or None."""
    if attn_mask is None and key_padding_mask is None:
        return None
    mask = torch.zeros((n, h, L, S), dtype=dtype, device=(attn_mask if attn_mask is not None else key_padding_mask).device)
    for m, shape in ((attn_mask, (-1, h, L, S) if attn_mask is not None and attn_mask.dim() == 3 else (1, 1, L, S)),
                     (key_padding_mask, (n, 1, 1, S))):
        if m is None:
            continue
        m = m.reshape(shape)
        mask = mask.masked_fill(m, float("-inf")) if m.dtype == torch.bool else mask + m
    return mask


# PyTorch class -> lamina-backed subclass. Exact type match: a user's own subclass of
# nn.Linear may override forward, and swapping its class would drop that override.
REPLACEMENTS = {torch.nn.Linear: Linear, torch.nn.LayerNorm: LayerNorm, torch.nn.RMSNorm: RMSNorm,
                torch.nn.Conv2d: Conv2d, torch.nn.ConvTranspose2d: ConvTranspose2d,
                torch.nn.MultiheadAttention: MultiheadAttention}


def patch(model, kinds=None):
    """Makes ``model``'s layers run on lamina kernels, in place, and returns the model.

    ``kinds`` limits the swap to some PyTorch classes (e.g. ``[torch.nn.Linear]``); by default
    every class in ``REPLACEMENTS`` is swapped. Returns ``model`` for chaining."""
    table = REPLACEMENTS if kinds is None else {k: REPLACEMENTS[k] for k in kinds}
    for m in model.modules():
        new = table.get(type(m))
        if new is not None:
            m.__class__ = new
    return model

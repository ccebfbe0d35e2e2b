"""Drop-in ``torch.nn`` modules whose forward runs on lamina's kernels, and ``patch(model)``
which swaps them into an existing model in place.

Each drop-in subclasses the PyTorch module it replaces and only overrides ``forward``, so
parameters, ``state_dict`` keys, initialisation and ``repr`` stay PyTorch's own; patching
changes an instance's class and nothing else (optimisers keep working on the same tensors).
"""
import torch

from . import ops


class Linear(torch.nn.Linear):
    def forward(self, x):
        return ops.linear(x, self.weight, self.bias)


class LayerNorm(torch.nn.LayerNorm):
    def forward(self, x):
        return ops.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)


class RMSNorm(torch.nn.RMSNorm):
    def forward(self, x):
        return ops.rms_norm(x, self.normalized_shape, self.weight, self.eps)


# PyTorch class -> lamina-backed subclass. Exact type match: a user's own subclass of
# nn.Linear may override forward, and swapping its class would drop that override.
REPLACEMENTS = {torch.nn.Linear: Linear, torch.nn.LayerNorm: LayerNorm, torch.nn.RMSNorm: RMSNorm}


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

"""Zero-copy conversion between PyTorch and lamina tensors through DLPack."""
import torch

from .. import _creation


def to_lamina(t):
    """A lamina Tensor sharing ``t``'s memory (no copy; autograd history is not carried)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"[lamina.torch] expected a torch.Tensor, got {type(t).__name__}")
    return _creation.from_dlpack(t.detach())


def to_torch(t):
    """A torch.Tensor sharing lamina Tensor ``t``'s memory (no copy)."""
    return torch.from_dlpack(t.detach())


def maybe_lamina(t):
    return None if t is None else to_lamina(t)

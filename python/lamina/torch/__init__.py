"""lamina's kernels inside PyTorch.

``lamina.torch.ops`` and ``lamina.torch.composite_ops`` register lamina's kernels as PyTorch operators (``torch.ops.lamina.*``)
with autograd and fake implementations (so they also trace under ``torch.compile``);
``lamina.torch.patch(model)`` swaps lamina-backed layers into an existing ``torch.nn`` model;
``to_lamina``/``to_torch`` exchange tensors without copies. PyTorch is an optional dependency:
``pip install "lamina[torch]"``.
"""
try:
    import torch  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised only without torch
    raise ImportError('lamina.torch needs PyTorch: pip install "lamina[torch]"') from e

from ._convert import to_lamina, to_torch  # noqa: E402,F401
from .ops import matmul, linear, layer_norm, rms_norm  # noqa: E402,F401
from .composite_ops import conv2d, conv_transpose2d, scaled_dot_product_attention, cross_entropy  # noqa: E402,F401
from .modules import (patch, Linear, LayerNorm, RMSNorm, Conv2d, ConvTranspose2d,  # noqa: E402,F401
                      MultiheadAttention)

"""Stateless neural-network functions with PyTorch's names."""
from ..ops.elementwise import relu, gelu, silu, sigmoid, tanh, softplus, leaky_relu  # noqa: F401
from ..ops.reduce import softmax, log_softmax  # noqa: F401
from ..ops.indexing import one_hot  # noqa: F401
from ..ops.matmul import linear  # noqa: F401
from ..ops.norm import layer_norm, rms_norm  # noqa: F401

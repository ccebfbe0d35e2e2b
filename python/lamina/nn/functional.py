"""Stateless neural-network functions with PyTorch's names."""
from ..ops.elementwise import relu, gelu, silu, sigmoid, tanh, softplus, leaky_relu  # noqa: F401
from ..ops.reduce import softmax, log_softmax  # noqa: F401
from ..ops.indexing import one_hot  # noqa: F401
from ..ops.matmul import linear  # noqa: F401
from ..ops.norm import layer_norm, rms_norm  # noqa: F401
from ..ops.attention import scaled_dot_product_attention  # noqa: F401
from ..ops.loss import cross_entropy, nll_loss  # noqa: F401
from ..ops.conv import conv1d, conv2d, conv_transpose2d  # noqa: F401
from ..ops.pool import (max_pool1d, max_pool2d, avg_pool1d, avg_pool2d, adaptive_avg_pool1d,  # noqa: F401
                        adaptive_avg_pool2d, adaptive_max_pool2d)
from ..ops.pad import pad  # noqa: F401
from ..ops.dropout import dropout, dropout1d, dropout2d  # noqa: F401
from ..ops.embedding import embedding  # noqa: F401
from ..ops.batch_norm import batch_norm, group_norm  # noqa: F401
from ..ops.pointwise_loss import (mse_loss, l1_loss, smooth_l1_loss, huber_loss, binary_cross_entropy,  # noqa: F401
                                  binary_cross_entropy_with_logits, kl_div)
from ..ops.activation import elu  # noqa: F401

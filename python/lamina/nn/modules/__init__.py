"""Layer classes, one file per family; ``lamina.nn`` re-exports them."""
from .module import Module  # noqa: F401
from .container import Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict  # noqa: F401
from .linear import Identity, Linear, Bilinear, Flatten, Unflatten  # noqa: F401
from .conv import Conv1d, Conv2d, ConvTranspose2d  # noqa: F401
from .pooling import MaxPool1d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d  # noqa: F401
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm, RMSNorm, GroupNorm  # noqa: F401
from .dropout import Dropout, Dropout1d, Dropout2d  # noqa: F401
from .sparse import Embedding  # noqa: F401
from .activation import (ReLU, LeakyReLU, ELU, GELU, SiLU, Tanh, Sigmoid, Softplus, Softmax,  # noqa: F401
                         LogSoftmax)
from .loss import (CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, SmoothL1Loss, HuberLoss, BCELoss,  # noqa: F401
                   BCEWithLogitsLoss, KLDivLoss)
from .rnn import RNNBase, RNN, LSTM, GRU, RNNCellBase, RNNCell, LSTMCell, GRUCell  # noqa: F401
from .attention import MultiheadAttention  # noqa: F401
from .transformer import (TransformerEncoderLayer, TransformerDecoderLayer, TransformerEncoder,  # noqa: F401
                          TransformerDecoder, Transformer)

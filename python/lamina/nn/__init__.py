"""Neural-network building blocks with PyTorch's names: ``Module``, ``Parameter``, layers and
losses. ``lamina.nn.functional`` holds the stateless ops the layers call."""
from . import functional, init  # noqa: F401
from .parameter import Parameter  # noqa: F401
from .modules import *  # noqa: F401,F403
from .modules import Module, Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict  # noqa: F401
from . import utils  # noqa: F401,E402

"""Layer classes, one file per family; ``lamina.nn`` re-exports them."""
from .module import Module  # noqa: F401
from .container import Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict  # noqa: F401

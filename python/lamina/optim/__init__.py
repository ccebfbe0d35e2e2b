"""Optimisers with ``torch.optim``'s names, options and state-dict layout. Each parameter's update
is one fused C++ pass over its elements (``csrc/cpu/optim_kernels.cpp``); learning-rate schedules
live in ``lamina.optim.lr_scheduler``."""
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from .rmsprop import RMSprop
from .adagrad import Adagrad
from . import lr_scheduler

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]

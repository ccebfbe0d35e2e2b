"""Activation layers: thin modules around the functions in ``lamina.nn.functional``."""
from .. import functional as F
from .module import Module, check_input


class _Elementwise(Module):
    """An activation with no parameters; subclasses define ``_fn(x)``."""

    def forward(self, input):
        check_input(self, input, range(0, 65))
        return self._fn(input)


def _inplace(fn, input, inplace):
    # In-place updates of tensors in the autograd graph are refused, so there ``inplace`` falls
    # back to the out-of-place result: the same values, and the graph stays correct.
    if not inplace or input.requires_grad:
        return fn(input)
    return input.copy_(fn(input))


class ReLU(_Elementwise):
    """``max(x, 0)``."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def _fn(self, x):
        return _inplace(F.relu, x, self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(_Elementwise):
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def _fn(self, x):
        return _inplace(lambda t: F.leaky_relu(t, self.negative_slope), x, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(_Elementwise):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def _fn(self, x):
        return _inplace(lambda t: F.elu(t, self.alpha), x, self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(_Elementwise):
    """Gaussian error linear unit, exact or with ``approximate='tanh'``."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"[GELU] approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def _fn(self, x):
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(_Elementwise):
    """``x * sigmoid(x)``."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def _fn(self, x):
        return _inplace(F.silu, x, self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Tanh(_Elementwise):
    def _fn(self, x):
        return F.tanh(x)


class Sigmoid(_Elementwise):
    def _fn(self, x):
        return F.sigmoid(x)


class Softplus(_Elementwise):
    """``log(1 + exp(beta * x)) / beta``, linear above ``threshold``."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def _fn(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


def _softmax_dim(module, x, dim):
    """PyTorch's legacy choice when no dim is given: 0 for 0-, 1- and 3-D inputs, else 1."""
    if dim is not None:
        if not -max(x.ndim, 1) <= dim < max(x.ndim, 1):
            raise IndexError(f"[{type(module).__name__}] dim {dim} is out of range for input of shape "
                             f"{tuple(x.shape)}")
        return dim
    return 0 if x.ndim in (0, 1, 3) else 1


class Softmax(_Elementwise):
    """Softmax along ``dim``."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def _fn(self, x):
        return F.softmax(x, _softmax_dim(self, x, self.dim))

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """Log of the softmax along ``dim``, computed stably."""

    def _fn(self, x):
        return F.log_softmax(x, _softmax_dim(self, x, self.dim))


__all__ = ["ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Tanh", "Sigmoid", "Softplus", "Softmax", "LogSoftmax"]

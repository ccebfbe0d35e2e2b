"""Dropout layers: active in training mode, the identity in eval mode."""
from .. import functional as F
from .module import Module, check_input


class _DropoutNd(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"[{type(self).__name__}] dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zeroes each element with probability ``p`` in training, scaling the rest by 1/(1-p)."""

    def forward(self, input):
        check_input(self, input, range(0, 65))
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """Zeroes whole channels of (N, C, L) or (C, L) inputs with probability ``p``."""

    def forward(self, input):
        check_input(self, input, (2, 3), what="(N, C, L) or (C, L)")
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zeroes whole channels of (N, C, H, W) or (C, H, W) inputs with probability ``p``."""

    def forward(self, input):
        check_input(self, input, (3, 4), what="(N, C, H, W) or (C, H, W)")
        return F.dropout2d(input, self.p, self.training, self.inplace)

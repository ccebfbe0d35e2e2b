"""Convolution layers: Conv1d, Conv2d and ConvTranspose2d over the kernels in
``lamina.nn.functional``. Non-zero padding modes pad explicitly first, then convolve unpadded."""
import math

import numpy as np

from ..._C import ShapeError
from ..._creation import tensor
from .. import functional as F
from .. import init
from ._factory import int_tuple, new_param
from .linear import _uniform_fan_in_
from .module import Module, check_input

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _source_index(n, before, after, mode):
    """For each position of a dim of size ``n`` padded by (before, after), the source position."""
    pos = np.arange(-before, n + after)
    if mode == "reflect":
        period = 2 * (n - 1)
        pos = np.abs(pos) % period if period else np.zeros_like(pos)
        pos = np.where(pos >= n, period - pos, pos)
    elif mode == "replicate":
        pos = np.clip(pos, 0, n - 1)
    else:  # circular
        pos = pos % n
    return tensor(pos)


def mode_pad(x, pads, mode, owner):
    """Pads the trailing dims of ``x`` by ``pads`` ((before, after) per dim, first spatial dim
    first) with values taken from ``x`` itself; an index gather, so gradients scatter back."""
    spatial = x.ndim - len(pads)
    for d, (before, after) in enumerate(pads):
        n = x.shape[spatial + d]
        if mode == "reflect" and max(before, after) >= n:
            raise ValueError(f"[{owner}] reflect padding ({before}, {after}) must be smaller than the input size "
                             f"{n} of dim {spatial + d} (input {tuple(x.shape)})")
        if mode != "reflect" and n == 0 and before + after:
            raise ValueError(f"[{owner}] cannot {mode}-pad an empty dim {spatial + d} (input {tuple(x.shape)})")
        if before or after:
            x = x.index_select(spatial + d, _source_index(n, before, after, mode))
    return x


class _ConvNd(Module):
    """Shared by the convolution layers: parameters, initialisation, argument checks and the
    unbatched-input handling. Subclasses set ``_dims`` and ``_layout`` and define ``_conv``."""
    _dims = 2
    _transposed = False
    _layout = ""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None, output_padding=0):
        super().__init__()
        name, n = type(self).__name__, self._dims
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"[{name}] in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                             f"divisible by groups ({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"[{name}] padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = int_tuple(kernel_size, n, "kernel_size", name)
        self.stride = int_tuple(stride, n, "stride", name)
        self.dilation = int_tuple(dilation, n, "dilation", name)
        self.output_padding = int_tuple(output_padding, n, "output_padding", name)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"[{name}] padding string must be 'same' or 'valid', got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"[{name}] padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = int_tuple(padding, n, "padding", name)
        self.padding_mode = padding_mode
        if self._transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = new_param(*shape, dtype=dtype, device=device)
        self.bias = new_param(out_channels, dtype=dtype, device=device) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            _uniform_fan_in_(self.bias, self.weight)

    def _explicit_pads(self):
        """(before, after) per spatial dim, for padding modes other than zeros."""
        if self.padding == "valid":
            return [(0, 0)] * self._dims
        if self.padding == "same":
            total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            return [(t // 2, t - t // 2) for t in total]
        return [(p, p) for p in self.padding]

    def forward(self, input):
        return self._batched(input, self._conv)

    def _batched(self, input, conv):
        """Checks the input and runs ``conv`` on it with a batch dim (added for unbatched input)."""
        c = self.in_channels
        check_input(self, input, (self._dims + 1, self._dims + 2), c, -(self._dims + 1),
                    what=self._layout.format(C=c))
        batched = input.ndim == self._dims + 2
        y = conv(input if batched else input.unsqueeze(0))
        return y if batched else y.squeeze(0)

    def _conv_args(self, x):
        """(input, padding) for the functional call, padding explicitly for non-zero modes."""
        if self.padding_mode == "zeros":
            return x, self.padding
        return mode_pad(x, self._explicit_pads(), self.padding_mode, type(self).__name__), 0

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._dims:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._dims:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    """Conv1d and Conv2d: the forward convolution, through ``_functional``."""
    _functional = None

    def _conv(self, x):
        x, padding = self._conv_args(x)
        return self._functional(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv1d(_Conv):
    """1-D convolution over (N, C_in, L) or (C_in, L) inputs; weight (C_out, C_in / groups, K)."""
    _dims = 1
    _layout = "(N, {C}, L) or ({C}, L)"

    _functional = staticmethod(F.conv1d)


class Conv2d(_Conv):
    """2-D convolution over (N, C_in, H, W) or (C_in, H, W) inputs; weight
    (C_out, C_in / groups, KH, KW)."""
    _dims = 2
    _layout = "(N, {C}, H, W) or ({C}, H, W)"

    _functional = staticmethod(F.conv2d)


class ConvTranspose2d(_ConvNd):
    """The gradient of Conv2d with respect to its input, as a layer; weight
    (C_in, C_out / groups, KH, KW). ``output_size`` in forward picks among the output sizes
    a strided convolution maps to the same input size."""
    _dims = 2
    _transposed = True
    _layout = "(N, {C}, H, W) or ({C}, H, W)"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f"[ConvTranspose2d] only 'zeros' padding mode is supported, got {padding_mode!r}")
        if isinstance(padding, str):
            raise ValueError(f"[ConvTranspose2d] padding must be an int or a tuple of ints, got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype, output_padding)
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if not 0 <= op < max(s, d):
                raise ValueError(f"[ConvTranspose2d] output_padding {self.output_padding} must be smaller than "
                                 f"either stride {self.stride} or dilation {self.dilation}")

    def forward(self, input, output_size=None):
        return self._batched(input, lambda x: F.conv_transpose2d(
            x, self.weight, self.bias, self.stride, self.padding, self._output_padding(x, output_size),
            self.groups, self.dilation))

    def _output_padding(self, x, output_size):
        if output_size is None:
            return self.output_padding
        size = tuple(output_size)[-2:]
        pads = []
        for i, want in enumerate(size):
            least = ((x.shape[2 + i] - 1) * self.stride[i] - 2 * self.padding[i]
                     + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            if not least <= want < least + max(self.stride[i], self.dilation[i]):
                raise ShapeError(f"[ConvTranspose2d] requested output size {tuple(size)} is not reachable from "
                                 f"input {tuple(x.shape)}: dim {i} must be in [{least}, "
                                 f"{least + max(self.stride[i], self.dilation[i]) - 1}]")
            pads.append(want - least)
        return tuple(pads)

"""Pooling layers: MaxPool1d, MaxPool2d, AvgPool2d and AdaptiveAvgPool2d over the kernels in
``lamina.nn.functional``. MaxPool1d runs the 2-D kernel with a height of one."""
from .. import functional as F
from ._factory import int_tuple
from .module import Module, check_input


class _Pool(Module):
    _dims = 2
    _layout = "(N, C, H, W) or (C, H, W)"

    def _check(self, input):
        check_input(self, input, (self._dims + 1, self._dims + 2), what=self._layout)


class _MaxPoolNd(_Pool):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        if return_indices:
            raise ValueError(f"[{type(self).__name__}] return_indices=True is not supported")
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """Max over sliding windows of (N, C, L) or (C, L) inputs."""
    _dims = 1
    _layout = "(N, C, L) or (C, L)"

    def forward(self, input):
        self._check(input)
        args = [(1,) + int_tuple(v, 1, name, "MaxPool1d") for name, v in
                (("kernel_size", self.kernel_size), ("stride", self.stride), ("dilation", self.dilation))]
        padding = (0,) + int_tuple(self.padding, 1, "padding", "MaxPool1d")
        y = F.max_pool2d(input.unsqueeze(-2), args[0], args[1], padding, args[2], ceil_mode=self.ceil_mode)
        return y.squeeze(-2)


class MaxPool2d(_MaxPoolNd):
    """Max over sliding windows of (N, C, H, W) or (C, H, W) inputs."""

    def forward(self, input):
        self._check(input)
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode)


class AvgPool2d(_Pool):
    """Mean over sliding windows; padding counts towards the divisor unless
    ``count_include_pad=False``; ``divisor_override`` replaces the divisor."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input):
        self._check(input)
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(_Pool):
    """Averages (N, C, H, W) inputs down to ``output_size`` (an int, a pair, or None entries
    that keep the input size)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        self._check(input)
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"

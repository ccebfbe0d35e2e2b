"""Normalisation layers: BatchNorm1d/2d (running statistics as buffers), LayerNorm, RMSNorm
and GroupNorm."""
import numbers

from ..._C import ShapeError
from ..._creation import ones, tensor, zeros
from ..._dtype import int64
from ...autograd.grad_mode import no_grad
from .. import functional as F
from .. import init
from ._factory import new_param
from .module import Module, check_input


def _ones_zeros(weight, bias):
    """The identity affine: weight ones, bias zeros (either may be absent)."""
    if weight is not None:
        init.ones_(weight)
    if bias is not None:
        init.zeros_(bias)


class _BatchNorm(Module):
    """Shared by BatchNorm1d/2d: weight/bias (affine) and the running_mean, running_var and
    num_batches_tracked buffers (track_running_stats)."""
    _ndims = ()
    _layout = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None, *, bias=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = new_param(num_features, dtype=dtype, device=device) if affine else None
        self.bias = new_param(num_features, dtype=dtype, device=device) if affine and bias else None
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=int64, device=device))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1.0)
                self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        _ones_zeros(self.weight, self.bias)

    def forward(self, input):
        check_input(self, input, self._ndims, self.num_features, 1, what=self._layout.format(C=self.num_features))
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            with no_grad():
                self.num_batches_tracked.add_(1)
            # momentum=None: a cumulative moving average, each batch weighted 1/count.
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if keep else None, self.running_var if keep else None,
                            self.weight, self.bias, use_batch_stats, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs, per channel C."""
    _ndims = (2, 3)
    _layout = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs, per channel C."""
    _ndims = (4,)
    _layout = "(N, {C}, H, W)"


def _normalized_shape(shape):
    return (int(shape),) if isinstance(shape, numbers.Integral) else tuple(int(s) for s in shape)


def _check_trailing(module, input, shape):
    n = len(shape)
    if input.ndim < n or tuple(input.shape[input.ndim - n:]) != shape:
        raise ShapeError(f"[{type(module).__name__}] expected input of shape (*, {', '.join(map(str, shape))}), "
                         f"got {tuple(input.shape)}")


class LayerNorm(Module):
    """Normalises over the trailing ``normalized_shape`` dims; weight ones and bias zeros."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = _normalized_shape(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.weight = new_param(*self.normalized_shape, dtype=dtype, device=device) if elementwise_affine else None
        self.bias = (new_param(*self.normalized_shape, dtype=dtype, device=device)
                     if elementwise_affine and bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        _ones_zeros(self.weight, self.bias)

    def forward(self, input):
        _check_trailing(self, input, self.normalized_shape)
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class RMSNorm(Module):
    """Divides by the root mean square over the trailing ``normalized_shape`` dims; weight ones.
    ``eps=None`` uses the input dtype's machine epsilon."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = _normalized_shape(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.weight = new_param(*self.normalized_shape, dtype=dtype, device=device) if elementwise_affine else None
        self.reset_parameters()

    def reset_parameters(self):
        _ones_zeros(self.weight, None)

    def forward(self, input):
        _check_trailing(self, input, self.normalized_shape)
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Normalises each of ``num_groups`` channel groups per sample of an (N, C, *) input."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"[GroupNorm] num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        self.weight = new_param(num_channels, dtype=dtype, device=device) if affine else None
        self.bias = new_param(num_channels, dtype=dtype, device=device) if affine and bias else None
        self.reset_parameters()

    def reset_parameters(self):
        _ones_zeros(self.weight, self.bias)

    def forward(self, input):
        check_input(self, input, range(2, 65), self.num_channels, 1, what=f"(N, {self.num_channels}, *)")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")

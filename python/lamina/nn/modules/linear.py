"""Identity, Linear, Bilinear, Flatten and Unflatten."""
import math

from ..._C import ShapeError
from ...ops.matmul import matmul
from .. import functional as F
from .. import init
from ._factory import ANY_RANK, new_param
from .module import Module, check_input


class Identity(Module):
    """Returns its input; accepts (and ignores) any constructor arguments."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """``y = x @ weight.T + bias`` with weight (out_features, in_features), initialised as in
    PyTorch: weight by kaiming_uniform_(a=sqrt(5)), bias from U(-1/sqrt(in), 1/sqrt(in))."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = new_param(out_features, in_features, dtype=dtype, device=device)
        self.bias = new_param(out_features, dtype=dtype, device=device) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            _uniform_fan_in_(self.bias, self.weight)

    def forward(self, input):
        check_input(self, input, ANY_RANK, self.in_features)
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def _uniform_fan_in_(tensor, weight):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the fan_in of ``weight`` (0 fan_in: bound 0)."""
    fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    init.uniform_(tensor, -bound, bound)


class Bilinear(Module):
    """``y_k = x1 @ weight[k] @ x2 + bias_k`` with weight (out, in1, in2); all parameters from
    U(-1/sqrt(in1), 1/sqrt(in1))."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = new_param(out_features, in1_features, in2_features, dtype=dtype, device=device)
        self.bias = new_param(out_features, dtype=dtype, device=device) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        check_input(self, input1, ANY_RANK, self.in1_features)
        check_input(self, input2, ANY_RANK, self.in2_features)
        if tuple(input1.shape[:-1]) != tuple(input2.shape[:-1]):
            raise ShapeError(f"[Bilinear] input1 {tuple(input1.shape)} and input2 {tuple(input2.shape)} must "
                             "share their leading dims")
        lead = tuple(input1.shape[:-1])
        o, i, j = self.weight.shape
        x1, x2 = input1.reshape(-1, i), input2.reshape(-1, j)
        # One GEMM: (B, in2) @ (in2, out * in1), then the in1 contraction per output.
        t = matmul(x2, self.weight.reshape(o * i, j).t()).reshape(-1, o, i)
        y = (t * x1.unsqueeze(1)).sum(-1)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(lead + (o,))

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class Flatten(Module):
    """Flattens dims ``start_dim`` to ``end_dim`` into one."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits dim ``dim`` into ``unflattened_size``."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, input):
        return input.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"

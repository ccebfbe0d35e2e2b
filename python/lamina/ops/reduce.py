"""Reductions (sum, mean, prod, var/std, max/min, argmax/argmin, logsumexp), softmax and
log_softmax, cumsum. Kernels: ``csrc/ops/reduce.cpp`` → ``csrc/cpu/reduce_kernels.cpp``."""
import builtins
from collections import namedtuple

from .. import _C
from .._tensor import Tensor
from ..autograd.function import Function

_wrap = Tensor._wrap


def _dims(dim, ndim, op):
    """Reduced dims as a sorted list of non-negative ints (None means all)."""
    if dim is None:
        return list(range(ndim))
    if isinstance(dim, int):
        dim = [dim]
    m = builtins.max(ndim, 1)
    out = []
    for d in dim:
        if not -m <= d < m:
            raise IndexError(f"[{op}] dimension out of range (expected to be in range of [{-m}, {m - 1}], but got {d})")
        out.append(d % m if ndim else 0)
    return sorted(out) if ndim else []


def _unsqueeze_to(g, dims, keepdim):
    """Puts back the reduced dims (size 1) so ``g`` broadcasts against the input."""
    if keepdim or not dims or g._t.ndim == 0:  # a 0-d gradient broadcasts as it is
        return g
    shape = list(g.shape)
    for d in dims:
        shape.insert(d, 1)
    return g.reshape(shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dim, keepdim):
        ctx.dims = _dims(dim, x.ndim, "sum")
        ctx.keepdim = keepdim
        ctx.shape = x.shape
        return _C.sum(x._t, dim, keepdim)

    @staticmethod
    def backward(ctx, g):
        return _unsqueeze_to(g, ctx.dims, ctx.keepdim).expand(ctx.shape), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, x, dim, keepdim):
        ctx.dims = _dims(dim, x.ndim, "mean")
        ctx.keepdim = keepdim
        ctx.shape = x.shape
        return _C.mean(x._t, dim, keepdim)

    @staticmethod
    def backward(ctx, g):
        n = 1
        for d in ctx.dims:
            n *= ctx.shape[d]
        return _unsqueeze_to(g, ctx.dims, ctx.keepdim).expand(ctx.shape) / builtins.max(n, 1), None, None


class _ReadsOutput(Function):
    """A reduction whose backward needs its input and its output; subclasses set the kernel."""
    kernel = None
    op = None

    @classmethod
    def forward(cls, ctx, x, dim, keepdim, *extra):
        out = cls.kernel(x._t, dim, keepdim, *extra)
        ctx.dims = _dims(dim, x.ndim, cls.op)
        ctx.keepdim = keepdim
        ctx.save_for_backward(x, _wrap(out))
        return out


class Prod(_ReadsOutput):
    kernel = staticmethod(_C.prod)
    op = "prod"

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        g = _unsqueeze_to(g, ctx.dims, ctx.keepdim)
        out = _unsqueeze_to(out, ctx.dims, ctx.keepdim)
        # d prod / d x_i = prod of the others; computed without dividing so zeros are handled.
        nz = x != 0
        safe = x.where(nz, 1.0)
        prod_nz = safe.prod(dim=ctx.dims, keepdim=True)
        zeros = (~nz).sum(dim=ctx.dims, keepdim=True)
        others = (prod_nz / safe).where(zeros == 0, prod_nz.where(zeros == 1, 0.0) * (~nz).to(x.dtype))
        return g * others, None, None


class Var(Function):
    @staticmethod
    def forward(ctx, x, dim, correction, keepdim):
        ctx.dims = _dims(dim, x.ndim, "var")
        ctx.keepdim = keepdim
        ctx.correction = correction
        ctx.save_for_backward(x)
        return _C.var(x._t, dim, float(correction), keepdim)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        n = 1
        for d in ctx.dims:
            n *= x.shape[d]
        mu = x.mean(dim=ctx.dims, keepdim=True)
        return _unsqueeze_to(g, ctx.dims, ctx.keepdim) * 2 * (x - mu) / builtins.max(n - ctx.correction, 0), None, None, None


class Amax(_ReadsOutput):
    kernel = staticmethod(lambda t, dim, keepdim, is_max=True: (_C.amax if is_max else _C.amin)(t, dim, keepdim))
    op = "amax"

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        # Ties share the gradient evenly, as in PyTorch.
        mask = (x == _unsqueeze_to(out, ctx.dims, ctx.keepdim)).to(g.dtype)
        return _unsqueeze_to(g, ctx.dims, ctx.keepdim) * mask / mask.sum(dim=ctx.dims, keepdim=True), None, None, None


class LogSumExp(_ReadsOutput):
    kernel = staticmethod(_C.logsumexp)
    op = "logsumexp"

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        return _unsqueeze_to(g, ctx.dims, ctx.keepdim) * (x - _unsqueeze_to(out, ctx.dims, ctx.keepdim)).exp(), None, None


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim, log):
        out = _C.softmax(x._t, dim, log)
        ctx.dim = dim
        ctx.log = log
        ctx.save_for_backward(_wrap(out))
        return out

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return _wrap(_C.softmax_backward(y._t, g._t, ctx.dim, ctx.log)), None, None


class Cumsum(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        return _C.cumsum(x._t, dim)

    @staticmethod
    def backward(ctx, g):
        if g.ndim == 0:  # cumsum of a 0-d tensor is the identity
            return g, None
        return g.flip(ctx.dim).cumsum(ctx.dim).flip(ctx.dim), None


class TakeAlongDim(Function):
    """Values at ``index`` (keepdim layout) along ``dim``: max/min with a dim."""

    @staticmethod
    def forward(ctx, x, index, dim, keepdim):
        ctx.save_for_backward(index)
        ctx.dim, ctx.keepdim, ctx.shape = dim, keepdim, x.shape
        if x.ndim == 0:  # a 0-d input is its own max: the one element, index 0
            return x._t.clone()
        out = _C.gather(x._t, dim, index._t)
        return out if keepdim else out.reshape([s for i, s in enumerate(out.shape) if i != dim % builtins.max(x.ndim, 1)] if x.ndim else [])

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        if not len(ctx.shape):
            return g, None, None, None
        if not ctx.keepdim:
            g = g.unsqueeze(ctx.dim) if len(ctx.shape) else g
        from .._creation import zeros
        z = zeros(ctx.shape, dtype=g.dtype)
        return z.scatter_add(ctx.dim, index, g), None, None, None


def sum(input, dim=None, keepdim=False, dtype=None):
    """Sum over ``dim`` (an int, a list of ints, or None for all)."""
    if dtype is not None:
        input = input.to(dtype)
    return Sum.apply(input, dim, keepdim)


def mean(input, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    return Mean.apply(input, dim, keepdim)


def prod(input, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    return Prod.apply(input, dim, keepdim)


def var(input, dim=None, unbiased=None, keepdim=False, correction=None):
    """Variance; ``correction`` (default 1, Bessel) is subtracted from the count."""
    if correction is None:
        correction = 0 if unbiased is False else 1
    return Var.apply(input, dim, correction, keepdim)


def std(input, dim=None, unbiased=None, keepdim=False, correction=None):
    return var(input, dim, unbiased, keepdim, correction).sqrt()


def amax(input, dim=None, keepdim=False):
    return Amax.apply(input, dim if dim is not None else None, keepdim, True)


def amin(input, dim=None, keepdim=False):
    return Amax.apply(input, dim, keepdim, False)


_ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _max_min(input, dim, keepdim, is_max, other):
    if isinstance(dim, Tensor):
        from .elementwise import maximum, minimum
        return (maximum if is_max else minimum)(input, dim)
    if dim is None:
        return amax(input) if is_max else amin(input)
    _, idx = _C.max_min_dim(input._t, dim, True, is_max)
    idx = _wrap(idx)
    values = TakeAlongDim.apply(input, idx, dim, keepdim)
    if not keepdim:
        idx = idx.squeeze(dim) if input.ndim else idx
    return _ValuesIndices(values, idx)


def max(input, dim=None, keepdim=False):
    """Max of all elements, or (values, indices) along ``dim``; with a tensor, elementwise maximum."""
    return _max_min(input, dim, keepdim, True, None)


def min(input, dim=None, keepdim=False):
    return _max_min(input, dim, keepdim, False, None)


def _arg(input, dim, keepdim, is_max):
    if dim is None:
        # Index into the flattened input; keepdim gives it the input's rank with every size 1.
        idx = _wrap(_C.max_min_dim(input.reshape(-1)._t, 0, False, is_max)[1])
        return idx.reshape([1] * input.ndim) if keepdim else idx
    return _wrap(_C.max_min_dim(input._t, dim, keepdim, is_max)[1])


def argmax(input, dim=None, keepdim=False):
    return _arg(input, dim, keepdim, True)


def argmin(input, dim=None, keepdim=False):
    return _arg(input, dim, keepdim, False)


def logsumexp(input, dim, keepdim=False):
    return LogSumExp.apply(input, dim, keepdim)


def softmax(input, dim, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    return Softmax.apply(input, dim, False)


def log_softmax(input, dim, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    return Softmax.apply(input, dim, True)


def cumsum(input, dim, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    return Cumsum.apply(input, dim)


def _truth(t):
    """A bool view of ``t``'s truth values; bool tensors pass through without a copy."""
    return t._t if t.dtype.code == 0 else _C.ne(t._t, 0)


def all(input, dim=None, keepdim=False):
    """True where no element along ``dim`` is zero (so True over an empty dim, like PyTorch)."""
    return _wrap(_C.eq(_C.sum(_C.unary(_C.UNARY["bitwise_not"], _truth(input)), dim, keepdim), 0))


def any(input, dim=None, keepdim=False):
    """True where some element along ``dim`` is nonzero (NaN counts; False over an empty dim)."""
    return _wrap(_C.ne(_C.sum(_truth(input), dim, keepdim), 0))


def count_nonzero(input, dim=None):
    return _wrap(_C.sum(_truth(input), dim, False))


TENSOR_METHODS = ["sum", "mean", "prod", "var", "std", "amax", "amin", "max", "min", "argmax", "argmin", "logsumexp",
                  "softmax", "log_softmax", "cumsum", "all", "any", "count_nonzero"]

"""Views and shape ops: reshape/view, permute/transpose, expand, squeeze/unsqueeze, flatten,
flip, narrow/split/chunk/unbind, cat/stack, tril/triu, contiguous/clone. Views share storage
(``csrc/core/tensor.cpp`` checks each one lies inside it); cat and tril/triu are kernels in
``csrc/ops/index.cpp`` and ``csrc/ops/creation.cpp``."""
import builtins

from .. import _C
from .._tensor import Tensor, _wrap_dim
from ..autograd.function import Function

_wrap = Tensor._wrap


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return [int(s) for s in shape]


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape, view_only):
        ctx.shape = x._t.shape
        return x._t.view(shape) if view_only else x._t.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None, None


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x._t.permute(dims)

    @staticmethod
    def backward(ctx, g):
        inv = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inv[d % len(ctx.dims)] = i
        return g.permute(inv), None


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        return x._t.expand(shape)

    @staticmethod
    def backward(ctx, g):
        return g, None  # the engine sums the gradient back to the input's shape


class Contiguous(Function):
    @staticmethod
    def forward(ctx, x):
        return x._t.contiguous()

    @staticmethod
    def backward(ctx, g):
        return g


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return x._t.clone()

    @staticmethod
    def backward(ctx, g):
        return g


class Flip(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        t = x._t
        shape, strides, off = list(t.shape), list(t.strides), t.storage_offset
        if not shape:
            return t
        for d in dims:
            if shape[d] > 0:
                off += (shape[d] - 1) * strides[d]
            strides[d] = -strides[d]
        return t.as_strided(shape, strides, off)

    @staticmethod
    def backward(ctx, g):
        return g.flip(ctx.dims), None


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *xs):
        ctx.dim = dim
        skip = [x.ndim == 1 and x.numel() == 0 for x in xs]  # PyTorch's legacy rule: 1-d empties drop out
        ctx.skip, ctx.sizes = skip, [0 if s else x.shape[dim] for x, s in zip(xs, skip)]
        return _C.cat([x._t for x in xs], dim)

    @staticmethod
    def backward(ctx, g):
        out, start = [None], 0
        for size, skip in zip(ctx.sizes, ctx.skip):
            if skip:
                out.append(None)
                continue
            out.append(g.narrow(ctx.dim, start, size))
            start += size
        return tuple(out)


class Triangle(Function):
    @staticmethod
    def forward(ctx, x, diagonal, upper):
        ctx.args = (diagonal, upper)
        return _C.triangle(x._t, diagonal, upper)

    @staticmethod
    def backward(ctx, g):
        return Triangle.apply(g, *ctx.args), None, None


def reshape(input, *shape):
    """A tensor with the same data and a new shape: a view when the strides allow, else a copy."""
    return Reshape.apply(input, _shape_arg(shape), False)


def view(input, *shape):
    """A view with a new shape; raises when the strides do not allow one (use reshape)."""
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int)):
        return input.to(shape[0])
    return Reshape.apply(input, _shape_arg(shape), True)


def view_as(input, other):
    return view(input, other.shape)


def reshape_as(input, other):
    return reshape(input, other.shape)


def permute(input, *dims):
    dims = _shape_arg(dims)
    if len(dims) != input.ndim:
        raise ValueError(f"[permute] number of dims {len(dims)} doesn't match the tensor's {input.ndim} dims "
                         f"(shape {tuple(input.shape)})")
    return Permute.apply(input, [_wrap_dim(d, input.ndim, "permute") for d in dims])


def transpose(input, dim0, dim1):
    n = input.ndim
    if n == 0:
        _wrap_dim(dim0, 0, "transpose"), _wrap_dim(dim1, 0, "transpose")
        return input
    d0, d1 = _wrap_dim(dim0, n, "transpose"), _wrap_dim(dim1, n, "transpose")
    perm = list(range(n))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return Permute.apply(input, perm)


swapaxes = swapdims = transpose


def t(input):
    if input.ndim > 2:
        raise ValueError(f"[t] expects a tensor with <= 2 dimensions, got shape {tuple(input.shape)}")
    return transpose(input, 0, 1) if input.ndim == 2 else input


def movedim(input, source, destination):
    n = input.ndim
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    src = [_wrap_dim(d, n, "movedim") for d in src]
    dst = [_wrap_dim(d, n, "movedim") for d in dst]
    rest = [d for d in range(n) if d not in src]
    perm = [None] * n
    for s, d in zip(src, dst):
        perm[d] = s
    it = iter(rest)
    perm = [p if p is not None else next(it) for p in perm]
    return Permute.apply(input, perm)


def expand(input, *sizes):
    return Expand.apply(input, _shape_arg(sizes))


def expand_as(input, other):
    return expand(input, other.shape)


def broadcast_to(input, shape):
    return expand(input, shape)


def squeeze(input, dim=None):
    shape = list(input.shape)
    if dim is None:
        new = [s for s in shape if s != 1]
    else:
        dims = [dim] if isinstance(dim, int) else list(dim)
        dims = {_wrap_dim(d, input.ndim, "squeeze") for d in dims}
        new = [s for i, s in enumerate(shape) if not (i in dims and s == 1)]
    return Reshape.apply(input, new, True) if new != shape else input


def unsqueeze(input, dim):
    n = input.ndim + 1
    d = _wrap_dim(dim, n, "unsqueeze")
    shape = list(input.shape)
    shape.insert(d, 1)
    return Reshape.apply(input, shape, True)


def flatten(input, start_dim=0, end_dim=-1):
    if input.ndim == 0:
        return input.reshape(1)
    s = _wrap_dim(start_dim, input.ndim, "flatten")
    e = _wrap_dim(end_dim, input.ndim, "flatten")
    if s > e:
        raise ValueError(f"[flatten] start_dim {start_dim} comes after end_dim {end_dim}")
    shape = list(input.shape)
    n = 1
    for x in shape[s:e + 1]:
        n *= x
    return reshape(input, shape[:s] + [n] + shape[e + 1:])


def unflatten(input, dim, sizes):
    d = _wrap_dim(dim, input.ndim, "unflatten")
    shape = list(input.shape)
    return reshape(input, shape[:d] + list(sizes) + shape[d + 1:])


def ravel(input):
    return reshape(input, -1)


def contiguous(input):
    return input if input._t.is_contiguous() else Contiguous.apply(input)


def clone(input):
    return Clone.apply(input)


def flip(input, *dims):
    """Reverses the order of elements along ``dims`` (``flip(x, (0, 1))`` or ``x.flip(0, 1)``): a view."""
    dims = _shape_arg(dims)
    return Flip.apply(input, sorted({_wrap_dim(d, input.ndim, "flip") for d in dims}))


def narrow(input, dim, start, length):
    d = _wrap_dim(dim, input.ndim, "narrow")
    size = input.shape[d]
    if start < 0:
        start += size
    if not (0 <= start <= size and 0 <= length and start + length <= size):
        raise IndexError(f"[narrow] start {start} and length {length} are out of range for dim {dim} of size {size}")
    key = (slice(None),) * d + (slice(start, start + length),)
    return input[key]


def split(input, split_size_or_sections, dim=0):
    d = _wrap_dim(dim, input.ndim, "split")
    size = input.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0 and size > 0:
            raise ValueError(f"[split] split_size must be positive, got {step}")
        sizes = [builtins.min(step, size - i) for i in range(0, size, step)] if size else [0]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != size:
            raise ValueError(f"[split] sections {sizes} don't add up to size {size} of dim {dim}")
    out, start = [], 0
    for s in sizes:
        out.append(narrow(input, d, start, s))
        start += s
    return tuple(out)


def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise ValueError(f"[chunk] chunks must be positive, got {chunks}")
    size = input.shape[_wrap_dim(dim, input.ndim, "chunk")]
    step = -(-size // chunks) if size else 1
    return split(input, step, dim)


def unbind(input, dim=0):
    d = _wrap_dim(dim, input.ndim, "unbind")
    return tuple(input[(slice(None),) * d + (i,)] for i in range(input.shape[d]))


def cat(tensors, dim=0):
    """Concatenates tensors along an existing dim (dtypes promote)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("[cat] expected a non-empty list of tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"[cat] expected a list of Tensors, got {type(t).__name__}")
    ref = next((t for t in tensors if not (t.ndim == 1 and t.numel() == 0)), tensors[0])
    if ref.ndim == 0:
        raise ValueError("[cat] zero-dimensional tensor cannot be concatenated")
    return Cat.apply(_wrap_dim(dim, ref.ndim, "cat"), *tensors)


concat = concatenate = cat


def stack(tensors, dim=0):
    """Joins tensors of equal shape along a new dim."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("[stack] expected a non-empty list of tensors")
    shape = tensors[0].shape
    for t in tensors:
        if t.shape != shape:
            raise ValueError(f"[stack] expects each tensor to be equal size, got {tuple(shape)} and {tuple(t.shape)}")
    d = _wrap_dim(dim, len(shape) + 1, "stack")
    return cat([unsqueeze(t, d) for t in tensors], d)


def tril(input, diagonal=0):
    return Triangle.apply(input, diagonal, False)


def triu(input, diagonal=0):
    return Triangle.apply(input, diagonal, True)


def _T(self):
    return self.permute(list(range(self.ndim))[::-1]) if self.ndim >= 2 else self


def _mT(self):
    if self.ndim < 2:
        raise ValueError(f"[mT] needs at least 2 dims, got shape {tuple(self.shape)}")
    return transpose(self, -2, -1)


TENSOR_METHODS = ["reshape", "view", "view_as", "reshape_as", "permute", "transpose", "swapaxes", "swapdims", "t",
                  "movedim", "expand", "expand_as", "broadcast_to", "squeeze", "unsqueeze", "flatten", "unflatten",
                  "ravel", "contiguous", "clone", "flip", "narrow", "split", "chunk", "unbind", "tril", "triu"]
DUNDERS = {"T": property(_T), "mT": property(_mT)}

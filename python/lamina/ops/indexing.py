"""Indexing: ``x[key]`` reads and ``x[key] = v`` writes (ints, slices with steps, None,
Ellipsis, integer/boolean tensors and lists), index_select, gather, scatter(_add),
masked_fill, nonzero, one_hot. Basic keys make views; advanced keys gather through
``csrc/ops/index.cpp``, which bounds-checks every index."""
import builtins

import numpy as np

from .. import _C
from .._tensor import Tensor, _wrap_dim
from ..autograd.function import Function

_wrap = Tensor._wrap


# ---------------------------------------------------------------- key parsing
def _normalize_key(key):
    """A tuple whose items are int, slice, None, Ellipsis or an int64/bool lamina Tensor."""
    if not isinstance(key, tuple):
        key = (key,)
    out = []
    for k in key:
        if k is None or k is Ellipsis or isinstance(k, slice):
            out.append(k)
        elif isinstance(k, (bool, np.bool_)):
            out.append(_wrap(_C.full([], float(k), 0, 0, 0)))
        elif isinstance(k, (int, np.integer)):
            out.append(int(k))
        elif isinstance(k, Tensor):
            if k.is_floating_point():
                raise IndexError(f"tensors used as indices must be long, int or bool tensors, got {k.dtype}")
            out.append(k)
        elif isinstance(k, (list, np.ndarray)):
            from .._creation import tensor
            arr = np.asarray(k)
            if arr.dtype.kind not in "biu" and arr.size:
                raise IndexError(f"only integers, slices, None, Ellipsis and integer or boolean tensors are valid indices (got {arr.dtype})")
            out.append(tensor(arr if arr.size else arr.astype(np.int64)))
        else:
            raise IndexError(f"only integers, slices (`:`), ellipsis (`...`), None and long or boolean tensors are "
                             f"valid indices (got {type(k).__name__})")
    # Boolean tensors stand for as many integer index tensors as they have dims.
    expanded = []
    for k in out:
        if isinstance(k, Tensor) and k.dtype.name == "bool":
            if k.ndim == 0:
                expanded.append(None)
                expanded.append(_BoolScalar(bool(k.item())))
            else:
                nz = _wrap(_C.nonzero(k._t))
                expanded.extend(_BoolMask(nz[:, j] if nz.ndim == 2 else nz, k.shape[j], j) for j in range(k.ndim))
        else:
            expanded.append(k)
    return expanded


class _BoolScalar:
    """x[True] adds a dim of size 1; x[False] adds a dim of size 0."""
    def __init__(self, value):
        self.value = value


class _BoolMask:
    """One dim's worth of a boolean mask, as integer positions along a dim of known size."""
    def __init__(self, idx, size, j):
        self.idx, self.size, self.j = idx, size, j


def _split_key(x, key):
    """Applies the basic part of the key; returns (view geometry, advanced entries by result dim)."""
    t = x._t
    shape, strides, off = list(t.shape), list(t.strides), t.storage_offset
    consumed = builtins.sum(1 for k in key if not (k is None or k is Ellipsis or isinstance(k, _BoolScalar)))
    if consumed > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)} (shape {tuple(shape)})")
    if builtins.sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    out_shape, out_strides, adv = [], [], []
    d = 0
    for k in key:
        if k is Ellipsis:
            for _ in range(len(shape) - consumed):
                out_shape.append(shape[d]); out_strides.append(strides[d]); d += 1
        elif k is None:
            out_shape.append(1); out_strides.append(0)
        elif isinstance(k, _BoolScalar):
            out_shape[-1] = 1 if k.value else 0
        elif isinstance(k, int):
            n = shape[d]
            if not -n <= k < n:
                raise IndexError(f"index {k} is out of bounds for dimension {d} with size {n}")
            off += (k + n if k < 0 else k) * strides[d]
            d += 1
        elif isinstance(k, slice):
            if k.step is not None and k.step <= 0:
                raise ValueError("step must be greater than zero")
            start, stop, step = k.indices(shape[d])
            n = len(range(start, stop, step))
            if n > 0:
                off += start * strides[d]
            out_shape.append(n); out_strides.append(strides[d] * step); d += 1
        else:  # integer tensor or boolean-mask component: keep the dim, index it afterwards
            size = k.size if isinstance(k, _BoolMask) else shape[d]
            if isinstance(k, _BoolMask) and size != shape[d]:
                raise IndexError(f"the shape of the mask {k.size} at index {k.j} does not match the shape "
                                 f"{shape[d]} of the indexed tensor at dim {d}")
            adv.append((len(out_shape), k.idx if isinstance(k, _BoolMask) else k))
            out_shape.append(shape[d]); out_strides.append(strides[d]); d += 1
    out_shape += shape[d:]
    out_strides += strides[d:]
    return (out_shape, out_strides, off), adv




def _linear_index(view_shape, adv):
    """Broadcasts the index tensors and folds them into one flat index over their dims."""
    shapes = [tuple(i.shape) for _, i in adv]
    try:
        bshape = list(np.broadcast_shapes(*shapes))
    except ValueError:
        raise IndexError(f"shape mismatch: indexing tensors could not be broadcast together with shapes "
                         f"{', '.join(map(str, shapes))}") from None
    lin = None
    for (dim, i) in adv:
        size = view_shape[dim]
        i64 = i.long() if i.dtype.name != "int64" else i
        if i64.numel():
            lo, hi = int(_C.amin(i64._t, None, False).item()), int(_C.amax(i64._t, None, False).item())
            if lo < -size or hi >= size:
                bad = lo if lo < -size else hi
                raise IndexError(f"index {bad} is out of bounds for dimension {dim} with size {size}")
        i64 = _wrap(_C.where(_C.lt(i64._t, 0), _C.add(i64._t, size), i64._t))
        lin = i64 if lin is None else _wrap(_C.add(_C.mul(lin._t, size), i64._t))
    return lin.expand(bshape).reshape(-1), bshape


def _advanced_plan(view_shape, adv):
    dims = [d for d, _ in adv]
    adjacent = dims == list(range(dims[0], dims[0] + len(dims)))
    rest = [d for d in range(len(view_shape)) if d not in dims]
    return dims, rest, adjacent


class Index(Function):
    @staticmethod
    def forward(ctx, x, key):
        geom, adv = _split_key(x, key)
        ctx.key, ctx.shape = key, x.shape
        v = x._t.as_strided(*geom)
        if not adv:
            return v
        dims, rest, adjacent = _advanced_plan(geom[0], adv)
        lin, bshape = _linear_index(geom[0], adv)
        vp = v.permute(dims + rest)
        flat = vp.reshape([int(np.prod([geom[0][d] for d in dims]))] + [geom[0][d] for d in rest])
        out = _C.index_select(flat, 0, lin._t).reshape(bshape + [geom[0][d] for d in rest])
        if adjacent and dims[0] > 0:
            nb = len(bshape)
            perm = list(range(nb, nb + dims[0])) + list(range(nb)) + list(range(nb + dims[0], nb + len(rest)))
            out = out.permute(perm)
        return out

    @staticmethod
    def backward(ctx, g):
        from .._creation import zeros
        z = zeros(ctx.shape, dtype=g.dtype)
        _setitem(z, ctx.key, g, accumulate=True)
        return z, None


def getitem(self, key):
    return Index.apply(self, _normalize_key(key))


def _setitem(x, key, value, accumulate=False):
    geom, adv = _split_key(x, key)
    v = x._t.as_strided(*geom)
    if not isinstance(value, Tensor):
        value = _wrap(_C.as_operand(value, x._t))
    if not adv:
        if accumulate:
            v.copy_(_C.add(v, value._t))
        else:
            v.copy_(value._t.to(x._t.dtype, 0, 0, False) if value._t.dtype != x._t.dtype else value._t)
        x._t.bump_version()
        return
    dims, rest, adjacent = _advanced_plan(geom[0], adv)
    lin, bshape = _linear_index(geom[0], adv)
    nb = len(bshape)
    rest_shape = [geom[0][d] for d in rest]
    # The values in the gathered layout, then moved so the indexed block comes first.
    if adjacent and dims[0] > 0:
        res_shape = rest_shape[:dims[0]] + bshape + rest_shape[dims[0]:]
        val = value.expand(res_shape)
        perm = list(range(dims[0], dims[0] + nb)) + list(range(dims[0])) + list(range(dims[0] + nb, len(res_shape)))
        val = val.permute(perm)
    else:
        val = value.expand(bshape + rest_shape)
    val = val.reshape([lin.numel()] + rest_shape)
    vp = v.permute(dims + rest)
    n = int(np.prod([geom[0][d] for d in dims]))
    try:
        flat = vp.view([n] + rest_shape)
        _C.index_put_dim_(flat, 0, lin._t, val._t, accumulate)
    except ValueError:
        tmp = vp.contiguous()
        _C.index_put_dim_(tmp.view([n] + rest_shape), 0, lin._t, val._t, accumulate)
        vp.copy_(tmp)
    x._t.bump_version()


def setitem(self, key, value):
    from .elementwise import _check_inplace
    _check_inplace(self, value)
    _setitem(self, _normalize_key(key), value)


# ---------------------------------------------------------------- functional forms
class IndexSelect(Function):
    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.save_for_backward(index)
        ctx.dim, ctx.shape = dim, x.shape
        return _C.index_select(x._t, dim, index._t)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        from .._creation import zeros
        z = zeros(ctx.shape, dtype=g.dtype)
        _C.index_put_dim_(z._t, ctx.dim, index._t, g.contiguous()._t, True)
        return z, None, None


def index_select(input, dim, index):
    return IndexSelect.apply(input, dim, index)


class Gather(Function):
    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.save_for_backward(index)
        ctx.dim, ctx.shape = dim, x.shape
        return _C.gather(x._t, dim, index._t)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        from .._creation import zeros
        return zeros(ctx.shape, dtype=g.dtype).scatter_add(ctx.dim, index, g), None, None


def gather(input, dim, index):
    return Gather.apply(input, dim, index)


class Scatter(Function):
    @staticmethod
    def forward(ctx, x, dim, index, src, accumulate):
        ctx.save_for_backward(index)
        ctx.dim, ctx.acc = dim, accumulate
        src_t = src._t if isinstance(src, Tensor) else _C.full(list(index.shape), float(src), x._t.dtype, 0, 0)
        return _C.scatter(x._t, dim, index._t, src_t, accumulate)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        gsrc = g.gather(ctx.dim, index)
        if ctx.acc:
            return g, None, None, gsrc, None
        # Overwritten positions pass no gradient to the input.
        from .._creation import zeros
        mask = _wrap(_C.scatter(_C.full(list(g.shape), 1.0, g._t.dtype, 0, 0), ctx.dim, index._t,
                                zeros(index.shape, dtype=g.dtype)._t, False))
        return g * mask, None, None, gsrc, None


def scatter(input, dim, index, src=None, value=None):
    return Scatter.apply(input, dim, index, src if src is not None else value, False)


def scatter_add(input, dim, index, src):
    return Scatter.apply(input, dim, index, src, True)


def index_add(input, dim, index, source, alpha=1):
    out = input.clone()
    if input.requires_grad or source.requires_grad:
        # Composite: scatter_add along dim with the index broadcast over the other dims.
        shape = [1] * source.ndim
        d = _wrap_dim(dim, source.ndim, "index_add")
        shape[d] = -1
        idx = index.reshape(shape).expand(source.shape)
        return scatter_add(input, d, idx, source * alpha)
    _C.index_put_dim_(out._t, dim, index._t, (source * alpha).contiguous()._t, True)
    return out


def masked_fill(input, mask, value):
    from .elementwise import where
    if mask.dtype.name != "bool":
        raise TypeError(f"[masked_fill] expected a bool mask, got {mask.dtype}")
    return where(mask, value, input)


def nonzero(input, as_tuple=False):
    nz = _wrap(_C.nonzero(input._t))
    if as_tuple:
        return tuple(nz[:, j] for j in range(max(input.ndim, 1))) if input.ndim else (nz.reshape(-1),)
    return nz


def one_hot(tensor, num_classes=-1):
    if num_classes == -1:
        num_classes = int(tensor.max().item()) + 1 if tensor.numel() else 0
    return _wrap(_C.one_hot(tensor._t, num_classes))


def masked_fill_(self, mask, value):
    from .elementwise import _check_inplace
    _check_inplace(self, value)
    _setitem(self, _normalize_key(mask), value)
    return self


TENSOR_METHODS = ["index_select", "gather", "scatter", "scatter_add", "index_add", "masked_fill", "masked_fill_",
                  "nonzero"]
DUNDERS = {"__getitem__": getitem, "__setitem__": setitem}

"""lamina.Tensor: the one tensor class users see. It wraps a ``_C.Tensor`` (storage, dtype,
shape, strides) and carries the autograd state. Methods forward to the op families in
``lamina.ops``; each of those holds an op's forward and backward side by side."""
import numpy as np

from . import _C
from ._dtype import BY_CODE, to_dtype, float32, float64, float16, bfloat16, int32, int64, bool_
from ._device import device as _device_cls, to_device
from .autograd.grad_mode import _state


class Size(tuple):
    """A tensor's shape: a tuple that prints like PyTorch's."""

    def __repr__(self):
        return f"lamina.Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


class Tensor:
    """An n-dimensional array on the CPU or a CUDA device, with reverse-mode autograd."""
    __slots__ = ("_t", "requires_grad", "grad", "grad_fn", "_hooks", "_retains_grad", "__weakref__")
    __array_priority__ = 1000  # NumPy defers to our reflected operators

    @staticmethod
    def _wrap(impl):
        t = _new(Tensor)
        t._t = impl
        t.requires_grad = False
        t.grad = None
        t.grad_fn = None
        t._hooks = None
        t._retains_grad = False
        return t

    def __init__(self, *args, **kwargs):
        raise TypeError("create tensors with lamina.tensor(data), lamina.zeros(shape), lamina.empty(shape) ...")

    # ---- geometry and metadata
    @property
    def shape(self):
        return Size(self._t.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._t.shape)
        return self._t.shape[_wrap_dim(dim, self._t.ndim, "size")]

    def stride(self, dim=None):
        if dim is None:
            return self._t.strides
        return self._t.strides[_wrap_dim(dim, self._t.ndim, "stride")]

    @property
    def ndim(self):
        return self._t.ndim

    def dim(self):
        return self._t.ndim

    def numel(self):
        return self._t.numel()

    nelement = numel

    def element_size(self):
        return self.dtype.itemsize

    @property
    def dtype(self):
        return BY_CODE[self._t.dtype]

    @property
    def device(self):
        return _device_cls("cpu") if self._t.device_type == 0 else _device_cls("cuda", self._t.device_index)

    @property
    def is_cuda(self):
        return self._t.device_type == 1

    def storage_offset(self):
        return self._t.storage_offset

    def is_contiguous(self):
        return self._t.is_contiguous()

    def data_ptr(self):
        return self._t.data_ptr

    def is_floating_point(self):
        return self._t.dtype >= 3

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def _version(self):
        return self._t.version

    def __len__(self):
        if self._t.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._t.shape[0]

    def __iter__(self):
        if self._t.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._t.shape[0]))

    __hash__ = object.__hash__

    # ---- autograd
    def requires_grad_(self, requires_grad=True):
        if requires_grad and not self.is_floating_point():
            raise RuntimeError(f"only tensors of floating point dtype can require gradients, got {self.dtype}")
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError("requires_grad can only be turned off on leaf tensors; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self):
        """A tensor sharing this one's storage, cut off from the graph."""
        return Tensor._wrap(self._t)

    def detach_(self):
        self.grad_fn = None
        self.requires_grad = False
        return self

    @property
    def data(self):
        return Tensor._wrap(self._t)

    @data.setter
    def data(self, other):
        self._t = other._t

    def retain_grad(self):
        if self.grad_fn is None:
            return
        if not self._retains_grad:
            self._retains_grad = True

            def keep(g, ref=self):
                ref.grad = g.detach() if ref.grad is None else ref.grad + g.detach()
            self.grad_fn._retain_hooks = getattr(self.grad_fn, "_retain_hooks", []) + [keep]

    def register_hook(self, hook):
        """Calls ``hook(grad)`` when this leaf's gradient is computed; a returned tensor replaces it."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise NotImplementedError("hooks on non-leaf tensors are not supported yet; use retain_grad()")
        self._hooks = (self._hooks or []) + [hook]
        return hook

    def backward(self, gradient=None, retain_graph=False, create_graph=False, inputs=None):
        """Accumulates d(self)/d(leaf) into every leaf's ``.grad`` that requires grad."""
        from .autograd import backward
        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)

    # ---- conversion
    def item(self):
        return self._t.item()

    def tolist(self):
        if self.dtype is bfloat16:
            return self.float().tolist()
        return self.cpu().numpy().tolist()

    def numpy(self, force=False):
        """A NumPy array sharing this tensor's memory (CPU tensors without grad only, unless force)."""
        if self.requires_grad and not force:
            raise RuntimeError("can't call numpy() on a tensor that requires grad; use tensor.detach().numpy()")
        t = self._t
        if force and (t.device_type != 0 or t.dtype == bfloat16.code):
            t = t.to(float32.code if t.dtype == bfloat16.code else t.dtype, 0, 0, False)
        return _C.to_numpy(t)

    def __array__(self, dtype=None, copy=None):
        a = self.numpy(force=True)
        return a.astype(dtype) if dtype is not None else a

    def __dlpack__(self, stream=None, max_version=None, dl_device=None, copy=None):
        if copy or (copy is None and any(s < 0 for s in self._t.strides)):
            # Negative strides (flip) are legal DLPack but crash some consumers (PyTorch aborts
            # the process on them), so such views go out as a copy unless copy=False.
            return self.detach().clone().__dlpack__(stream=stream, max_version=max_version)
        if copy is False and any(s < 0 for s in self._t.strides):
            raise BufferError("[__dlpack__] a tensor with negative strides can't be exported without a copy")
        if dl_device is not None and tuple(dl_device) != self.__dlpack_device__():
            raise BufferError(f"[__dlpack__] cannot export a {self.device} tensor to device {dl_device} without a copy")
        if self.is_cuda:
            _C.cuda_synchronize(self._t.device_index)  # the consumer's stream then sees finished data
        versioned = max_version is not None and tuple(max_version)[0] >= 1
        return _C.to_dlpack(self._t, versioned)

    def __dlpack_device__(self):
        return (2, self._t.device_index) if self.is_cuda else (1, 0)

    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or ``to(other_tensor)``."""
        for a in args:
            if isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, (str, _device_cls)):
                device = a
            elif a is not None:
                dtype = a
        dt = self.dtype if dtype is None else to_dtype(dtype)
        dev = self.device if device is None else to_device(device)
        if dt is self.dtype and dev == self.device and not copy:
            return self
        from .ops.elementwise import To
        return To.apply(self, dt, dev)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to(_device_cls("cuda", device if isinstance(device, int) else 0) if not isinstance(device, str) else device)

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    def half(self):
        return self.to(float16)

    def bfloat16(self):
        return self.to(bfloat16)

    def int(self):
        return self.to(int32)

    def long(self):
        return self.to(int64)

    def bool(self):
        return self.to(bool_)

    def type_as(self, other):
        return self.to(other.dtype)

    def type(self, dtype=None):
        if dtype is None:
            return "lamina." + self.dtype.name
        return self.to(dtype)

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self.numel()} elements is ambiguous")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.is_floating_point() or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __repr__(self):
        from ._format import tensor_repr
        return tensor_repr(self)

    def __format__(self, spec):
        if self._t.ndim == 0 and spec:
            return format(self.item(), spec)
        return repr(self)

    def __reduce__(self):
        from ._creation import tensor
        return (_rebuild, (self.detach().cpu().numpy() if self.dtype is not bfloat16 else self.detach().float().numpy(),
                           self.dtype.name, str(self.device), self.requires_grad))

    def __deepcopy__(self, memo):
        t = self.detach().clone()
        t.requires_grad = self.requires_grad
        memo[id(self)] = t
        return t


_new = object.__new__


def _register_with_autograd():
    from .autograd import function
    function._Tensor = Tensor
    function._wrap = Tensor._wrap


_register_with_autograd()


def _rebuild(array, dtype_name, device, requires_grad):
    from ._creation import tensor
    from ._dtype import _by_name
    return tensor(array, dtype=_by_name(dtype_name), device=device, requires_grad=requires_grad)


def _wrap_dim(d, n, op):
    m = max(n, 1)
    if not -m <= d < m:
        raise IndexError(f"[{op}] dimension out of range (expected to be in range of [{-m}, {m - 1}], but got {d})")
    return d + m if d < 0 else d


def _install_methods():
    """Attaches the op families' functions as Tensor methods and operators."""
    from .ops import elementwise as ew, reduce as rd, shape as sh, indexing as ix, matmul as mm

    for mod in (ew, rd, sh, ix, mm):
        for name in mod.TENSOR_METHODS:
            setattr(Tensor, name, getattr(mod, name))
    for mod in (ew, sh, ix, mm):
        for name, fn in mod.DUNDERS.items():
            setattr(Tensor, name, fn)

"""``nn.Module``: the base class of every layer and model. It keeps parameters, buffers and
child modules in registration order, and walks them for ``parameters()``, ``state_dict()``,
``to()`` and ``train()``/``eval()`` with PyTorch's names and semantics."""
from collections import OrderedDict, namedtuple

import numpy as np

from ..._C import ShapeError
from ..._tensor import Tensor
from ...autograd.grad_mode import no_grad
from ..parameter import Parameter

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class RemovableHandle:
    """Returned by the ``register_*_hook`` methods; ``remove()`` unregisters the hook."""
    _next_id = 0

    def __init__(self, hooks):
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def check_input(module, x, ndims, features=None, feature_dim=-1, what=None):
    """Raises ShapeError naming the module, the expected and the actual shape when ``x`` has
    none of the ranks in ``ndims`` or its ``feature_dim`` size differs from ``features``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"[{type(module).__name__}] expected a lamina.Tensor input, got {type(x).__name__}")
    ok = x.ndim in ndims and (features is None or x.shape[feature_dim] == features)
    if not ok:
        raise ShapeError(f"[{type(module).__name__}] expected input of shape {what or _describe(ndims, features, feature_dim)}"
                         f", got {tuple(x.shape)}")


def _describe(ndims, features, feature_dim):
    lo, hi = min(ndims), max(ndims)
    if features is None:
        return f"with {lo}" + (f" to {hi}" if hi != lo else "") + " dims"
    if feature_dim == -1:
        return f"(*, {features})"
    lead = ", ".join(["N"] * (feature_dim if feature_dim >= 0 else 0))
    return f"({lead + ', ' if lead else ''}{features}, *) with {lo}" + (f" to {hi}" if hi != lo else "") + " dims"


class Module:
    """Base class for layers and models: subclasses assign Parameters, buffers and Modules as
    attributes in ``__init__`` and define ``forward``."""

    training: bool

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments")
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()

    # ---- forward
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"[{type(self).__name__}] is missing the required \"forward\" function")

    def __call__(self, *args, **kwargs):
        if not self._forward_pre_hooks and not self._forward_hooks:
            return self.forward(*args, **kwargs)
        for hook in list(self._forward_pre_hooks.values()):
            r = hook(self, args)
            if r is not None:
                args = r if isinstance(r, tuple) else (r,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            r = hook(self, args, out)
            if r is not None:
                out = r
        return out

    def register_forward_pre_hook(self, hook):
        """``hook(module, args)`` runs before ``forward``; a returned value replaces the args."""
        h = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[h.id] = hook
        return h

    def register_forward_hook(self, hook):
        """``hook(module, args, output)`` runs after ``forward``; a returned value replaces the output."""
        h = RemovableHandle(self._forward_hooks)
        self._forward_hooks[h.id] = hook
        return h

    # ---- registration
    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._drop(name)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(lamina.nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._drop(name)
            d["_modules"][name] = value
        elif d.get("_modules") is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(lamina.nn.Module or None expected)")
            d["_modules"][name] = None
        elif d.get("_buffers") is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(lamina.Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _drop(self, name):
        d = self.__dict__
        d.pop(name, None)
        for key in ("_parameters", "_buffers", "_modules"):
            d[key].pop(name, None)
        d["_non_persistent_buffers"].discard(name)

    def __getattr__(self, name):
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            group = d.get(key)
            if group is not None and name in group:
                return group[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if name in d[key]:
                del d[key][name]
                d["_non_persistent_buffers"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    @staticmethod
    def _check_name(kind, name, owner):
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{kind} name can't be empty or contain \".\", got '{name}'")
        if hasattr(type(owner), name):
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name, param):
        """Adds a Parameter (or None, a declared-but-absent parameter such as a missing bias)."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_name("parameter", name, self)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(lamina.nn.Parameter or None required)")
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Adds a tensor that is part of the module's state but not learned (running statistics).
        Non-persistent buffers are left out of ``state_dict``."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._check_name("buffer", name, self)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(lamina.Tensor or None required)")
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name("module", name, self)
        self.__dict__.pop(name, None)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        mod = self
        if target == "":
            return mod
        for item in target.split("."):
            if item not in mod._modules:
                raise AttributeError(f"{type(mod).__name__} has no submodule '{item}' (looking up '{target}')")
            mod = mod._modules[item]
        return mod

    def get_parameter(self, target):
        prefix, _, name = target.rpartition(".")
        mod = self.get_submodule(prefix)
        if name not in mod._parameters:
            raise AttributeError(f"{type(mod).__name__} has no parameter '{name}'")
        return mod._parameters[name]

    # ---- traversal
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        if memo is None:
            memo = set()
        if remove_duplicate:
            if self in memo:
                return
            memo.add(self)
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and m not in seen:
                seen.add(m)
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, attr, prefix, recurse, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mprefix, m in mods:
            for name, v in getattr(m, attr).items():
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))
                yield mprefix + ("." if mprefix else "") + name, v

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ---- modes and gradients
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = p.grad.detach()
                with no_grad():
                    p.grad.zero_()

    def apply(self, fn):
        """Calls ``fn`` on every submodule (children first) and then on this module."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- device and dtype
    def _apply(self, fn):
        """Replaces every parameter's data (and grad) and every buffer by ``fn`` of it. Parameters
        keep their identity, so optimisers built before ``to()`` still hold them."""
        for m in self.modules():
            for p in m._parameters.values():
                if p is None:
                    continue
                with no_grad():
                    p.data = fn(p.data)
                    if p.grad is not None:
                        p.grad = fn(p.grad)
            for name, b in m._buffers.items():
                if b is not None:
                    m._buffers[name] = fn(b)
        return self

    def to(self, *args, **kwargs):
        """``to(device)``, ``to(dtype)`` or ``to(device, dtype)``: floating-point parameters and
        buffers change dtype, everything moves to the device."""
        from ..._device import device as device_cls
        from ..._dtype import to_dtype
        device = kwargs.pop("device", None)
        dtype = kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"[Module.to] unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, (str, device_cls)):
                device = a
            elif a is not None:
                dtype = a
        dtype = to_dtype(dtype) if dtype is not None else None
        if dtype is not None and not dtype.is_floating_point:
            raise TypeError(f"[Module.to] only floating point dtypes are accepted, got {dtype}")

        def convert(t):
            return t.to(device=device, dtype=dtype if dtype is not None and t.is_floating_point() else None)
        return self._apply(convert)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{int(device)}")

    def float(self):
        return self._apply(lambda t: t.float() if t.is_floating_point() else t)

    def double(self):
        return self._apply(lambda t: t.double() if t.is_floating_point() else t)

    def half(self):
        return self._apply(lambda t: t.half() if t.is_floating_point() else t)

    def bfloat16(self):
        return self._apply(lambda t: t.bfloat16() if t.is_floating_point() else t)

    # ---- state
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """An ordered mapping from dotted names to parameters and persistent buffers (detached
        unless ``keep_vars``), sharing memory with the module."""
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers:
                destination[prefix + name] = b if keep_vars else b.detach()
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def _state_entries(self, prefix=""):
        """(dotted name, owning module, attribute name, kind) for every state_dict entry."""
        for mprefix, m in self.named_modules(prefix=prefix.rstrip("."), remove_duplicate=False):
            dot = mprefix + "." if mprefix else ""
            for name, p in m._parameters.items():
                if p is not None:
                    yield dot + name, m, name, "parameter"
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent_buffers:
                    yield dot + name, m, name, "buffer"

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copies parameters and buffers from ``state_dict`` (lamina tensors, NumPy arrays, or any
        DLPack tensor such as PyTorch's). With ``strict``, missing or unexpected keys raise;
        a shape mismatch always raises, naming every offending key. Returns the missing and
        unexpected keys."""
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"expected a mapping for state_dict, got {type(state_dict).__name__}")
        errors, seen = [], set()
        missing = []
        updates = []
        for key, mod, name, kind in self._state_entries():
            if key not in state_dict:
                missing.append(key)
                continue
            seen.add(key)
            current = getattr(mod, name)
            try:
                value = _as_tensor(state_dict[key])
            except (TypeError, ValueError) as e:
                errors.append(f"could not convert {key} ({type(state_dict[key]).__name__}): {e}")
                continue
            if tuple(value.shape) != tuple(current.shape):
                errors.append(f"size mismatch for {key}: copying a param with shape {tuple(value.shape)} from "
                              f"checkpoint, the shape in current model is {tuple(current.shape)}.")
                continue
            updates.append((mod, name, kind, current, value))
        unexpected = [k for k in state_dict.keys() if k not in seen]
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        with no_grad():
            for mod, name, kind, current, value in updates:
                if assign:
                    if kind == "parameter":
                        mod._parameters[name] = Parameter(value, current.requires_grad)
                    else:
                        mod._buffers[name] = value
                else:
                    current.copy_(value.to(device=current.device, dtype=current.dtype))
        return IncompatibleKeys(missing, unexpected)

    # ---- printing
    def extra_repr(self):
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        if not self._modules:
            return f"{self._get_name()}({extra})"
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"

    def __getstate__(self):
        return self.__dict__.copy()

    def __setstate__(self, state):
        self.__dict__.update(state)


def _as_tensor(v):
    if isinstance(v, Tensor):
        return v.detach()
    from ..._creation import from_dlpack, tensor
    if hasattr(v, "__dlpack__") and not isinstance(v, np.ndarray):
        return from_dlpack(v.detach() if hasattr(v, "detach") else v)
    return tensor(np.asarray(v))

"""``lamina.save`` / ``lamina.load``: nested Python objects holding tensors, in one safetensors file.

A flat dict of string -> tensor is written as a plain safetensors file whose entry names are the
dict's keys, so any safetensors reader can use it. Anything else (nested dicts, lists, tuples,
optimiser state with int keys, numbers, strings, None) is written as one tensor entry per tensor,
named by its path in the structure, plus the structure itself as JSON in the header's
``__metadata__`` under the key ``"lamina"``. Loading never runs code from the file: the structure
is rebuilt from JSON by a small decoder that knows only the node kinds listed in ``_encode``.
"""
import json

import numpy as np

from ._device import device as _device_cls
from ._dtype import dtype as _dtype_cls, _by_name
from ._tensor import Tensor
from .io import safetensors as _st

_KEY = "lamina"
_FORMAT = 1


def _is_flat_state(obj):
    return (isinstance(obj, dict) and all(isinstance(k, str) and k != _st._METADATA for k in obj)
            and all(isinstance(v, Tensor) for v in obj.values()))


class _Encoder:
    """Turns an object tree into JSON-ready nodes and a dict of named tensors/arrays.

    Scalars (None, bool, int, float, str) are themselves; everything else is a one-key object:
    ``{"tensor": name}``, ``{"ndarray": name}``, ``{"list": [...]}``, ``{"tuple": [...]}``,
    ``{"dict": [[key, value], ...]}`` (keys are nodes too, so int keys stay ints),
    ``{"dtype": "float32"}``, ``{"device": "cuda:0"}``. The same tensor object reached twice is
    stored once and comes back as one object."""

    def __init__(self):
        self.tensors = {}
        self._names = {}
        self._active = set()

    def _name(self, path, obj):
        if id(obj) in self._names:
            return self._names[id(obj)][0]
        name = ".".join(path) or "tensor"
        base, n = name, 1
        while name in self.tensors or name == _st._METADATA:
            name, n = f"{base}#{n}", n + 1
        self.tensors[name] = obj
        self._names[id(obj)] = (name, obj)  # holding obj keeps its id from being reused
        return name

    def encode(self, obj, path=()):
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj if type(obj) in (bool, int, float, str, type(None)) else _plain(obj)
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, Tensor):
            return {"tensor": self._name(path, obj)}
        if isinstance(obj, np.ndarray):
            return {"ndarray": self._name(path, obj)}
        if isinstance(obj, _dtype_cls):
            return {"dtype": obj.name}
        if isinstance(obj, _device_cls):
            return {"device": str(obj)}
        if isinstance(obj, (dict, list, tuple)):
            if id(obj) in self._active:
                raise ValueError(f"[save] the object contains itself at {'.'.join(path) or 'the top level'}")
            self._active.add(id(obj))
            try:
                if isinstance(obj, dict):
                    return {"dict": [[self.encode(k, path + ("key",)), self.encode(v, path + (_path_part(k),))]
                                     for k, v in obj.items()]}
                kind = "tuple" if isinstance(obj, tuple) else "list"
                return {kind: [self.encode(v, path + (str(i),)) for i, v in enumerate(obj)]}
            finally:
                self._active.discard(id(obj))
        where = ".".join(path) or "the top level"
        hint = "; save its state_dict() instead" if hasattr(obj, "state_dict") else ""
        raise TypeError(f"[save] cannot save an object of type {type(obj).__name__} (at {where}){hint}")


def _plain(x):
    # Subclasses of the JSON scalars (IntEnum, numpy-like wrappers) are stored as the base value.
    for t in (bool, int, float, str):
        if isinstance(x, t):
            return t(x)
    return x


def _path_part(key):
    return key if isinstance(key, str) else str(key)


def save(obj, f):
    """Saves ``obj`` (a tensor, a state dict, optimiser state, or any nesting of dicts, lists and
    tuples of tensors, NumPy arrays, numbers, strings, bools and None) to ``f`` as one
    safetensors file.

    ``f`` is a path (written atomically: the old file stays intact until the new one is
    complete) or a writable binary file object. Tensors are stored contiguous and on the CPU;
    ``requires_grad`` is not stored."""
    if _is_flat_state(obj):
        _st.save_file(obj, f)
        return
    enc = _Encoder()
    tree = enc.encode(obj)
    meta = json.dumps({"format": _FORMAT, "tree": tree}, separators=(",", ":"), ensure_ascii=False)
    _st.save_file(enc.tensors, f, metadata={_KEY: meta})


class _Decoder:
    def __init__(self, source, tensors):
        self.source, self.tensors, self.arrays = source, tensors, {}

    def fail(self, problem):
        raise ValueError(f"[load] {self.source}: {problem}")

    def entry(self, name):
        if not isinstance(name, str) or name not in self.tensors:
            self.fail(f"the structure refers to tensor {name!r:.100} which the file does not hold")
        return self.tensors[name]

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or len(node) != 1:
            self.fail(f"malformed structure node {node!r:.100}")
        (kind, value), = node.items()
        if kind == "tensor":
            return self.entry(value)
        if kind == "ndarray":
            t = self.entry(value)
            if value not in self.arrays:  # one array per name, so shared arrays stay shared
                self.arrays[value] = t.cpu().numpy(force=True)
            return self.arrays[value]
        if kind in ("list", "tuple") and isinstance(value, list):
            items = [self.decode(v) for v in value]
            return items if kind == "list" else tuple(items)
        if kind == "dict" and isinstance(value, list):
            out = {}
            for pair in value:
                if not isinstance(pair, list) or len(pair) != 2:
                    self.fail(f"malformed dict item {pair!r:.100}")
                key, value = self.decode(pair[0]), self.decode(pair[1])
                try:
                    out[key] = value
                except TypeError:
                    self.fail(f"unhashable dict key {key!r:.100}")
            return out
        if kind == "dtype" and isinstance(value, str):
            try:
                return _by_name(value)
            except KeyError:
                self.fail(f"unknown dtype {value!r:.40}")
        if kind == "device" and isinstance(value, str):
            try:
                return _device_cls(value)
            except ValueError as e:
                self.fail(str(e))
        self.fail(f"unknown structure node kind {kind!r:.40}")


def _map_location(map_location):
    if map_location is None:
        return "cpu"
    if isinstance(map_location, (str, _device_cls)):
        return map_location
    raise TypeError(f"[load] map_location must be None, a device string or a lamina.device, "
                    f"got {type(map_location).__name__}")


def load(f, map_location=None, weights_only=True):
    """Loads what :func:`save` wrote, or any safetensors file (as a dict name -> tensor).

    ``f`` is a path or a readable, seekable binary file object. ``map_location`` ('cpu',
    'cuda', 'cuda:1', a ``lamina.device``) says where tensors go; the default is the CPU.
    Loaded tensors own their memory and have ``requires_grad=False``. Loading never executes
    code from the file, so ``weights_only`` is accepted for PyTorch compatibility and has no
    effect. A truncated, corrupt or inconsistent file raises ``ValueError`` naming the file."""
    device = _map_location(map_location)
    raw, metadata = _st.read_file(f, device)
    if not metadata or _KEY not in metadata:
        return raw
    source = _st._source_name(f)
    try:
        doc = json.loads(metadata[_KEY])
    except (ValueError, RecursionError) as e:
        raise ValueError(f"[load] {source}: the structure in the header is not valid JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT or "tree" not in doc:
        raise ValueError(f"[load] {source}: unsupported structure format "
                         f"{doc.get('format') if isinstance(doc, dict) else doc!r:.40}")
    try:
        return _Decoder(source, raw).decode(doc["tree"])
    except RecursionError:
        raise ValueError(f"[load] {source}: the structure is nested too deeply") from None


__all__ = ["save", "load"]

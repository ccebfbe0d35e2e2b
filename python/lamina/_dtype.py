"""dtypes: ``lamina.float32`` and friends, with their C++ codes and NumPy equivalents."""
import numpy as np


class dtype:
    """An element type. Compare with ``==``; ``lamina.float32`` is the default."""
    __slots__ = ("name", "code", "itemsize", "is_floating_point", "is_signed", "_np")

    def __init__(self, name, code, itemsize, is_floating_point, is_signed, np_dtype):
        self.name, self.code, self.itemsize = name, code, itemsize
        self.is_floating_point, self.is_signed, self._np = is_floating_point, is_signed, np_dtype

    def __repr__(self):
        return "lamina." + self.name

    def __reduce__(self):
        return (_by_name, (self.name,))

    @property
    def numpy_dtype(self):
        if self._np is None:
            raise TypeError(f"NumPy has no {self.name} dtype")
        return np.dtype(self._np)


# Codes follow csrc/core/dtype.h.
bool_ = dtype("bool", 0, 1, False, False, np.bool_)
int32 = dtype("int32", 1, 4, False, True, np.int32)
int64 = dtype("int64", 2, 8, False, True, np.int64)
float16 = dtype("float16", 3, 2, True, True, np.float16)
bfloat16 = dtype("bfloat16", 4, 2, True, True, None)
float32 = dtype("float32", 5, 4, True, True, np.float32)
float64 = dtype("float64", 6, 8, True, True, np.float64)

BY_CODE = (bool_, int32, int64, float16, bfloat16, float32, float64)
_ALIASES = {"float": float32, "double": float64, "half": float16, "long": int64, "int": int32}


def _by_name(name):
    for d in BY_CODE:
        if d.name == name:
            return d
    return _ALIASES[name]


def to_dtype(obj):
    """Accepts a lamina dtype, a NumPy dtype or type, or a name such as 'float32'."""
    if isinstance(obj, dtype):
        return obj
    if obj is float:
        return float32
    if obj is int:
        return int64
    if obj is bool:
        return bool_
    if isinstance(obj, str):
        try:
            return _by_name(obj)
        except KeyError:
            pass
    try:
        nd = np.dtype(obj)
    except TypeError:
        nd = None
    if nd is not None:
        for d in BY_CODE:
            if d._np is not None and np.dtype(d._np) == nd:
                return d
    raise TypeError(f"cannot interpret {obj!r} as a lamina dtype")


def from_numpy_dtype(nd):
    return to_dtype(nd)

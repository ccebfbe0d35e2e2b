"""repr() of tensors, in PyTorch's layout: ``tensor([[1., 2.], ...], dtype=lamina.float64)``.

The rules follow PyTorch's printer with its default options (precision 4, 80 columns, more
than 1000 elements summarised with 3 edge items): one width for every element, fixed or
scientific notation chosen from the nonzero finite values, lines wrapped at the column limit."""
import math

import numpy as np

_PRECISION = 4
_LINEWIDTH = 80
_THRESHOLD = 1000
_EDGEITEMS = 3
_DEFAULT = ("float32", "int64", "bool")


class _Formatter:
    """Formats single elements so that all of a tensor's elements share one width."""

    def __init__(self, values, floating):
        self.floating = floating
        self.int_mode, self.sci_mode, self.width = True, False, 1
        if not floating:
            for v in values.tolist():
                self.width = max(self.width, len(str(v)))
            return
        vals = values[np.isfinite(values) & (values != 0)]
        if vals.size == 0:
            return
        mag = np.abs(vals)
        lo, hi = float(mag.min()), float(mag.max())
        self.int_mode = bool(np.all(vals == np.ceil(vals)))
        self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
        for v in vals.tolist():
            if self.sci_mode:
                self.width = max(self.width, len(f"{v:.{_PRECISION}e}"))
            elif self.int_mode:
                self.width = max(self.width, len(f"{v:.0f}") + 1)
            else:
                self.width = max(self.width, len(f"{v:.{_PRECISION}f}"))

    def __call__(self, v):
        if not self.floating:
            s = str(v)
        elif self.sci_mode:
            s = f"{v:.{_PRECISION}e}"
        elif self.int_mode:
            s = f"{v:.0f}" + ("" if math.isinf(v) or math.isnan(v) else ".")
        else:
            s = f"{v:.{_PRECISION}f}"
        return s.rjust(self.width)


def _edges(arr):
    """The elements a summarised print shows: the first and last edge items of every dim."""
    for d in range(arr.ndim):
        if arr.shape[d] > 2 * _EDGEITEMS:
            idx = list(range(_EDGEITEMS)) + list(range(arr.shape[d] - _EDGEITEMS, arr.shape[d]))
            arr = np.take(arr, idx, axis=d)
    return arr


def _body(arr, indent, summarize, fmt):
    if arr.ndim == 0:
        return fmt(arr.item())
    n = arr.shape[0]
    cut = summarize and n > 2 * _EDGEITEMS
    rows = list(range(_EDGEITEMS)) + [None] + list(range(n - _EDGEITEMS, n)) if cut else list(range(n))
    if arr.ndim == 1:
        items = [" ..." if i is None else fmt(arr[i].item()) for i in rows]
        per_line = max(1, (_LINEWIDTH - indent) // (fmt.width + 2))
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    parts = ["..." if i is None else _body(arr[i], indent + 1, summarize, fmt) for i in rows]
    return "[" + ("," + "\n" * (arr.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def tensor_repr(t):
    prefix = "tensor("
    indent = len(prefix)
    src = t.detach().cpu()
    floating = src.dtype.is_floating_point
    arr = (src.double() if floating else src).numpy()
    suffixes = []
    if t.device.type != "cpu":
        suffixes.append(f"device='{t.device}'")
    if arr.size == 0:
        if arr.ndim != 1:
            suffixes.append(f"size={tuple(arr.shape)}")
        if t.dtype.name != "float32":
            suffixes.append(f"dtype=lamina.{t.dtype.name}")
        body = "[]"
    else:
        if t.dtype.name not in _DEFAULT:
            suffixes.append(f"dtype=lamina.{t.dtype.name}")
        summarize = arr.size > _THRESHOLD
        fmt = _Formatter((_edges(arr) if summarize else arr).reshape(-1), floating)
        body = _body(arr, indent, summarize, fmt)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    out = prefix + body
    last = len(out) - out.rfind("\n") + 1
    for s in suffixes:
        if last + len(s) + 2 > _LINEWIDTH:
            out += ",\n" + " " * indent + s
            last = indent + len(s)
        else:
            out += ", " + s
            last += len(s) + 2
    return out + ")"

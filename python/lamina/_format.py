"""repr() of tensors, in PyTorch's layout: ``tensor([[1., 2.], ...], dtype=lamina.float64)``."""
import numpy as np

_DEFAULT = ("float32", "int64", "bool")


def _float_formatter(values):
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return lambda v: _special(v) or "nan"
    amax, amin = np.abs(finite).max(), np.abs(finite).min()
    if np.all(finite == np.round(finite)) and amax < 1e8:
        width = max(len(f"{v:.0f}") for v in finite) + 1
        return lambda v: (_special(v) or f"{v:.0f}.").rjust(width)
    sci = amax >= 1e8 or (amin < 1e-4 and amin != 0) or amax / max(amin, 1e-300) > 1e3 and amax >= 1e3
    fmt = "{:.4e}" if sci else "{:.4f}"
    width = max(len(fmt.format(v)) for v in finite)
    return lambda v: (_special(v) or fmt.format(v)).rjust(width)


def _special(v):
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return None


def tensor_repr(t):
    arr = t.detach().cpu().float().numpy() if t.dtype.name == "bfloat16" else t.detach().cpu().numpy()
    extras = []
    if t.numel() == 0:
        body = "[]" if t.ndim == 1 else "[]"
        if t.ndim != 1:
            extras.append(f"size={tuple(t.shape)}")
    else:
        summarize = t.numel() > 1000
        if arr.dtype.kind == "f":
            flat = arr.astype(np.float64).ravel()
            if summarize:
                flat = np.concatenate([flat[:3], flat[-3:]])
            fm = _float_formatter(flat)
            formatter = {"float_kind": lambda v: fm(float(v))}
        elif arr.dtype.kind == "b":
            formatter = {"bool": lambda v: "True" if v else "False"}
        else:
            formatter = None
        body = np.array2string(arr, separator=", ", prefix="tensor(", formatter=formatter,
                               threshold=1000 if summarize else arr.size + 1, edgeitems=3)
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    if t.dtype.name not in _DEFAULT:
        extras.append(f"dtype=lamina.{t.dtype.name}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"

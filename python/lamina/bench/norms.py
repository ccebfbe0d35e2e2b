"""norms: layer_norm and rms_norm, forward and forward+backward, lamina against PyTorch
(NumPy has no counterpart). Reported in microseconds per call.

Rows: (8192, 768) and (8192, 3072) float32 with weight (and bias for layer_norm); the
backward pass is ``(y * g).sum().backward()`` with a fixed random ``g``.
"""
import numpy as np

from .harness import Case, NotApplicable, as_lib

SHAPES = ((8192, 768), (8192, 3072))


def _functional(lib):
    if lib == "lamina":
        from lamina.nn import functional
        return functional
    if lib == "torch":
        import torch.nn.functional
        return torch.nn.functional
    raise NotApplicable(lib)


def norm_case(shape, kind, backward):
    rows, n = shape

    def setup():
        rng = np.random.default_rng(0)
        return [rng.standard_normal(s, dtype=np.float32) for s in (shape, (n,), (n,), shape)]

    def build(lib, data):
        F = _functional(lib)
        x, w, b, g = (as_lib(lib, a) for a in data)
        if backward:
            x, w, b = (t.detach().requires_grad_(True) for t in (x, w, b))

        def forward():
            if kind == "layer_norm":
                return F.layer_norm(x, (n,), w, b)
            return F.rms_norm(x, (n,), w, 1e-6)

        if not backward:
            return forward

        def step():
            (forward() * g).sum().backward()
            x.grad = w.grad = b.grad = None
        return step

    op = kind + (" fwd+bwd" if backward else " fwd")
    return Case(op, f"{rows}x{n}", "float32", None, build, setup, {})


def cases(quick=False):
    shapes = SHAPES[:1] if quick else SHAPES
    return [norm_case(s, k, bwd) for s in shapes for k in ("layer_norm", "rms_norm") for bwd in (False, True)]

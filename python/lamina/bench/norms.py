"""norms: layer_norm and rms_norm, forward and forward+backward, lamina against PyTorch
(NumPy has no counterpart). Reported in microseconds per call.

Rows: (8192, 768) and (8192, 3072) float32 with weight (and bias for layer_norm); the
backward pass is ``(y * g).sum().backward()`` with a fixed random ``g``. cross_entropy
forward+backward (mean over rows, int64 class targets) at (8192, 768) and (8192, 32000).
batch_norm in training mode (batch statistics, running buffers updated) at (16, 64, 32, 32) and
(64, 32, 8, 8) float32 with weight and bias, forward and forward+backward (``y.backward(g)``).
"""
import numpy as np

from .harness import Case, NotApplicable, as_lib

SHAPES = ((8192, 768), (8192, 3072))
CE_SHAPES = ((8192, 768), (8192, 32000))  # (rows, classes)


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


def cross_entropy_case(shape):
    rows, n = shape

    def setup():
        rng = np.random.default_rng(0)
        return [rng.standard_normal(shape, dtype=np.float32), rng.integers(0, n, rows)]

    def build(lib, data):
        F = _functional(lib)
        x, t = (as_lib(lib, a) for a in data)
        x = x.detach().requires_grad_(True)

        def step():
            F.cross_entropy(x, t).backward()
            x.grad = None
        return step

    return Case("cross_entropy fwd+bwd", f"{rows}x{n}", "float32", None, build, setup, {})


BN_SHAPES = ((16, 64, 32, 32), (64, 32, 8, 8))


def batch_norm_case(shape, backward):
    c = shape[1]

    def setup():
        rng = np.random.default_rng(0)
        return [rng.standard_normal(s, dtype=np.float32) for s in (shape, (c,), (c,), shape)]

    def build(lib, data):
        F = _functional(lib)
        x, w, b, g = (as_lib(lib, a) for a in data)
        rm, rv = as_lib(lib, np.zeros(c, np.float32)), as_lib(lib, np.ones(c, np.float32))
        if not backward:
            return lambda: F.batch_norm(x, rm, rv, w, b, training=True)
        x, w, b = (t.detach().requires_grad_(True) for t in (x, w, b))

        def step():
            F.batch_norm(x, rm, rv, w, b, training=True).backward(g)
            x.grad = w.grad = b.grad = None
        return step

    return Case("batch_norm fwd+bwd" if backward else "batch_norm fwd", "x".join(map(str, shape)), "float32", None,
                build, setup, {})


def cases(quick=False):
    shapes = SHAPES[:1] if quick else SHAPES
    norms = [norm_case(s, k, bwd) for s in shapes for k in ("layer_norm", "rms_norm") for bwd in (False, True)]
    bns = [batch_norm_case(s, bwd) for s in (BN_SHAPES[1:] if quick else BN_SHAPES) for bwd in (False, True)]
    return norms + [cross_entropy_case(s) for s in (CE_SHAPES[:1] if quick else CE_SHAPES)] + bns

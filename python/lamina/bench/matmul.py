"""matmul: float32 GEMM, lamina.matmul against numpy.matmul (its BLAS) and torch.matmul.

Rows:

- square ``a@b`` for N = 256, 512, 1024, 2048, 4096;
- the three GEMMs of a transformer linear layer ``y = x @ W.T`` (x: M x in activations,
  W: out x in weight, M = 8192 tokens) for the layers 768->768, 768->3072 and 3072->768, each
  in the operand layout its pass uses:

  ======  ========  =====================  ================================================
  pass    op        product                operands as stored
  ======  ========  =====================  ================================================
  fwd     a@b.T     y  = x @ W.T           a = x (M, in), b = W (out, in)
  dX      a@b       dX = dY @ W            a = dY (M, out), b = W (out, in)
  dW      a.T@b     dW = dY.T @ x          a = dY (M, out), b = x (M, in)
  ======  ========  =====================  ================================================

``shape`` is always the product's logical M x K x N (``a.T`` and ``b.T`` are views, never
copies), so flops = 2 M K N. The dX rows are the M x K x N = 8192x768x768, 8192x3072x768 and
8192x768x3072 plain products. ``--quick`` runs N = 256 and 512, plus the two transposed
layouts at 512.
"""
import numpy as np

from .harness import Case, as_lib

SQUARE = (256, 512, 1024, 2048, 4096)
TOKENS = 8192
LAYERS = ((768, 768), (768, 3072), (3072, 768))  # (in, out)


def _matmul(lib):
    if lib == "lamina":
        import lamina
        return lamina.matmul
    if lib == "torch":
        import torch
        return torch.matmul
    return np.matmul


def gemm(m, k, n, layout="a@b", note=""):
    """The M x K x N product in ``layout``: "a@b", "a.T@b" (a stored (K, M)) or "a@b.T" (b stored (N, K))."""
    a_shape = (k, m) if layout == "a.T@b" else (m, k)
    b_shape = (n, k) if layout == "a@b.T" else (k, n)

    def setup():
        rng = np.random.default_rng(0)
        return (rng.standard_normal(a_shape, dtype=np.float32), rng.standard_normal(b_shape, dtype=np.float32))

    def build(lib, data):
        a, b = (as_lib(lib, x) for x in data)
        mm = _matmul(lib)
        if layout == "a.T@b":
            return lambda: mm(a.T, b)
        if layout == "a@b.T":
            return lambda: mm(a, b.T)
        return lambda: mm(a, b)

    extra = {"layout": layout, "stored": {"a": list(a_shape), "b": list(b_shape)}}
    if note:
        extra["note"] = note
    return Case(layout, f"{m}x{k}x{n}", "float32", 2.0 * m * k * n, build, setup, extra)


def cases(quick=False):
    """The suite's cases; ``quick`` keeps the small ones (a smoke test in seconds)."""
    if quick:
        return [gemm(256, 256, 256), gemm(512, 512, 512), gemm(512, 512, 512, "a@b.T"), gemm(512, 512, 512, "a.T@b")]
    out = [gemm(n, n, n) for n in SQUARE]
    for d_in, d_out in LAYERS:
        layer = f"{d_in}->{d_out}"
        out += [gemm(TOKENS, d_in, d_out, "a@b.T", f"fwd y=x@W.T {layer}"),
                gemm(TOKENS, d_out, d_in, "a@b", f"dX=dY@W {layer}"),
                gemm(d_out, TOKENS, d_in, "a.T@b", f"dW=dY.T@x {layer}")]
    return out

"""gpu: lamina's CUDA kernels against PyTorch on the same GPU (cuBLAS for products).

Rows: square float32 ``a@b`` for N = 1024, 2048, 4096, 8192, the transformer layer products
of 8192 tokens (768->3072 forward ``x@W.T`` and its ``dX`` / ``dW`` layouts), and a
bandwidth-bound elementwise add and softmax. Every call ends with a device synchronisation so
the timing covers the kernel, not the launch. NumPy has no GPU counterpart (NotApplicable).
``--quick`` keeps N = 1024 and 2048. Without a GPU (or without CUDA in either library) the
cases raise NotApplicable, so the suite runs anywhere and reports nothing."""
import numpy as np

from .harness import Case, NotApplicable


def _on_gpu(lib, arrays):
    if lib == "lamina":
        import lamina
        if not lamina.cuda.is_available():
            raise NotApplicable("no CUDA device for lamina")
        return [lamina.from_numpy(a).cuda() for a in arrays], lamina.cuda.synchronize
    if lib == "torch":
        import torch
        if not torch.cuda.is_available():
            raise NotApplicable("no CUDA device for torch")
        torch.backends.cuda.matmul.allow_tf32 = False  # same arithmetic as lamina's float32 GEMM
        return [torch.from_numpy(a).cuda() for a in arrays], torch.cuda.synchronize
    raise NotApplicable("NumPy has no GPU path")


def _case(op, shape, flops, shapes, body, note=""):
    def setup():
        rng = np.random.default_rng(0)
        return [rng.standard_normal(s, dtype=np.float32) for s in shapes]

    def build(lib, data):
        xs, sync = _on_gpu(lib, data)

        def call():
            body(lib, *xs)
            sync()
        return call

    return Case(op, shape, "float32", flops, build, setup, {"device": "cuda", "note": note} if note else {"device": "cuda"})


def gemm(m, k, n, layout="a@b", note=""):
    """The M x K x N float32 product with operands stored for `layout` (views, never copies)."""
    a_shape = (k, m) if layout == "a.T@b" else (m, k)
    b_shape = (n, k) if layout == "a@b.T" else (k, n)

    def body(lib, a, b):
        a = a.T if layout == "a.T@b" else a
        b = b.T if layout == "a@b.T" else b
        return a @ b

    return _case(layout, f"{m}x{k}x{n}", 2.0 * m * k * n, (a_shape, b_shape), body, note)


def cases(quick=False):
    """The suite's cases; ``quick`` keeps the two smallest squares."""
    sizes = (1024, 2048) if quick else (1024, 2048, 4096, 8192)
    out = [gemm(n, n, n) for n in sizes]
    if quick:
        return out
    out += [gemm(8192, 768, 3072, "a@b.T", "fwd y=x@W.T 768->3072"),
            gemm(8192, 3072, 768, "a@b", "dX=dY@W 768->3072"),
            gemm(3072, 8192, 768, "a.T@b", "dW=dY.T@x 768->3072")]
    n = 1 << 24
    out.append(_case("add", f"{n}", None, ((n,), (n,)), lambda lib, a, b: a + b, "bandwidth"))
    out.append(_case("softmax", "8192x4096", None, ((8192, 4096),), lambda lib, x: x.softmax(-1), "bandwidth"))
    return out

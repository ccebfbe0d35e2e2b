"""overhead: what a small op costs end to end (Python, autograd, dispatch), in microseconds per call.

Rows: adding two 1-element float32 tensors; a tiny linear layer (1x16 input, 16x16 weight,
bias) forward + backward. PyTorch eager is the peer that matters; NumPy has the add only.
The project's targets for lamina are in each record's ``target_us`` (3 us and 30 us).
Thread counts hardly matter here; ``--threads 1`` is the usual choice.
"""
import numpy as np

from .harness import Case, NotApplicable


def _add(lib, data):
    if lib == "numpy":
        a, b = np.array([1.0], np.float32), np.array([2.0], np.float32)
    else:
        mod = __import__(lib)
        a, b = mod.tensor([1.0]), mod.tensor([2.0])
    return lambda: a + b


def lamina_linear():
    """lamina.nn.functional.linear if it exists, else the same layer as a broadcast product summed over inputs."""
    import lamina
    linear = getattr(lamina.nn.functional, "linear", None)
    if linear is not None:
        return linear
    return lambda x, w, b: (x.unsqueeze(1) * w).sum(-1) + b


def _linear(lib, data):
    if lib == "numpy":
        raise NotApplicable("NumPy has no autograd")
    if lib == "lamina":
        import lamina as mod
        linear = lamina_linear()
    else:
        import torch as mod
        linear = mod.nn.functional.linear
    x = mod.randn(1, 16)
    w = mod.randn(16, 16, requires_grad=True)
    bias = mod.randn(16, requires_grad=True)

    def step():
        linear(x, w, bias).sum().backward()
        w.grad = None
        bias.grad = None

    return step


def cases(quick=False):
    """Both rows, quick or not (each takes well under a second)."""
    import lamina
    how = "nn.functional.linear" if hasattr(lamina.nn.functional, "linear") else "broadcast product, summed"
    return [Case("add", "1 + 1", "float32", None, _add, extra={"target_us": 3.0}),
            Case("linear_fwd_bwd", "1x16 @ 16x16.T + 16", "float32", None, _linear,
                 extra={"target_us": 30.0, "lamina_linear": how})]

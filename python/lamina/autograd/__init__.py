"""Reverse-mode automatic differentiation: ``backward``, ``grad``, ``gradcheck``, ``Function``."""
from .. import _C
from . import function as _function
from .function import Function, run_backward
from .grad_mode import no_grad, enable_grad, set_grad_enabled, is_grad_enabled
from .gradcheck import gradcheck


def _seed_grads(outputs, grad_outputs):
    wrap = _function._wrap
    out = []
    for o, g in zip(outputs, grad_outputs):
        if not o.requires_grad:
            raise RuntimeError(f"element of the outputs (shape {tuple(o.shape)}) does not require grad and has no grad_fn")
        if g is None:
            if o.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs; got shape {tuple(o.shape)}")
            t = o._t
            g = wrap(_C.full(list(t.shape), 1.0, t.dtype, t.device_type, t.device_index))
        elif tuple(g.shape) != tuple(o.shape):
            raise ValueError(f"[backward] gradient shape {tuple(g.shape)} does not match output shape {tuple(o.shape)}")
        out.append(g)
    return out


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulates gradients of ``tensors`` into the ``.grad`` of the leaves they depend on."""
    outs = _as_list(tensors)
    grads = _seed_grads(outs, _as_list(grad_tensors) if grad_tensors is not None else [None] * len(outs))
    retain = create_graph if retain_graph is None else retain_graph
    if inputs is not None:
        inputs = _as_list(inputs)
        res = run_backward(outs, grads, retain, create_graph, inputs=inputs, accumulate=False)
        for t, g in zip(inputs, res):
            if g is not None:
                g = g if create_graph else g.detach()
                t.grad = g.clone() if t.grad is None else t.grad + g
        return
    run_backward(outs, grads, retain, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned (not accumulated into .grad)."""
    outs = _as_list(outputs)
    ins = _as_list(inputs)
    for t in ins:
        if not t.requires_grad:
            raise RuntimeError(f"one of the inputs (shape {tuple(t.shape)}) does not require grad")
    grads = _seed_grads(outs, _as_list(grad_outputs) if grad_outputs is not None else [None] * len(outs))
    retain = create_graph if retain_graph is None else retain_graph
    res = run_backward(outs, grads, retain, create_graph, inputs=ins, accumulate=False)
    for i, g in enumerate(res):
        if g is None and not allow_unused:
            raise RuntimeError(f"input {i} (shape {tuple(ins[i].shape)}) was not used in the graph; pass allow_unused=True")
    return tuple(g if (g is None or create_graph) else g.detach() for g in res)


__all__ = ["Function", "backward", "grad", "gradcheck", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]

"""Reverse-mode autograd: ``Function`` (an op's forward and backward side by side) and the
engine that walks the recorded graph once, in dependency order.

A Function's ``forward(ctx, *args)`` receives lamina Tensors (and plain values) and returns a
``_C.Tensor``; ``backward(ctx, grad)`` returns one gradient (or None) per positional argument.
Gradients for broadcast inputs are summed back to the input's shape here, in one place.
Each recorded call is a node: the ctx object itself, kept as the output's ``grad_fn``.
"""
from .grad_mode import _state, set_grad_enabled


class _NoCtx:
    """Stands in for ctx when nothing is recorded: saving is a no-op."""
    __slots__ = ()

    def save_for_backward(self, *tensors):
        pass

    def __setattr__(self, name, value):
        pass


_NO_CTX = _NoCtx()


class Function:
    """Base class of differentiable ops. Subclasses define static ``forward`` and ``backward``."""

    # Per-node state (set only on recorded calls).
    _next = ()          # per positional arg: None, a leaf Tensor, or a Function node
    _shapes = ()        # per positional arg: the shape its gradient must have
    _saved = None
    _versions = None
    _released = False

    def save_for_backward(self, *tensors):
        self._saved = tensors
        self._versions = tuple(t._t.version if t is not None else 0 for t in tensors)

    @property
    def saved_tensors(self):
        if self._released:
            raise RuntimeError(
                f"[{self.name()}] trying to backward through the graph a second time (or to read saved "
                "tensors after they were freed); pass retain_graph=True to the first backward")
        saved = self._saved or ()
        for i, (t, v) in enumerate(zip(saved, self._versions or ())):
            if t is not None and t._t.version != v:
                raise RuntimeError(
                    f"[{self.name()}] one of the variables needed for gradient computation has been modified "
                    f"by an inplace operation: saved tensor {i} of shape {tuple(t.shape)} is at version "
                    f"{t._t.version}; expected version {v}")
        return saved

    @classmethod
    def name(cls):
        return cls.__name__ + "Backward"

    def __repr__(self):
        return f"<{self.name()}>"

    @property
    def next_functions(self):
        return tuple(self._next)

    @classmethod
    def apply(cls, *args):
        Tensor = _Tensor
        if getattr(_state, "enabled", True):
            for a in args:
                if isinstance(a, Tensor) and a.requires_grad:
                    break
            else:
                return _wrap(cls.forward(_NO_CTX, *args))
            ctx = cls.__new__(cls)
            out = _wrap(cls.forward(ctx, *args))
            ctx._next = [(a.grad_fn or a) if isinstance(a, Tensor) and a.requires_grad else None for a in args]
            ctx._shapes = [a._t.shape if isinstance(a, Tensor) else None for a in args]
            if out._t.dtype >= 3:  # floating point outputs carry gradients
                out.requires_grad = True
                out.grad_fn = ctx
            return out
        return _wrap(cls.forward(_NO_CTX, *args))


# Set by lamina._tensor once the Tensor class exists (the two modules import each other).
_Tensor = None
_wrap = None


def _sum_to(g, shape):
    """Sums a broadcast gradient back to ``shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    dims = list(range(lead)) + [lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1]
    if dims:
        g = g.sum(dim=dims, keepdim=True)
    return g.reshape(shape) if g.shape != shape else g


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, inputs=None, accumulate=True):
    """Propagates ``root_grads`` from ``roots`` through the graph.

    With ``inputs``, returns their gradients (``autograd.grad``); leaves' ``.grad`` is written only
    when ``accumulate`` is true.
    """
    Tensor = _Tensor

    captured = {}
    capture_nodes = {}
    capture_leaves = {}
    if inputs is not None:
        for i, t in enumerate(inputs):
            (capture_nodes if t.grad_fn is not None else capture_leaves).setdefault(id(t.grad_fn or t), []).append(i)

    # Count, for every node, how many edges reach it; a node runs once all of them delivered.
    deps = {}
    stack = []
    for r in roots:
        if r.grad_fn is not None and id(r.grad_fn) not in deps:
            deps[id(r.grad_fn)] = 0
            stack.append(r.grad_fn)
    while stack:
        node = stack.pop()
        for nxt in node._next:
            if nxt is None or isinstance(nxt, Tensor):
                continue
            k = id(nxt)
            if k in deps:
                deps[k] += 1
            else:
                deps[k] = 1
                stack.append(nxt)

    pending = {}
    nodes = {}

    def deliver(edge, g):
        if isinstance(edge, Tensor):
            idxs = capture_leaves.get(id(edge))
            if idxs is not None:
                for i in idxs:
                    captured[i] = g if i not in captured else captured[i] + g
            if accumulate:
                _accumulate_leaf(edge, g, create_graph)
            return
        k = id(edge)
        nodes[k] = edge
        pending[k] = g if k not in pending else pending[k] + g

    with set_grad_enabled(create_graph):
        for r, g in zip(roots, root_grads):
            deliver(r.grad_fn if r.grad_fn is not None else r, g)
        ready = [nodes[k] for k in list(nodes) if deps.get(k, 0) == 0]
        while ready:
            node = ready.pop()
            k = id(node)
            g = pending.pop(k)
            for hook in getattr(node, "_retain_hooks", ()):
                hook(g)
            idxs = capture_nodes.get(k)
            if idxs is not None:
                for i in idxs:
                    captured[i] = g
            grads = node.backward(node, g)
            if not isinstance(grads, tuple):
                grads = (grads,)
            if not retain_graph:
                node._released = True
                node._saved = None
            for edge, ig, shape in zip(node._next, grads, node._shapes):
                if edge is None or ig is None:
                    continue
                if ig._t.shape != shape:
                    ig = _sum_to(ig, shape)
                deliver(edge, ig)
                if not isinstance(edge, Tensor):
                    ek = id(edge)
                    deps[ek] -= 1
                    if deps[ek] == 0:
                        ready.append(edge)
    if inputs is not None:
        return [captured.get(i) for i in range(len(inputs))]
    return None


def _accumulate_leaf(t, g, create_graph):
    for hook in t._hooks or ():
        r = hook(g)
        if r is not None:
            g = r
    if t.grad is None:
        # A fresh gradient must not alias a tensor the user may hold or modify later.
        t.grad = g if create_graph else _wrap(g._t.clone())
    else:
        t.grad = t.grad + (g if create_graph else g.detach())

"""Reverse-mode autograd: ``Function`` (an op's forward and backward side by side) and the
engine that walks the recorded graph once, in dependency order.

A Function's ``forward(ctx, *args)`` receives lamina Tensors (and plain values) and returns a
``_C.Tensor``; ``backward(ctx, grad)`` returns one gradient (or None) per positional argument.
Gradients for broadcast inputs are summed back to the input's shape here, in one place.
Each recorded call is a node: the ctx object itself, kept as the output's ``grad_fn``.
"""
from sys import getrefcount

from .grad_mode import _state


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

    @property
    def needs_input_grad(self):
        """Per positional argument: whether its gradient is wanted (it is a tensor requiring grad)."""
        return tuple(n is not None for n in self._next)

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
    # Gradients asked for by autograd.grad: at a leaf, or where a node's total gradient is known.
    wanted = {}
    captured = {}
    if inputs is not None:
        for i, t in enumerate(inputs):
            wanted.setdefault(t.grad_fn if t.grad_fn is not None else t, []).append(i)

    # Count, for every node, how many edges reach it; a node runs once all of them delivered.
    deps = {}
    stack = []
    for r in roots:
        fn = r.grad_fn
        if fn is not None and fn not in deps:
            deps[fn] = 0
            stack.append(fn)
    while stack:
        for nxt in stack.pop()._next:
            if nxt is None or nxt.__class__ is Tensor or isinstance(nxt, Tensor):
                continue
            if nxt in deps:
                deps[nxt] += 1
            else:
                deps[nxt] = 1
                stack.append(nxt)

    pending = {}
    prev_mode = getattr(_state, "enabled", True)
    _state.enabled = create_graph
    try:
        for r, g in zip(roots, root_grads):
            edge = r.grad_fn if r.grad_fn is not None else r
            if edge.__class__ is Tensor or isinstance(edge, Tensor):
                _deliver_leaf(edge, g, wanted, captured, accumulate, create_graph)
            else:
                pending[edge] = pending[edge] + g if edge in pending else g
        ready = [n for n in pending if deps.get(n, 0) == 0]
        while ready:
            node = ready.pop()
            g = pending.pop(node)
            for hook in getattr(node, "_retain_hooks", ()):
                hook(g)
            if node in wanted:
                for i in wanted[node]:
                    captured[i] = g
            grads = node.backward(node, g)
            g = None  # a gradient passed through unchanged is then held only by grads
            if grads.__class__ is not tuple:
                grads = (grads,)
            if not retain_graph:
                node._released = True
                node._saved = None
            # Each gradient is taken out of the list before it is delivered (and those for inputs
            # without an edge dropped first), so the engine's own references to it are known when
            # _unshared counts them.
            grads = [ig if edge is not None else None for edge, ig in zip(node._next, grads)]
            for i, (edge, shape) in enumerate(zip(node._next, node._shapes)):
                ig = grads[i] if i < len(grads) else None
                if edge is None or ig is None:
                    continue
                grads[i] = None
                if ig._t.shape != shape:
                    ig = _sum_to(ig, shape)
                if edge.__class__ is Tensor or isinstance(edge, Tensor):
                    unshared = not create_graph and _unshared(ig)
                    _deliver_leaf(edge, ig, wanted, captured, accumulate, create_graph, unshared)
                    continue
                pending[edge] = pending[edge] + ig if edge in pending else ig
                deps[edge] -= 1
                if deps[edge] == 0:
                    ready.append(edge)
    finally:
        _state.enabled = prev_mode
    if inputs is not None:
        return [captured.get(i) for i in range(len(inputs))]
    return None


def _deliver_leaf(t, g, wanted, captured, accumulate, create_graph, unshared=False):
    for i in wanted.get(t, ()):
        captured[i] = g if i not in captured else captured[i] + g
        unshared = False
    if accumulate:
        _accumulate_leaf(t, g, create_graph, unshared)


def _accumulate_leaf(t, g, create_graph, unshared=False):
    for hook in t._hooks or ():
        unshared = False  # a hook may keep g
        r = hook(g)
        if r is not None:
            g = r
    if t.grad is None:
        # The gradient must not alias a tensor the user may hold or modify later: it is taken as
        # it is only when nothing else can reach it (as PyTorch does), and copied otherwise.
        t.grad = g if create_graph else g.detach() if unshared else _wrap(g._t.clone())
    elif create_graph:
        t.grad = t.grad + g
    else:
        cur = t.grad
        c = cur._t
        if (not cur.requires_grad and c.is_contiguous() and c.shape == g._t.shape and c.dtype == g._t.dtype
                and c.device_type == g._t.device_type and c.device_index == g._t.device_index):
            # Into the existing gradient, as PyTorch does: no new buffer per accumulation.
            cur.add_(g)
        else:
            t.grad = cur + g.detach()


def _refs(g):
    return getrefcount(g), getrefcount(g._t)


class _Probe:
    __slots__ = ("_t",)


def _engine_refs():
    """The reference counts _unshared sees for a gradient held only by the delivery loop's local
    (the wrapper) and by its wrapper (the _C tensor), measured through the same chain of calls
    on a probe, so that the interpreter's own accounting cancels out."""
    grads = [_Probe()]
    grads[0]._t = object()
    ig = grads[0]
    grads[0] = None
    return _probe_refs(ig)


def _probe_refs(g):  # stands where _unshared stands
    return _refs(g)


_ENGINE_REFS = _engine_refs()


def _unshared(g):
    """Whether nothing but the engine holds gradient g: no other reference to its wrapper (a
    hook's, a node's pending sum, a second edge's) or to its _C tensor (another wrapper, from
    detach), and no other tensor on its storage (a view, an export)."""
    w, t = _refs(g)
    return w <= _ENGINE_REFS[0] and t <= _ENGINE_REFS[1] and g._t.storage_refs == 1

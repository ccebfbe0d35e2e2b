"""``nn.Parameter``: a leaf tensor that a Module registers as one of its learnable weights."""
from .._tensor import Tensor


class Parameter(Tensor):
    """A tensor that requires grad by default and is picked up by ``Module.parameters()``.

    It shares storage with ``data``; ops on a Parameter return plain Tensors."""

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            from .._creation import empty
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"[Parameter] expected a lamina.Tensor, got {type(data).__name__}")
        p = object.__new__(cls)
        p._t = data._t
        p.requires_grad = False
        p.grad = None
        p.grad_fn = None
        p._hooks = None
        p._retains_grad = False
        if requires_grad:
            p.requires_grad_(True)
        return p

    def __init__(self, data=None, requires_grad=True):
        pass

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        p = Parameter(self.detach().clone(), self.requires_grad)
        memo[id(self)] = p
        return p

    def __reduce__(self):
        return (Parameter, (Tensor.detach(self), self.requires_grad))

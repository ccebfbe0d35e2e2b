"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""
from .. import _C
from .._creation import zeros_like
from .optimizer import Optimizer, _check_hparam


class SGD(Optimizer):
    """``torch.optim.SGD``: ``p -= lr * d`` where ``d`` is the (decayed) gradient, or its momentum
    buffer ``b = momentum * b + (1 - dampening) * d`` (``d + momentum * b`` with ``nesterov``).
    The buffer starts as the first step's gradient. ``maximize`` ascends instead."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, fused=None):
        _check_hparam("lr", lr, label="learning rate")
        _check_hparam("momentum", momentum, label="momentum value")
        _check_hparam("weight_decay", weight_decay, label="weight_decay value")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        # foreach/fused are accepted for torch.optim compatibility: every update here is fused.
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _update(self, param, grad, group, state):
        momentum = float(group["momentum"])
        buf, first = None, False
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = zeros_like(param)
                first = True
        _C.sgd_step(param._t, grad._t, None if buf is None else buf._t, float(group["lr"]), momentum,
                    float(group["dampening"]), float(group["weight_decay"]), bool(group["nesterov"]),
                    bool(group["maximize"]), first)

"""RMSprop, plain or centered, with momentum and weight decay."""
from .. import _C
from .._creation import zeros_like
from .optimizer import Optimizer, _check_hparam


class RMSprop(Optimizer):
    """``torch.optim.RMSprop``: ``s = alpha s + (1 - alpha) g^2``; the step divides ``g`` by
    ``sqrt(s) + eps`` (``sqrt(s - mean(g)^2) + eps`` when ``centered``, the mean being a running
    ``lerp`` of the gradient), through a momentum buffer when ``momentum > 0``."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, *,
                 maximize=False, foreach=None):
        _check_hparam("lr", lr, label="learning rate")
        _check_hparam("eps", eps, label="epsilon value")
        _check_hparam("momentum", momentum, label="momentum value")
        _check_hparam("weight_decay", weight_decay, label="weight_decay value")
        _check_hparam("alpha", alpha, label="alpha value")
        # foreach is accepted for torch.optim compatibility: every update here is fused.
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))

    def _update(self, param, grad, group, state):
        momentum, centered = float(group["momentum"]), bool(group["centered"])
        if not state:
            state["step"] = 0
            state["square_avg"] = zeros_like(param)
        if momentum > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = zeros_like(param)
        if centered and "grad_avg" not in state:
            state["grad_avg"] = zeros_like(param)
        state["step"] += 1
        _C.rmsprop_step(param._t, grad._t, state["square_avg"]._t, state["grad_avg"]._t if centered else None,
                        state["momentum_buffer"]._t if momentum > 0 else None, float(group["lr"]),
                        float(group["alpha"]), float(group["eps"]), float(group["weight_decay"]), momentum,
                        bool(group["maximize"]))

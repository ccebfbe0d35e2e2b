"""Adam and AdamW (decoupled weight decay), with AMSGrad."""
from .. import _C
from .._creation import zeros_like
from .optimizer import Optimizer, _check_hparam


class Adam(Optimizer):
    """``torch.optim.Adam``: bias-corrected first and second moment estimates,

    ``m = lerp(m, g, 1 - beta1)``, ``v = beta2 v + (1 - beta2) g^2``,
    ``p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)``,

    with ``v`` replaced by its running maximum under ``amsgrad``. ``weight_decay`` adds
    ``weight_decay * p`` to the gradient, or, with ``decoupled_weight_decay`` (AdamW), scales the
    parameter by ``1 - lr * weight_decay`` first."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 maximize=False, decoupled_weight_decay=False, foreach=None, fused=None):
        _check_hparam("lr", lr, label="learning rate")
        _check_hparam("eps", eps, label="epsilon value")
        _check_hparam("beta1", betas[0], high=1.0, high_open=True, label="beta parameter at index 0")
        _check_hparam("beta2", betas[1], high=1.0, high_open=True, label="beta parameter at index 1")
        _check_hparam("weight_decay", weight_decay, label="weight_decay value")
        # foreach/fused are accepted for torch.optim compatibility: every update here is fused.
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, decoupled_weight_decay=decoupled_weight_decay))

    def _update(self, param, grad, group, state):
        amsgrad = bool(group["amsgrad"])
        if not state:
            state["step"] = 0
            state["exp_avg"] = zeros_like(param)
            state["exp_avg_sq"] = zeros_like(param)
        if amsgrad and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = zeros_like(param)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        _C.adam_step(param._t, grad._t, state["exp_avg"]._t, state["exp_avg_sq"]._t,
                     state["max_exp_avg_sq"]._t if amsgrad else None, float(group["lr"]), float(beta1), float(beta2),
                     float(group["eps"]), float(group["weight_decay"]), state["step"],
                     bool(group["decoupled_weight_decay"]), amsgrad, bool(group["maximize"]))


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay (default 1e-2): each step scales
    the parameter by ``1 - lr * weight_decay`` before the Adam update."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, fused=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, decoupled_weight_decay=True)

"""Adagrad with learning-rate decay and weight decay."""
from .. import _C
from .._creation import full_like
from .optimizer import Optimizer, _check_hparam


class Adagrad(Optimizer):
    """``torch.optim.Adagrad``: ``s += g^2``, ``p -= clr * g / (sqrt(s) + eps)`` with
    ``clr = lr / (1 + (t - 1) lr_decay)``. The sum starts at ``initial_accumulator_value`` and,
    as in torch, exists from construction on."""

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, *,
                 maximize=False, foreach=None, fused=None):
        _check_hparam("lr", lr, label="learning rate")
        _check_hparam("lr_decay", lr_decay, label="lr_decay value")
        _check_hparam("weight_decay", weight_decay, label="weight_decay value")
        _check_hparam("initial_accumulator_value", initial_accumulator_value,
                      label="initial_accumulator_value value")
        _check_hparam("eps", eps, label="epsilon value")
        # foreach/fused are accepted for torch.optim compatibility: every update here is fused.
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize))

    def _init_group(self, group):
        for p in group["params"]:
            state = self.state[p]
            state["step"] = 0
            state["sum"] = full_like(p, float(group["initial_accumulator_value"]))

    def _update(self, param, grad, group, state):
        state["step"] += 1
        _C.adagrad_step(param._t, grad._t, state["sum"]._t, float(group["lr"]), float(group["lr_decay"]),
                        float(group["weight_decay"]), float(group["eps"]), state["step"], bool(group["maximize"]))

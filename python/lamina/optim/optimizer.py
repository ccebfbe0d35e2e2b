"""``Optimizer``: parameter groups, per-parameter state and the state-dict layout of
``torch.optim``. Subclasses say how one parameter is updated (``_update``); the arithmetic is a
fused C++ kernel per parameter (``csrc/ops/optim.cpp`` -> ``csrc/cpu/optim_kernels.cpp``)."""
import math
from collections import defaultdict
from itertools import chain

from .._tensor import Tensor
from ..autograd.grad_mode import enable_grad


def _check_hparam(name, value, low=0.0, high=None, low_open=False, high_open=False, label=None):
    """Raises ValueError unless ``low <= value (< or <=) high``, in torch.optim's words."""
    v = float(value)
    bad = math.isnan(v) or v < low or (low_open and v == low)
    if high is not None:
        bad = bad or v > high or (high_open and v == high)
    if bad:
        raise ValueError(f"Invalid {label or name}: {value}")


_SET_ORDER = ("optimizer parameters need to be organized in ordered collections, but the ordering of tensors in "
              "sets will change between runs; use a list instead")


class Optimizer:
    """Base class of all optimisers.

    ``params`` is an iterable of tensors, or of dicts each holding ``'params'`` and options that
    override ``defaults`` for that group. ``state`` maps each parameter to a dict of its state
    (tensors and numbers)."""

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {type(params).__name__}")
        if isinstance(params, (set, frozenset)):
            raise TypeError(_SET_ORDER)
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group):
        """Adds a group of parameters with its own options (missing ones come from ``defaults``)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(_SET_ORDER)
        else:
            params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        group = dict(param_group, params=params)
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)
        self._init_group(group)

    def _init_group(self, group):
        """Hook for optimisers whose state exists before the first step (Adagrad)."""

    def zero_grad(self, set_to_none=True):
        """Resets every parameter's gradient: to None (default), or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.detach_()
                    p.grad.zero_()

    def step(self, closure=None):
        """Updates every parameter that has a gradient, once. ``closure``, if given, re-evaluates
        the model and returns the loss (it runs with gradient recording on); its result is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, p.grad, group, self.state[p])
        return loss

    def _update(self, param, grad, group, state):
        raise NotImplementedError(f"{type(self).__name__} does not define its update")

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self):
        """``{'state': {index: {name: value}}, 'param_groups': [{options..., 'params': [index...]}]}``
        with parameters numbered in group order, as in ``torch.optim``. State tensors are the live
        ones (not copies): save or clone them before stepping further if they must not change."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if s and id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restores groups' options and per-parameter state from ``state_dict()``'s output. State
        tensors are copied (cast to each parameter's dtype), so the source dict stays untouched."""
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError("[load_state_dict] expected a dict with 'state' and 'param_groups', as returned by "
                             "Optimizer.state_dict()")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has a different number of parameter groups ({len(saved_groups)}) "
                             f"than the optimizer ({len(self.param_groups)})")
        for i, (g, sg) in enumerate(zip(self.param_groups, saved_groups)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(f"loaded state dict contains a parameter group that doesn't match the size of "
                                 f"optimizer's group: group {i} has {len(sg['params'])} parameters in the state "
                                 f"dict and {len(g['params'])} in the optimizer")
        by_index = dict(zip(chain.from_iterable(sg["params"] for sg in saved_groups),
                            chain.from_iterable(g["params"] for g in self.param_groups)))
        state = defaultdict(dict)
        for k, entry in state_dict["state"].items():
            if k not in by_index:
                raise ValueError(f"[load_state_dict] the state dict has state for parameter {k}, which is in none of "
                                 f"its parameter groups")
            p = by_index[k]
            state[p] = {name: _state_value(p, k, name, v) for name, v in entry.items()}
        self.state = state
        self.param_groups = [dict(sg, params=g["params"]) for g, sg in zip(self.param_groups, saved_groups)]


def _state_value(param, index, name, value):
    """A loaded state entry: tensors shaped like the parameter become contiguous copies in its
    dtype; a tensor step counter becomes a number."""
    if not isinstance(value, Tensor):
        return value
    if name == "step":
        return int(value.item())
    if tuple(value.shape) != tuple(param.shape):
        raise ValueError(f"[load_state_dict] state '{name}' of parameter {index} has shape {tuple(value.shape)}, "
                         f"but the parameter has shape {tuple(param.shape)}")
    return value.detach().to(param.dtype, copy=True).contiguous()

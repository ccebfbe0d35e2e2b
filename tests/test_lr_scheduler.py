"""lamina.optim.lr_scheduler: every schedule step by step against torch's (learning rates and
cycled momentum, two parameter groups), closed forms, checkpoint resume and errors."""
import math
import warnings

import numpy as np
import pytest

import lamina
from lamina import optim
from lamina.optim import lr_scheduler as sched


def _groups(lib, opt_cls, opt_kw):
    ps = [lib.zeros(2, requires_grad=True), lib.zeros(3, requires_grad=True)]
    return opt_cls([{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.05}], **opt_kw)


def _trace(lib, mod, make, opt_name, opt_kw, steps):
    """Learning rates and momentum of both groups after construction and after each step."""
    opt = _groups(lib, getattr(mod, opt_name), opt_kw)
    s = make(mod.lr_scheduler, opt)

    def snap():
        vals = [v for g in opt.param_groups for v in (g["lr"], g.get("momentum", math.nan), *g.get("betas", ()))]
        return vals + list(s.get_last_lr())
    out = [snap()]
    for _ in range(steps):
        opt.step()
        s.step()
        out.append(snap())
    return out


SCHEDULES = {
    "step": lambda m, o: m.StepLR(o, step_size=4, gamma=0.5),
    "multistep": lambda m, o: m.MultiStepLR(o, milestones=[3, 7, 7, 12], gamma=0.3),
    "exponential": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "cosine": lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    "cosine_restart_region": lambda m, o: m.CosineAnnealingLR(o, T_max=5),
    "linear": lambda m, o: m.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=6),
    "linear_default": lambda m, o: m.LinearLR(o),
    "lambda": lambda m, o: m.LambdaLR(o, lambda e: 0.95 ** e + 0.01 * e),
    "lambda_per_group": lambda m, o: m.LambdaLR(o, [lambda e: 1.0 / (e + 1), lambda e: min(1.0, (e + 1) / 5)]),
    "onecycle_cos": lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=30),
    "onecycle_linear": lambda m, o: m.OneCycleLR(o, max_lr=0.4, epochs=3, steps_per_epoch=10,
                                                 anneal_strategy="linear", pct_start=0.25, div_factor=10.0),
    "onecycle_three_phase": lambda m, o: m.OneCycleLR(o, max_lr=0.3, total_steps=30, three_phase=True,
                                                      base_momentum=0.8, max_momentum=[0.9, 0.95]),
    "onecycle_no_momentum": lambda m, o: m.OneCycleLR(o, max_lr=0.3, total_steps=30, cycle_momentum=False,
                                                      final_div_factor=100.0),
}
OPTIMIZERS = [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01, betas=(0.9, 0.99)))]


@pytest.mark.parametrize("opt_name,opt_kw", OPTIMIZERS, ids=[o for o, _ in OPTIMIZERS])
@pytest.mark.parametrize("name", list(SCHEDULES))
def test_matches_torch_step_by_step(name, opt_name, opt_kw):
    torch = pytest.importorskip("torch")
    steps = 29 if name.startswith("onecycle") else 30  # OneCycleLR refuses to go past total_steps
    ours = _trace(lamina, lamina.optim, SCHEDULES[name], opt_name, opt_kw, steps)
    theirs = _trace(torch, torch.optim, SCHEDULES[name], opt_name, opt_kw, steps)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=0, err_msg=f"{name}, step {i}")


@pytest.mark.parametrize("name", ["step", "multistep", "exponential", "cosine", "linear"])
def test_step_with_epoch_uses_closed_form_like_torch(name):
    torch = pytest.importorskip("torch")
    results = []
    for lib, mod in ((lamina, lamina.optim), (torch, torch.optim)):
        opt = _groups(lib, mod.SGD, dict(lr=0.1))
        s = SCHEDULES[name](mod.lr_scheduler, opt)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for epoch in (3, 9, 4):
                s.step(epoch)
        results.append(s.get_last_lr())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-13)


def test_closed_forms_without_torch():
    p = lamina.zeros(2, requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    s = sched.CosineAnnealingLR(opt, T_max=10, eta_min=0.1)
    for t in range(1, 11):
        opt.step()
        s.step()
        assert abs(s.get_last_lr()[0] - (0.1 + 0.9 * (1 + math.cos(math.pi * t / 10)) / 2)) < 1e-12
    opt = optim.SGD([p], lr=1.0)
    s = sched.StepLR(opt, step_size=3, gamma=0.5)
    lrs = [s.get_last_lr()[0]]
    for _ in range(7):
        s.step()
        lrs.append(s.get_last_lr()[0])
    assert lrs == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_onecycle_sets_momentum_and_group_keys():
    p = lamina.zeros(2, requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    s = sched.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    g = opt.param_groups[0]
    assert g["initial_lr"] == 1.0 / 25 and g["max_lr"] == 1.0 and g["min_lr"] == g["initial_lr"] / 1e4
    assert g["betas"] == (0.95, 0.999) and abs(s.get_last_lr()[0] - g["initial_lr"]) < 1e-15
    for _ in range(9):
        s.step()
    assert abs(g["lr"] - g["min_lr"]) < 1e-15 and g["betas"][0] == 0.95
    with pytest.raises(ValueError, match="Tried to step 11 times"):
        s.step()
        s.step()


def test_resume_from_checkpoint_continues_identically():
    def make(o):
        return sched.CosineAnnealingLR(o, T_max=8, eta_min=0.01)
    p = lamina.zeros(2, requires_grad=True)
    opt = optim.SGD([p], lr=0.3, momentum=0.9)
    s = make(opt)
    for _ in range(5):
        opt.step()
        s.step()
    opt_sd, sched_sd = opt.state_dict(), s.state_dict()
    assert "optimizer" not in sched_sd and sched_sd["last_epoch"] == 5
    q = lamina.zeros(2, requires_grad=True)
    opt2 = optim.SGD([q], lr=0.3, momentum=0.9)
    s2 = make(opt2)
    opt2.load_state_dict(opt_sd)
    s2.load_state_dict(sched_sd)
    for _ in range(10):
        for o, x in ((opt, s), (opt2, s2)):
            o.step()
            x.step()
        assert s.get_last_lr() == s2.get_last_lr()
    # Resuming by last_epoch needs initial_lr in the groups, which the optimizer state carries.
    opt3 = optim.SGD([lamina.zeros(2, requires_grad=True)], lr=0.3)
    opt3.load_state_dict(opt_sd)
    sched.CosineAnnealingLR(opt3, T_max=8, eta_min=0.01, last_epoch=5)


def test_lambda_state_dict_keeps_callable_objects():
    class Warmup:
        def __init__(self, n):
            self.n = n

        def __call__(self, e):
            return min(1.0, (e + 1) / self.n)
    p = lamina.zeros(2, requires_grad=True)
    s = sched.LambdaLR(optim.SGD([p], lr=1.0), [Warmup(4)])
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [{"n": 4}]
    s2 = sched.LambdaLR(optim.SGD([p], lr=1.0), [Warmup(10)])
    s2.load_state_dict(sd)
    assert s2.lr_lambdas[0].n == 4 and "lr_lambdas" in sd
    plain = sched.LambdaLR(optim.SGD([p], lr=1.0), lambda e: 1.0)
    assert plain.state_dict()["lr_lambdas"] == [None]


def test_errors():
    p = lamina.zeros(2, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        sched.StepLR(object(), step_size=2)
    with pytest.raises(KeyError, match="initial_lr"):
        sched.ExponentialLR(optim.SGD([p], lr=0.1), gamma=0.9, last_epoch=3)
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        sched.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="Expected 1 lr_lambdas, but got 2"):
        sched.LambdaLR(opt, [lambda e: 1, lambda e: 1])
    with pytest.raises(ValueError, match="total_steps OR"):
        sched.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="anneal_strategy"):
        sched.OneCycleLR(opt, max_lr=1.0, total_steps=5, anneal_strategy="step")
    with pytest.raises(ValueError, match="expected 1 values for max_lr, got 2"):
        sched.OneCycleLR(opt, max_lr=[1.0, 2.0], total_steps=5)
    with pytest.raises(ValueError, match="must support momentum or beta1"):
        sched.OneCycleLR(optim.Adagrad([p]), max_lr=1.0, total_steps=5)

"""lamina.optim: fused updates against float64 NumPy references on every kernel path, lockstep
parity with torch.optim for every optimiser and option, param groups, closures, zero_grad,
state-dict round trips, version counting and errors."""
import math

import numpy as np
import pytest

import lamina
from lamina import optim
from conftest import rel_err

SHAPES = [(7, 5), (1,), (0, 3), (33,)]
STEPS = 12


# ---------------------------------------------------------------- float64 NumPy references
def ref_sgd(p, g, st, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False):
    d = -g if maximize else g
    d = d + weight_decay * p
    if momentum:
        st["buf"] = d.copy() if "buf" not in st else momentum * st["buf"] + (1 - dampening) * d
        d = d + momentum * st["buf"] if nesterov else st["buf"]
    return p - lr * d


def ref_adam(p, g, st, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, maximize=False,
             decoupled=False):
    b1, b2 = betas
    g = -g if maximize else g
    if decoupled:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    t = st["t"] = st.get("t", 0) + 1
    m = st["m"] = b1 * st.get("m", 0) + (1 - b1) * g
    v = st["v"] = b2 * st.get("v", 0) + (1 - b2) * g * g
    if amsgrad:
        v = st["vmax"] = np.maximum(st.get("vmax", 0), v)
    return p - lr / (1 - b1 ** t) * m / (np.sqrt(v) / math.sqrt(1 - b2 ** t) + eps)


def ref_adamw(p, g, st, weight_decay=1e-2, **kw):
    return ref_adam(p, g, st, weight_decay=weight_decay, decoupled=True, **kw)


def ref_rmsprop(p, g, st, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                maximize=False):
    g = (-g if maximize else g) + weight_decay * p
    s = st["s"] = alpha * st.get("s", 0) + (1 - alpha) * g * g
    if centered:
        st["a"] = alpha * st.get("a", 0) + (1 - alpha) * g
        s = s - st["a"] ** 2
    step = g / (np.sqrt(s) + eps)
    if momentum:
        step = st["b"] = momentum * st.get("b", 0) + step
    return p - lr * step


def ref_adagrad(p, g, st, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                maximize=False):
    g = (-g if maximize else g) + weight_decay * p
    t = st["t"] = st.get("t", 0) + 1
    s = st["s"] = st.get("s", initial_accumulator_value) + g * g
    return p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s) + eps)


CASES = {
    "SGD": (ref_sgd, [dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.3),
                      dict(lr=0.05, momentum=0.8, nesterov=True), dict(lr=0.1, weight_decay=0.1, maximize=True),
                      dict(lr=0.05, momentum=0.7, nesterov=True, weight_decay=0.05, maximize=True)]),
    "Adam": (ref_adam, [dict(), dict(lr=0.02, weight_decay=0.1), dict(lr=0.02, amsgrad=True),
                        dict(lr=0.01, maximize=True), dict(lr=0.01, betas=(0.3, 0.4), eps=1e-3),
                        dict(lr=0.03, betas=(0.8, 0.9), weight_decay=0.05, amsgrad=True, maximize=True)]),
    "AdamW": (ref_adamw, [dict(), dict(lr=0.05, weight_decay=0), dict(lr=0.02, amsgrad=True),
                          dict(lr=0.02, weight_decay=0.3, amsgrad=True, maximize=True, betas=(0.4, 0.7))]),
    "RMSprop": (ref_rmsprop, [dict(), dict(centered=True), dict(momentum=0.9), dict(weight_decay=0.1, alpha=0.4),
                              dict(lr=0.005, centered=True, momentum=0.5, weight_decay=0.05, maximize=True)]),
    "Adagrad": (ref_adagrad, [dict(), dict(lr_decay=0.1), dict(weight_decay=0.2),
                              dict(initial_accumulator_value=0.5, eps=1e-3),
                              dict(lr=0.05, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.1,
                                   maximize=True)]),
}
ALL = [(name, kw) for name, (_, kws) in CASES.items() for kw in kws]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}" for name, kw in ALL]


def make_problem(rng, shapes, dtype, steps=STEPS):
    inits = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]
    return inits, grads


def run_lamina(name, kw, inits, grads, groups=None):
    params = [lamina.tensor(x, requires_grad=True) for x in inits]
    opt = getattr(optim, name)(groups(params) if groups else params, **kw)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = lamina.tensor(g)
        opt.step()
    return params, opt


def run_ref(name, kw, inits, grads):
    ref = CASES[name][0]
    ps = [x.astype(np.float64) for x in inits]
    states = [{} for _ in ps]
    for gs in grads:
        ps = [ref(p, g.astype(np.float64), st, **kw) for p, g, st in zip(ps, gs, states)]
    return ps


# ---------------------------------------------------------------- kernels against NumPy
@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_against_numpy_reference(name, kw, isa, rng):
    # float32 rounds at every step of the run against a float64 reference: a few ulp per step,
    # amplified where centered RMSprop divides by sqrt(E[g^2] - E[g]^2) of a one-element
    # parameter, which can be small (up to 1.6e-5 seen over 300 random problems).
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-4)):
        inits, grads = make_problem(rng, SHAPES, dtype)
        params, _ = run_lamina(name, kw, inits, grads)
        for p, r in zip(params, run_ref(name, kw, inits, grads)):
            assert p.dtype is (lamina.float64 if dtype is np.float64 else lamina.float32)
            if r.size:
                assert rel_err(p.detach().numpy(), r) < tol, (name, kw, dtype)


@pytest.mark.parametrize("name", list(CASES))
def test_large_tensor_threads(name, rng):
    """Big enough to be split across threads."""
    kw = CASES[name][1][-1]
    inits, grads = make_problem(rng, [(40001,)], np.float64, steps=3)
    params, _ = run_lamina(name, kw, inits, grads)
    assert rel_err(params[0].detach().numpy(), run_ref(name, kw, inits, grads)[0]) < 1e-12


# ---------------------------------------------------------------- torch.optim parity
def run_torch(name, kw, inits, grads, groups=None):
    torch = pytest.importorskip("torch")
    params = [torch.tensor(x, requires_grad=True) for x in inits]
    opt = getattr(torch.optim, name)(groups(params) if groups else params, **kw)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = torch.tensor(g)
        opt.step()
    return params, opt


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_lockstep_with_torch(name, kw, dtype, rng):
    inits, grads = make_problem(rng, SHAPES, dtype)
    tp, topt = run_torch(name, kw, inits, grads)
    lp, lopt = run_lamina(name, kw, inits, grads)
    tol = 1e-6 if dtype is np.float64 else 1e-5
    for a, b in zip(lp, tp):
        if a.numel():
            assert rel_err(a.detach().numpy(), b.detach().numpy()) < tol
    # Same state-dict layout: parameter numbering, state names, and torch's options for each group.
    ls, ts = lopt.state_dict(), topt.state_dict()
    assert set(ls["state"]) == set(ts["state"])
    for k in ts["state"]:
        assert set(ls["state"][k]) == set(ts["state"][k])
        for key, v in ts["state"][k].items():
            lv = ls["state"][k][key]
            if key == "step":
                assert lv == int(v.item())
            elif lv.numel():
                assert rel_err(lv.numpy(), v.numpy()) < tol * 10
    for lg, tg in zip(ls["param_groups"], ts["param_groups"]):
        assert lg["params"] == tg["params"]
        for k, v in lg.items():
            assert tg[k] == v, k


def test_param_groups_with_different_lr(rng):
    inits, grads = make_problem(rng, [(4, 3), (5,), (2, 2)], np.float64)

    def groups(ps):
        return [{"params": ps[:2], "lr": 0.1}, {"params": ps[2:], "lr": 0.01, "betas": (0.5, 0.9)}]
    lp, lopt = run_lamina("Adam", dict(lr=0.05), inits, grads, groups)
    tp, topt = run_torch("Adam", dict(lr=0.05), inits, grads, groups)
    for a, b in zip(lp, tp):
        assert rel_err(a.detach().numpy(), b.detach().numpy()) < 1e-10
    assert [g["lr"] for g in lopt.param_groups] == [0.1, 0.01]
    assert lopt.param_groups[1]["betas"] == (0.5, 0.9) and lopt.param_groups[0]["betas"] == (0.9, 0.999)
    assert lopt.state_dict()["param_groups"][1]["params"] == [2]


def test_add_param_group_and_missing_grads(rng):
    a = lamina.randn(3, requires_grad=True, dtype=lamina.float64)
    b = lamina.randn(4, requires_grad=True, dtype=lamina.float64)
    opt = optim.SGD([a], lr=0.5, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.1})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.1
    a0, b0 = a.detach().numpy().copy(), b.detach().numpy().copy()
    a.grad = lamina.ones(3, dtype=lamina.float64)
    opt.step()  # b has no gradient: untouched, and no state made for it
    np.testing.assert_allclose(a.detach().numpy(), a0 - 0.5)
    np.testing.assert_array_equal(b.detach().numpy(), b0)
    assert b not in opt.state and "momentum_buffer" in opt.state[a]


def test_zero_grad():
    p = lamina.randn(3, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = lamina.ones(3)
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and p.grad.tolist() == [0.0, 0.0, 0.0] and not p.grad.requires_grad
    opt.zero_grad()
    assert p.grad is None
    opt.step()  # nothing to do without gradients


def test_closure_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x0, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    runs = []
    for lib, mod in ((lamina, optim), (torch, torch.optim)):
        p = lib.tensor(x0, requires_grad=True)
        t = lib.tensor(target)
        opt = mod.RMSprop([p], lr=0.01, momentum=0.5, centered=True)

        def closure():
            opt.zero_grad()
            loss = ((p - t) ** 2).sum()
            loss.backward()
            return loss
        losses = [opt.step(closure).item() for _ in range(10)]
        runs.append((p.detach().numpy().copy(), losses))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-10)
    np.testing.assert_allclose(runs[0][1], runs[1][1], rtol=1e-10)


def test_closure_records_under_no_grad():
    p = lamina.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        loss = (p * p).sum()
        loss.backward()
        return loss
    with lamina.no_grad():
        loss = opt.step(closure)
    assert float(loss) == 5.0
    np.testing.assert_allclose(p.detach().numpy(), [0.8, 1.6], rtol=1e-6)


def _copy_state_dict(sd):
    def copy(v):
        if isinstance(v, lamina.Tensor):
            return v.clone()
        if isinstance(v, dict):
            return {k: copy(x) for k, x in v.items()}
        if isinstance(v, list):
            return [copy(x) for x in v]
        return v
    return copy(sd)


@pytest.mark.parametrize("name,kw", [(n, kws[-1]) for n, (_, kws) in CASES.items()], ids=list(CASES))
def test_state_dict_round_trip_continues_identically(name, kw, rng):
    inits, grads = make_problem(rng, [(5, 3), (4,)], np.float32, steps=10)
    params, opt = run_lamina(name, kw, inits, grads[:5])
    saved = _copy_state_dict(opt.state_dict())
    twins = [lamina.tensor(p.detach().numpy(), requires_grad=True) for p in params]
    opt2 = getattr(optim, name)(twins, **kw)
    opt2.load_state_dict(saved)
    for gs in grads[5:]:
        for ps, o in ((params, opt), (twins, opt2)):
            for p, g in zip(ps, gs):
                p.grad = lamina.tensor(g)
            o.step()
    for a, b in zip(params, twins):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    # Loading copied the tensors: the saved dict did not move with training.
    assert saved["state"][0] is not opt2.state[twins[0]]


def test_load_state_dict_restores_options_and_casts():
    p = lamina.randn(3, requires_grad=True, dtype=lamina.float64)
    src = optim.Adam([p], lr=0.5)
    p.grad = lamina.ones(3, dtype=lamina.float64)
    src.step()
    q = lamina.randn(3, requires_grad=True)  # float32
    dst = optim.Adam([q], lr=0.1)
    dst.load_state_dict(src.state_dict())
    assert dst.param_groups[0]["lr"] == 0.5 and dst.param_groups[0]["params"][0] is q
    assert dst.state[q]["exp_avg"].dtype is lamina.float32 and dst.state[q]["step"] == 1


def test_load_state_dict_errors():
    p, q = lamina.randn(3, requires_grad=True), lamina.randn(2, requires_grad=True)
    opt = optim.Adam([p, q])
    for x in (p, q):
        x.grad = lamina.ones_like(x)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="number of parameter groups"):
        optim.Adam([{"params": [p]}, {"params": [q]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.Adam([p]).load_state_dict(sd)
    swapped = optim.Adam([q, p])
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 0 has shape \(3,\), but the parameter has "
                                         r"shape \(2,\)"):
        swapped.load_state_dict(sd)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
    bad = _copy_state_dict(sd)
    bad["state"][7] = {}
    with pytest.raises(ValueError, match="parameter 7"):
        opt.load_state_dict(bad)


def test_update_bumps_version_and_stays_out_of_autograd():
    p = lamina.tensor([1.0, -2.0, 3.0], requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    y = (p * p).sum()  # saves p for backward
    p.grad = lamina.ones(3)
    v0 = p._version
    opt.step()
    assert p._version == v0 + 1
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    assert opt.state[p]["exp_avg"]._version == 1
    with pytest.raises(RuntimeError):
        y.backward()  # p changed after it was saved


def test_constructor_errors():
    p = lamina.randn(3, requires_grad=True)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="epsilon"):
        optim.RMSprop([p], eps=-1)
    with pytest.raises(ValueError, match="lr_decay"):
        optim.Adagrad([p], lr_decay=-0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.Adam(p)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.Adam({p})
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.Adam([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ValueError, match="non-leaf"):
        optim.Adam([p * 2])


def test_step_errors():
    p = lamina.randn(6, 4).t()
    p.requires_grad_()
    opt = optim.Adam([p])
    p.grad = lamina.randn(4, 6)
    with pytest.raises(ValueError, match=r"\[adam_step\] the parameter \(shape \(4, 6\), strides \(1, 4\)\) must be "
                                         "contiguous"):
        opt.step()
    q = lamina.randn(3, requires_grad=True)
    for opt in (optim.SGD([q], lr=0.1, momentum=0.9), optim.AdamW([q]), optim.RMSprop([q]), optim.Adagrad([q])):
        q.grad = lamina.randn(4)
        with pytest.raises(lamina.ShapeError, match=r"gradient shape \(4,\) differs from parameter shape \(3,\)"):
            opt.step()
        q.grad = lamina.randn(3, dtype=lamina.float64)
        with pytest.raises(TypeError, match="gradient dtype float64 differs from parameter dtype float32"):
            opt.step()
    h = lamina.randn(3, dtype=lamina.float16).requires_grad_()
    h.grad = lamina.randn(3, dtype=lamina.float16)
    with pytest.raises(TypeError, match="float32 or float64, got float16"):
        optim.SGD([h], lr=0.1).step()


def test_non_contiguous_gradient_is_read_through_a_copy(rng):
    x, g = rng.standard_normal((4, 6)), rng.standard_normal((6, 4))
    p = lamina.tensor(x, requires_grad=True)
    p.grad = lamina.tensor(g).t()
    optim.SGD([p], lr=0.5).step()
    np.testing.assert_allclose(p.detach().numpy(), x - 0.5 * g.T, rtol=1e-12)


def test_kernel_argument_errors():
    p, g, m = (lamina.zeros(3) for _ in range(3))
    with pytest.raises(ValueError, match="step must be at least 1"):
        lamina._C.adam_step(p._t, g._t, m._t, m.clone()._t, None, 0.1, 0.9, 0.99, 1e-8, 0.0, 0, False, False, False)
    with pytest.raises(ValueError, match="max_exp_avg_sq"):
        lamina._C.adam_step(p._t, g._t, m._t, m.clone()._t, None, 0.1, 0.9, 0.99, 1e-8, 0.0, 1, False, True, False)
    with pytest.raises(ValueError, match="momentum buffer"):
        lamina._C.sgd_step(p._t, g._t, None, 0.1, 0.9, 0.0, 0.0, False, False, True)
    with pytest.raises(ValueError, match="shares memory"):
        lamina._C.adagrad_step(p._t, g._t, p._t, 0.1, 0.0, 0.0, 1e-10, 1, False)


# ---------------------------------------------------------------- gradient clipping
def _with_grads(lib, grads, strided=False):
    """Leaves holding ``grads``; with ``strided``, 2-d gradients are non-contiguous (transposed) views."""
    params = []
    for g in grads:
        p = lib.zeros(g.shape, dtype=getattr(lib, str(g.dtype)), requires_grad=True)
        p.grad = lib.tensor(g.T.copy()).t() if strided and g.ndim == 2 else lib.tensor(g)
        params.append(p)
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype, rng):
    torch = pytest.importorskip("torch")
    # torch refuses the inf-norm of an empty tensor; lamina takes it as 0 (|g| >= 0 everywhere)
    shapes = [(7, 5), (1,), (40001,)] + ([] if math.isinf(norm_type) else [(0,)])
    grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
    lp = _with_grads(lamina, grads)
    tp = _with_grads(torch, grads)
    ln = lamina.nn.utils.clip_grad_norm_(lp, max_norm, norm_type)
    tn = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type)
    assert ln.shape == () and ln.dtype is getattr(lamina, np.dtype(dtype).name)
    tol = 1e-12 if dtype is np.float64 else 1e-5  # torch sums float32 gradients in float32
    assert abs(ln.item() - tn.item()) <= tol * tn.item()
    for a, b in zip(lp, tp):
        if a.numel():
            assert rel_err(a.grad.numpy(), b.grad.numpy()) < tol


def test_clip_grad_norm_reference_and_layouts(isa, rng):
    grads = [rng.standard_normal(s) for s in [(6, 4), (9,)]]
    ps = _with_grads(lamina, grads, strided=True)
    assert not ps[0].grad.is_contiguous()
    total = np.sqrt(sum((g ** 2).sum() for g in grads))
    versions = [p.grad._version for p in ps]
    out = lamina.nn.utils.clip_grad_norm_(ps, 1.0)
    assert abs(out.item() - total) < 1e-12 * total
    for p, g, v in zip(ps, grads, versions):
        np.testing.assert_allclose(p.grad.numpy(), g / (total + 1e-6), rtol=1e-13)
        assert p.grad._version > v
    one = lamina.zeros(3, requires_grad=True)
    one.grad = lamina.tensor([3.0, -4.0, 0.0])
    assert lamina.nn.utils.clip_grad_norm_(one, 100.0).item() == 5.0  # a single tensor; no clipping needed
    assert one.grad.tolist() == [3.0, -4.0, 0.0]
    assert lamina.nn.utils.clip_grad_norm_([lamina.zeros(2, requires_grad=True)], 1.0).item() == 0.0
    empty = lamina.zeros(0, requires_grad=True)
    empty.grad = lamina.zeros(0)
    assert lamina.nn.utils.clip_grad_norm_([empty, one], 100.0, norm_type=math.inf).item() == 4.0


def test_clip_grad_norm_nonfinite():
    p = lamina.zeros(3, requires_grad=True)
    p.grad = lamina.tensor([1.0, math.inf, 0.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        lamina.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    p.grad = lamina.tensor([1.0, math.nan, 0.0])
    assert math.isnan(lamina.nn.utils.clip_grad_norm_([p], 1.0, norm_type="inf").item())
    assert np.isnan(p.grad.numpy()).all()
    with pytest.raises(ValueError, match="norm_type must be positive"):
        lamina.nn.utils.clip_grad_norm_([p], 1.0, norm_type=-1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grad_value_matches_torch(dtype, rng):
    torch = pytest.importorskip("torch")
    grads = [rng.standard_normal(s).astype(dtype) for s in [(7, 5), (0,), (40001,)]]
    for strided in (False, True):
        lp = _with_grads(lamina, grads, strided)
        tp = _with_grads(torch, grads, strided)
        lamina.nn.utils.clip_grad_value_(lp, 0.7)
        torch.nn.utils.clip_grad_value_(tp, 0.7)
        for a, b in zip(lp, tp):
            np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())

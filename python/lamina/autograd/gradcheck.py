"""Numerical gradient checking with float64 central differences."""
import numpy as np


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Compares autograd's gradients of ``fn(*inputs)`` with central differences.

    Every input that requires grad should be float64. Each output element's gradient is
    checked (a Jacobian-vector product with a random vector keeps it one backward per output)."""
    from .. import tensor, no_grad
    from .._tensor import Tensor
    from . import grad as autograd_grad

    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    for i in diff:
        if inputs[i].dtype.name != "float64":
            raise ValueError(f"[gradcheck] input {i} is {inputs[i].dtype}; use float64 for reliable differences")

    def outputs():
        out = fn(*inputs)
        return out if isinstance(out, (tuple, list)) else (out,)

    first = outputs()
    # Positions of the differentiable outputs, so the no_grad re-evaluations project the same ones.
    picked = [k for k, o in enumerate(first) if isinstance(o, Tensor) and o.requires_grad]
    outs = [first[k] for k in picked]
    rng = np.random.default_rng(0)
    vs = [rng.standard_normal(tuple(o.shape)) for o in outs]

    def projected():
        with no_grad():
            res = outputs()
            return sum(float((res[k].detach().numpy().astype(np.float64) * v).sum()) for k, v in zip(picked, vs))

    seeds = [tensor(v, dtype=o.dtype).reshape(tuple(o.shape)) for o, v in zip(outs, vs)]
    analytic = autograd_grad(outs, [inputs[i] for i in diff], seeds, allow_unused=True)
    for k, i in enumerate(diff):
        x = inputs[i]
        a = np.zeros(tuple(x.shape)) if analytic[k] is None else analytic[k].numpy()
        num = np.zeros(tuple(x.shape))
        flat = num.reshape(-1)
        view = x.detach()
        for j in range(x.numel()):
            idx = np.unravel_index(j, tuple(x.shape)) if x.ndim else ()
            with no_grad():
                orig = float(view[idx].item()) if x.ndim else float(view.item())
                view[idx] = orig + eps
                fp = projected()
                view[idx] = orig - eps
                fm = projected()
                view[idx] = orig
            flat[j] = (fp - fm) / (2 * eps)
        if not np.allclose(a, num, atol=atol, rtol=rtol):
            if raise_exception:
                err = np.abs(a - num).max()
                raise RuntimeError(f"[gradcheck] gradient mismatch for input {i} (shape {tuple(x.shape)}): "
                                   f"max abs error {err:.3g}\nanalytic:\n{a}\nnumerical:\n{num}")
            return False
    return True

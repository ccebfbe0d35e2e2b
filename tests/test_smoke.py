"""End-to-end: build, import, a computation and its gradient against NumPy."""
import numpy as np

import lamina
from conftest import rel_err


def test_info_runs(capsys):
    from lamina.__main__ import main
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "kernel path" in out and lamina.__version__ in out


def test_expression_and_gradient(rng):
    xn = rng.standard_normal((5, 7))
    x = lamina.tensor(xn, requires_grad=True)
    y = ((x * 2 + 1).exp() / 10).sum()
    y.backward()
    assert rel_err(y.item(), (np.exp(xn * 2 + 1) / 10).sum()) < 1e-12
    assert rel_err(x.grad.numpy(), np.exp(xn * 2 + 1) / 5) < 1e-12

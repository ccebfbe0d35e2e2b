"""lamina.nn.init: gains and fans against PyTorch's, distribution bounds and moments,
reproducibility under manual_seed, in-place semantics without autograd history."""
import math

import numpy as np
import pytest

import lamina
from lamina import nn
from lamina.nn import init
from conftest import to_np


@pytest.mark.parametrize("name,param", [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                                        ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                                        ("leaky_relu", math.sqrt(5)), ("selu", None)])
def test_calculate_gain_matches_torch(name, param):
    torch = pytest.importorskip("torch")
    assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", "x")


@pytest.mark.parametrize("shape", [(3, 5), (7, 2, 3), (4, 3, 2, 5), (2, 1, 1, 1, 3)])
def test_fans_match_torch(shape):
    torch = pytest.importorskip("torch")
    assert init._calculate_fan_in_and_fan_out(lamina.empty(*shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))


def test_fan_needs_two_dims():
    with pytest.raises(ValueError, match="fewer than 2"):
        init.xavier_uniform_(lamina.empty(5))
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(lamina.empty(3, 4), mode="fan_avg")


SHAPE = (256, 64, 3)  # fan_in 192, fan_out 768; 49k draws: moments accurate to about 1%


def _uniform_check(t, bound):
    v = to_np(t)
    assert np.abs(v).max() <= bound * (1 + 1e-6)
    assert np.abs(v).max() > 0.99 * bound
    assert abs(v.mean()) < 0.02 * bound
    assert v.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def _normal_check(t, std, mean=0.0):
    v = to_np(t)
    assert v.mean() == pytest.approx(mean, abs=0.02 * std)
    assert v.std() == pytest.approx(std, rel=0.02)


def test_uniform_and_normal():
    t = lamina.empty(*SHAPE)
    _uniform_check(init.uniform_(t, -0.3, 0.3), 0.3)
    v = to_np(init.uniform_(t, 2.0, 5.0))
    assert v.min() >= 2.0 and v.max() < 5.0
    _normal_check(init.normal_(t, 1.5, 0.2), 0.2, 1.5)


def test_xavier_and_kaiming_scales():
    t = lamina.empty(*SHAPE)
    fan_in, fan_out = 64 * 3, 256 * 3
    _uniform_check(init.xavier_uniform_(t, gain=2.0), 2.0 * math.sqrt(6 / (fan_in + fan_out)))
    _normal_check(init.xavier_normal_(t), math.sqrt(2 / (fan_in + fan_out)))
    _uniform_check(init.kaiming_uniform_(t, a=math.sqrt(5)), math.sqrt(3) * math.sqrt(2 / 6) / math.sqrt(fan_in))
    _uniform_check(init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"), math.sqrt(6 / fan_out))
    _normal_check(init.kaiming_normal_(t, nonlinearity="relu"), math.sqrt(2 / fan_in))
    _normal_check(init.kaiming_normal_(t, a=0.1, mode="fan_out"), math.sqrt(2 / 1.01) / math.sqrt(fan_out))


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -2.0, 2.0), (1.0, 1.0, 1.5, 1.6),
                                          (0.0, 1.0, 3.0, 4.0)])
def test_trunc_normal_bounds_and_moments(mean, std, a, b):
    v = to_np(init.trunc_normal_(lamina.empty(20000), mean, std, a, b)).astype(np.float64)
    assert v.min() >= a and v.max() <= b
    # Moments of the truncated normal, by quadrature.
    xs = np.linspace(a, b, 200001)
    pdf = np.exp(-0.5 * ((xs - mean) / std) ** 2)
    m = (xs * pdf).sum() / pdf.sum()
    s = np.sqrt(((xs - m) ** 2 * pdf).sum() / pdf.sum())
    assert v.mean() == pytest.approx(m, abs=0.03 * s)
    assert v.std() == pytest.approx(s, rel=0.03)


def test_trunc_normal_rejects_empty_interval():
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(lamina.empty(3), a=1.0, b=1.0)


@pytest.mark.parametrize("shape", [(5, 5), (3, 7), (7, 3), (4, 2, 3)])
def test_orthogonal(shape):
    q = to_np(init.orthogonal_(lamina.empty(*shape, dtype=lamina.float64), gain=1.5)).reshape(shape[0], -1)
    rows, cols = q.shape
    gram = q @ q.T if rows <= cols else q.T @ q
    np.testing.assert_allclose(gram, 2.25 * np.eye(min(rows, cols)), atol=1e-10)


def test_constant_ones_zeros_eye_dirac():
    t = lamina.empty(3, 4)
    assert (to_np(init.constant_(t, 0.25)) == 0.25).all()
    assert (to_np(init.ones_(t)) == 1).all()
    assert (to_np(init.zeros_(t)) == 0).all()
    np.testing.assert_array_equal(to_np(init.eye_(t)), np.eye(3, 4))
    with pytest.raises(ValueError, match="2 dimensions"):
        init.eye_(lamina.empty(2, 2, 2))
    w = init.dirac_(lamina.empty(4, 2, 3, 3), groups=2)
    ref = np.zeros((4, 2, 3, 3))
    for o, i in ((0, 0), (1, 1), (2, 0), (3, 1)):
        ref[o, i, 1, 1] = 1
    np.testing.assert_array_equal(to_np(w), ref)


def test_in_place_on_parameters_without_history():
    p = nn.Parameter(lamina.empty(4, 3))
    for fn in (init.uniform_, init.normal_, init.xavier_uniform_, init.kaiming_normal_, init.orthogonal_,
               init.trunc_normal_, init.zeros_):
        out = fn(p)
        assert out is p and p.grad_fn is None and p.requires_grad and p.is_leaf


def test_seed_makes_init_reproducible():
    def draw():
        lamina.manual_seed(123)
        lin = nn.Linear(6, 5)
        return to_np(lin.weight).copy(), to_np(lin.bias).copy(), to_np(init.trunc_normal_(lamina.empty(9))).copy()
    for x, y in zip(draw(), draw()):
        np.testing.assert_array_equal(x, y)


def test_zero_element_tensors_are_a_no_op():
    t = lamina.empty(0, 3)
    for fn in (init.xavier_uniform_, init.kaiming_uniform_, init.kaiming_normal_, init.orthogonal_):
        assert fn(t).shape == (0, 3)


@pytest.mark.parametrize("dtype", [lamina.float64, lamina.bfloat16])
def test_dtypes_preserved(dtype):
    t = init.kaiming_uniform_(lamina.empty(8, 4, dtype=dtype))
    assert t.dtype == dtype and np.abs(to_np(t.float())).max() <= 1.01 * math.sqrt(6 / 4)

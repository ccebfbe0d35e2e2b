"""Elementwise ops against float64 NumPy references: values, layouts, dtypes, promotion, in-place."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import lamina
import lamina.nn.functional as F
from conftest import rel_err, to_np

FLOAT_TOL = {"float32": 1e-5, "float64": 1e-12, "float16": 2e-3, "bfloat16": 1.6e-2}
LDT = {"bool": lamina.bool, "int32": lamina.int32, "int64": lamina.int64, "float16": lamina.float16,
       "bfloat16": lamina.bfloat16, "float32": lamina.float32, "float64": lamina.float64}


def lt(a, dtype=None):
    """A lamina tensor holding ``a`` with ``a``'s exact shape (0-d included)."""
    a = np.asarray(a)
    return lamina.tensor(a, dtype=dtype).reshape(a.shape)


def as_f64(t):
    return to_np(t.float() if t.dtype == lamina.bfloat16 else t).astype(np.float64)


def rounded(a, dtype):
    """``a`` rounded to ``dtype`` and back to float64: the input a low-precision op really sees."""
    return as_f64(lt(a, LDT[dtype]))


def layout(a, kind, dtype=None):
    """A lamina tensor equal to ``a`` but laid out as ``kind``: contiguous, transposed, stepped or expanded."""
    if kind == "contiguous":
        return lt(a, dtype)
    if kind == "transposed":
        return lt(np.ascontiguousarray(a.T), dtype).t()
    if kind == "stepped":
        big = np.zeros((a.shape[0] * 2, a.shape[1] * 3), a.dtype)
        big[::2, 1::3] = a
        return lt(big, dtype)[::2, 1::3]
    assert kind == "expanded"  # rows all equal: a (1, n) row broadcast to a.shape
    return lt(a[:1], dtype).expand(*a.shape)


LAYOUTS = ["contiguous", "transposed", "stepped", "expanded"]


def check(out, ref, dtype="float32", tol=None):
    assert rel_err(as_f64(out), ref) < (tol or FLOAT_TOL[dtype])


# ---------------------------------------------------------------- references
def _erf(a):
    return np.vectorize(math.erf, otypes=[np.float64])(a)


def _gelu(a):
    # 1 + erf(v) == erfc(-v), which the reference needs so as not to cancel itself for a << 0
    return a * 0.5 * np.vectorize(math.erfc, otypes=[np.float64])(-a / math.sqrt(2))


def _gelu_tanh(a):
    # 0.5 * (1 + tanh(u)) == 1 / (1 + exp(-2u)), again without cancellation for a << 0
    with np.errstate(over="ignore"):
        return a / (1 + np.exp(-2 * math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3)))


def _sigmoid(a):
    return 0.5 * (1 + np.tanh(a / 2))


def _softplus(a, beta=1.0, threshold=20.0):
    return np.where(a * beta > threshold, a, np.logaddexp(0, a * beta) / beta)


def _pos(rng, shape):
    return rng.uniform(0.1, 5.0, shape)


def _away0(rng, shape):
    return rng.uniform(0.3, 3.0, shape) * rng.choice([-1, 1], shape)


# name -> (lamina function, float64 reference, input generator)
UNARY = {
    "neg": (lamina.neg, np.negative, None),
    "abs": (lamina.abs, np.abs, None),
    "sign": (lamina.sign, np.sign, None),
    "exp": (lamina.exp, np.exp, None),
    "expm1": (lamina.expm1, np.expm1, None),
    "log": (lamina.log, np.log, _pos),
    "log1p": (lamina.log1p, np.log1p, lambda rng, s: rng.uniform(-0.9, 5, s)),
    "log2": (lamina.log2, np.log2, _pos),
    "sqrt": (lamina.sqrt, np.sqrt, _pos),
    "rsqrt": (lamina.rsqrt, lambda a: 1 / np.sqrt(a), _pos),
    "reciprocal": (lamina.reciprocal, lambda a: 1 / a, _away0),
    "square": (lamina.square, np.square, None),
    "sin": (lamina.sin, np.sin, None),
    "cos": (lamina.cos, np.cos, None),
    "tanh": (lamina.tanh, np.tanh, None),
    "sigmoid": (lamina.sigmoid, _sigmoid, None),
    "relu": (F.relu, lambda a: np.maximum(a, 0), None),
    "gelu": (F.gelu, _gelu, None),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), _gelu_tanh, None),
    "silu": (F.silu, lambda a: a * _sigmoid(a), None),
    "softplus": (F.softplus, _softplus, None),
    "softplus_beta": (lambda x: F.softplus(x, beta=2.0, threshold=3.0), lambda a: _softplus(a, 2.0, 3.0), None),
    "leaky_relu": (F.leaky_relu, lambda a: np.where(a > 0, a, 0.01 * a), None),
    "leaky_relu_02": (lambda x: F.leaky_relu(x, 0.2), lambda a: np.where(a > 0, a, 0.2 * a), None),
    "erf": (lamina.erf, _erf, None),
    "floor": (lamina.floor, np.floor, None),
    "ceil": (lamina.ceil, np.ceil, None),
    "round": (lamina.round, np.round, None),
    "trunc": (lamina.trunc, np.trunc, None),
    "clamp": (lambda x: lamina.clamp(x, -0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), None),
    "clamp_min": (lambda x: x.clamp(min=0.2), lambda a: np.maximum(a, 0.2), None),
    "clamp_max": (lambda x: lamina.clamp_max(x, -0.1), lambda a: np.minimum(a, -0.1), None),
}


def _unary_input(name, rng, shape):
    gen = UNARY[name][2]
    return gen(rng, shape) if gen else rng.standard_normal(shape) * 3


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", [(37,), (0,), (1,), (), (5, 13)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unary_values(name, shape, dtype, rng):
    fn, ref, _ = UNARY[name]
    a = _unary_input(name, rng, shape)
    out = fn(lt(a, LDT[dtype]))
    assert out.dtype == LDT[dtype] and tuple(out.shape) == shape
    check(out, ref(rounded(a, dtype)), dtype)


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("kind", LAYOUTS[1:])
def test_unary_non_contiguous(name, kind, rng):
    fn, ref, _ = UNARY[name]
    a = _unary_input(name, rng, (6, 9))
    if kind == "expanded":
        a[:] = a[:1]
    x = layout(a.astype(np.float32), kind)
    assert not x.is_contiguous()
    check(fn(x), ref(rounded(a, "float32")))


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_unary_half(name, dtype, rng):
    fn, ref, _ = UNARY[name]
    a = _unary_input(name, rng, (41,))
    out = fn(lt(a, LDT[dtype]))
    assert out.dtype == LDT[dtype]
    check(out, ref(rounded(a, dtype)), dtype)


@pytest.mark.parametrize("name", ["exp", "expm1", "log", "log1p", "tanh", "sigmoid", "sqrt", "erf", "gelu",
                                  "silu", "softplus"])
def test_unary_methods_and_functions_agree(name):
    fn = getattr(lamina, name, None) or getattr(F, name)
    x = lt(np.linspace(0.1, 3, 11))
    method = getattr(x, name)()
    assert np.array_equal(to_np(method), to_np(fn(x)))


WIDE = np.concatenate([np.linspace(-30, 30, 6001), np.linspace(-88, 88, 1001)]).astype(np.float32)


@pytest.mark.parametrize("name", ["exp", "expm1", "tanh", "sigmoid", "erf", "gelu", "gelu_tanh", "silu", "softplus",
                                  "sin", "cos"])
def test_transcendentals_wide_range_float32(name):
    """The float32 polynomial kernels, checked in ranges so one region cannot hide behind another."""
    fn, ref, _ = UNARY[name]
    out = as_f64(fn(lt(WIDE)))
    r = ref(WIDE.astype(np.float64))
    for lo, hi in [(-88, -10), (-10, -1), (-1, -1e-3), (-1e-3, 1e-3), (1e-3, 1), (1, 10), (10, 88)]:
        m = (WIDE >= lo) & (WIDE < hi)
        if np.linalg.norm(r[m]) > 1e-30:
            assert rel_err(out[m], r[m]) < 1e-5, (lo, hi)


def test_log_family_wide_range_float32():
    x = np.concatenate([np.logspace(-44, 38, 3000), np.linspace(0.5, 2, 1001)]).astype(np.float32)
    xd = x.astype(np.float64)
    for fn, ref in [(lamina.log, np.log), (lamina.log2, np.log2), (lamina.log1p, np.log1p), (lamina.sqrt, np.sqrt),
                    (lamina.rsqrt, lambda a: 1 / np.sqrt(a))]:
        out = as_f64(fn(lt(x)))
        for m in [x < 1e-30, (x >= 1e-30) & (x < 0.9), (x >= 0.9) & (x < 1.1), x >= 1.1]:
            assert rel_err(out[m], ref(xd[m])) < 1e-5, fn


def test_expm1_and_tanh_tiny_arguments_keep_relative_accuracy():
    x = np.array([1e-8, -3e-7, 2e-5, -1e-4, 1e-20], np.float32)
    for fn, ref in [(lamina.expm1, np.expm1), (lamina.tanh, np.tanh), (lamina.log1p, np.log1p),
                    (lamina.sin, np.sin), (lamina.erf, _erf)]:
        out = as_f64(fn(lt(x)))
        r = ref(x.astype(np.float64))
        assert np.all(np.abs(out - r) <= 1e-6 * np.abs(r)), fn


def test_special_values():
    inf, nan = np.inf, np.nan
    x = np.array([inf, -inf, nan, 0.0, -0.0], np.float32)
    with np.errstate(all="ignore"):
        for name in ["exp", "expm1", "log", "log1p", "sqrt", "tanh", "sigmoid", "relu", "abs", "sign", "floor", "erf",
                     "gelu", "silu", "softplus", "neg", "square", "reciprocal", "rsqrt", "log2"]:
            fn, ref, _ = UNARY[name]
            out, r = as_f64(fn(lt(x))), ref(x.astype(np.float64))
            assert np.array_equal(np.isnan(out), np.isnan(r)), name
            ok = ~np.isnan(r)
            assert np.allclose(out[ok], r[ok], rtol=1e-6, atol=0), (name, out, r)


def test_exp_near_float32_limits():
    x = np.array([-87.3, -87.0, -80.0, 80.0, 88.0, 88.7, 89.0, -104.0, -200.0], np.float32)
    out = as_f64(lamina.exp(lt(x)))
    with np.errstate(over="ignore"):
        r = np.exp(x.astype(np.float64)).astype(np.float32).astype(np.float64)  # what float32 can hold
    finite = np.isfinite(r) & (r > 1.2e-38)
    assert np.all(np.abs(out[finite] - r[finite]) <= 1e-6 * r[finite])
    assert out[6] == np.inf and np.all(out[-2:] <= 1.5e-45)


def test_round_half_to_even_and_negative_zero():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 1e8 + 0.5], np.float64)
    assert np.array_equal(as_f64(lamina.round(lt(x))), np.round(x))
    assert np.signbit(to_np(lamina.round(lt(np.array([-0.4])))))[0]


def test_nan_propagation_in_relu_clamp_sign():
    x = lt(np.array([np.nan, -1.0, 2.0], np.float32))
    for out in [F.relu(x), x.clamp(-0.5, 0.5), x.sign(), F.leaky_relu(x), lamina.maximum(x, lt(np.zeros(3))),
                lamina.minimum(lt(np.zeros(3)), x)]:
        assert np.isnan(to_np(out)[0]) and not np.isnan(to_np(out)[1:]).any()


def test_clamp_with_tensor_bounds_and_errors(rng):
    a, lo, hi = rng.standard_normal((3, 4)), rng.standard_normal((4,)) - 1, rng.standard_normal((3, 1)) + 1
    check(lamina.clamp(lt(a), lt(lo), lt(hi)), np.minimum(np.maximum(a, lo), hi), "float64")
    check(lt(a).clip(min=lt(lo)), np.maximum(a, lo), "float64")
    with pytest.raises(ValueError):
        lamina.clamp(lt(a))


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError):
        F.gelu(lt(np.ones(2)), approximate="sigmoid")


# ---------------------------------------------------------------- unary dtype behaviour
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_unary_on_integers(dtype, rng):
    a = rng.integers(-50, 50, (17,))
    x = lt(a, LDT[dtype])
    for fn, ref in [(lamina.neg, np.negative), (lamina.abs, np.abs), (lamina.sign, np.sign), (lamina.square, np.square),
                    (F.relu, lambda v: np.maximum(v, 0)), (lamina.floor, np.floor), (lamina.ceil, np.ceil),
                    (lamina.round, np.round), (lamina.trunc, np.trunc), (lambda v: v.clamp(-3, 4), lambda v: np.clip(v, -3, 4)),
                    (lamina.bitwise_not, np.invert)]:
        out = fn(x)
        assert out.dtype == LDT[dtype]
        assert np.array_equal(to_np(out), ref(a))
    for fn, ref in [(lamina.exp, np.exp), (lamina.sqrt, lambda v: np.sqrt(np.abs(v))), (lamina.sigmoid, _sigmoid)]:
        src = lt(np.abs(a), LDT[dtype]) if fn is lamina.sqrt else lt(a % 10, LDT[dtype])
        out = fn(src)
        assert out.dtype == lamina.float32  # integer inputs of float functions give the default float
        check(out, ref(to_np(src).astype(np.float64)))


def test_unary_on_bool():
    b = lt(np.array([True, False, True]))
    assert to_np(~b).tolist() == [False, True, False]
    assert lamina.abs(b).dtype == lamina.bool
    assert lamina.exp(b).dtype == lamina.float32
    with pytest.raises(TypeError):
        -b
    with pytest.raises(TypeError):
        ~lt(np.ones(2, np.float32))


# ---------------------------------------------------------------- binary ops
def _ffloordiv(a, b):
    return np.floor_divide(a, b)


BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "floordiv": (lambda a, b: a // b, _ffloordiv),
    "mod": (lambda a, b: a % b, np.mod),
    "pow": (lambda a, b: a ** b, np.power),
    "maximum": (lamina.maximum, np.maximum),
    "minimum": (lamina.minimum, np.minimum),
    "atan2": (lamina.atan2, np.arctan2),
    "fn_add": (lamina.add, np.add),
    "fn_sub": (lamina.subtract, np.subtract),
    "fn_mul": (lamina.multiply, np.multiply),
    "fn_div": (lamina.true_divide, np.divide),
    "fn_pow": (lamina.pow, np.power),
    "fn_floor_divide": (lamina.floor_divide, _ffloordiv),
    "fn_remainder": (lamina.remainder, np.mod),
    "method_atan2": (lambda a, b: a.atan2(b), np.arctan2),
}


def _binary_inputs(name, rng, sa, sb):
    a, b = rng.standard_normal(sa) * 3, rng.standard_normal(sb) * 3
    if "pow" in name:
        a, b = np.abs(a) + 0.1, rng.uniform(-2, 2, sb)
    if "div" in name or "mod" in name or "remainder" in name:
        b = np.where(np.abs(b) < 0.3, 0.7, b)
    return a, b


SHAPE_PAIRS = [((37,), (37,)), ((0,), (0,)), ((1,), (1,)), ((), ()), ((5, 13), (13,)), ((4, 1), (1, 7)),
               ((3, 1, 5), (4, 1)), ((), (6, 2)), ((2, 3), ()), ((0, 3), (1,)), ((1,), (5, 1))]


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
def test_binary_values_and_broadcasting(name, shapes, rng):
    fn, ref = BINARY[name]
    a, b = _binary_inputs(name, rng, *shapes)
    for dtype in ["float32", "float64"]:
        out = fn(lt(a, LDT[dtype]), lt(b, LDT[dtype]))
        expected = ref(rounded(a, dtype), rounded(b, dtype))
        assert out.dtype == LDT[dtype] and tuple(out.shape) == expected.shape
        check(out, expected, dtype)


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("kinds", [("transposed", "stepped"), ("stepped", "expanded"), ("expanded", "transposed"),
                                   ("contiguous", "transposed")])
def test_binary_non_contiguous(name, kinds, rng):
    fn, ref = BINARY[name]
    a, b = _binary_inputs(name, rng, (5, 8), (5, 8))
    for arr, kind in ((a, kinds[0]), (b, kinds[1])):
        if kind == "expanded":
            arr[:] = arr[:1]
    out = fn(layout(a.astype(np.float32), kinds[0]), layout(b.astype(np.float32), kinds[1]))
    check(out, ref(rounded(a, "float32"), rounded(b, "float32")))


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_binary_half(name, dtype, rng):
    fn, ref = BINARY[name]
    a, b = _binary_inputs(name, rng, (29,), (29,))
    out = fn(lt(a, LDT[dtype]), lt(b, LDT[dtype]))
    assert out.dtype == LDT[dtype]
    expected = ref(rounded(a, dtype), rounded(b, dtype))
    if "floor" in name or "mod" in name or "remainder" in name:
        # a one-ulp difference in the float32 quotient may flip a floor: compare where away from integers
        q = rounded(a, dtype) / rounded(b, dtype)
        keep = np.abs(q - np.round(q)) > 0.05
        assert rel_err(as_f64(out)[keep], expected[keep]) < FLOAT_TOL[dtype]
    else:
        check(out, expected, dtype)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "floordiv", "mod", "pow"])
@pytest.mark.parametrize("scalar", [3, -2.5, 0.5])
def test_binary_with_python_scalars(name, scalar, rng):
    fn, ref = BINARY[name]
    a = np.abs(rng.standard_normal((3, 5))) + 0.5
    x = lt(a.astype(np.float32))
    check(fn(x, scalar), ref(rounded(a, "float32"), scalar))
    if name == "pow" and scalar < 0:
        return  # a negative base to a fractional power
    check(fn(scalar, x), ref(scalar, rounded(a, "float32")))


def test_floor_divide_and_remainder_follow_python_for_floats():
    a = [1.0, -3.0, np.inf, 5.5, -5.5, 7.0, 0.0, -0.0, 1.0, -1.0, 0.0]
    b = [0.1, np.inf, 2.0, -2.0, 2.0, 0.7, 3.0, 3.0, 0.0, 0.0, 0.0]
    with np.errstate(all="ignore"):
        rf = np.floor_divide(np.array(a), np.array(b))
        rm = np.mod(np.array(a), np.array(b))
    for dtype in ["float32", "float64"]:
        out = as_f64(lt(np.array(a), LDT[dtype]) // lt(np.array(b), LDT[dtype]))
        if dtype == "float64":
            assert np.array_equal(out, rf, equal_nan=True), out
            assert np.array_equal(np.signbit(out), np.signbit(rf))
        assert out[0] == 9.0 if dtype == "float64" else True  # 1.0 // 0.1 is 9, as in Python
        assert out[1] == -1.0 and np.isnan(out[2])
        m = as_f64(lt(np.array(a), LDT[dtype]) % lt(np.array(b), LDT[dtype]))
        assert np.array_equal(np.isnan(m), np.isnan(rm))
        assert m[1] == np.inf and m[3] == -0.5 and m[4] == 0.5


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_arithmetic(dtype, rng):
    a = rng.integers(-1000, 1000, (6, 7))
    b = rng.integers(1, 30, (7,)) * rng.choice([-1, 1], (7,))
    x, y = lt(a, LDT[dtype]), lt(b, LDT[dtype])
    for op, ref in [(lambda p, q: p + q, np.add), (lambda p, q: p - q, np.subtract), (lambda p, q: p * q, np.multiply),
                    (lambda p, q: p // q, np.floor_divide), (lambda p, q: p % q, np.mod),
                    (lamina.maximum, np.maximum), (lamina.minimum, np.minimum),
                    (lambda p, q: p & q, np.bitwise_and), (lambda p, q: p | q, np.bitwise_or),
                    (lambda p, q: p ^ q, np.bitwise_xor)]:
        out = op(x, y)
        assert out.dtype == LDT[dtype]
        assert np.array_equal(to_np(out), ref(a, b))
    e = rng.integers(0, 4, (7,))
    assert np.array_equal(to_np(x ** lt(e, LDT[dtype])), a ** e)
    assert np.array_equal(to_np(x ** 3), a ** 3) and (x ** 3).dtype == LDT[dtype]
    check(x / y, a / b)
    assert (x / y).dtype == lamina.float32


def test_integer_division_edge_cases():
    imin = np.iinfo(np.int32).min
    a = lt(np.array([imin, 7, -7, 7, -7], np.int32))
    b = lt(np.array([-1, 2, 2, -2, -2], np.int32))
    assert to_np(a // b).tolist()[1:] == [3, -4, -4, 3]
    assert to_np(a % b).tolist() == [0, 1, 1, -1, -1]
    big = lt(np.array([2 ** 62 + 1, -(2 ** 62) - 1], np.int64))
    assert to_np(big // 3).tolist() == [(2 ** 62 + 1) // 3, (-(2 ** 62) - 1) // 3]
    q = lamina.div(big, 2, rounding_mode="trunc")
    assert q.dtype == lamina.int64 and to_np(q).tolist() == [2 ** 61, -(2 ** 61)]
    assert to_np(lamina.div(lt(np.array([-7, 7, -6])), 2, rounding_mode="floor")).tolist() == [-4, 3, -3]
    f = lamina.div(lt(np.array([-7.5, 7.5])), 2, rounding_mode="trunc")
    assert to_np(f).tolist() == [-3.0, 3.0]
    with pytest.raises(ValueError):
        lamina.div(a, b, rounding_mode="round")


@pytest.mark.parametrize("expr", [lambda x, z: x // z, lambda x, z: x % z, lambda x, z: x // 0, lambda x, z: x % 0,
                                  lambda x, z: 5 // z, lambda x, z: 5 % z, lambda x, z: lamina.floor_divide(x, z),
                                  lambda x, z: lamina.remainder(x[:1], z[1:]),
                                  lambda x, z: lamina.div(x, z, rounding_mode="trunc")])
@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_integer_division_by_zero_raises(expr, dtype):
    x = lt(np.array([3, 1]), LDT[dtype])
    z = lt(np.array([1, 0]), LDT[dtype])
    with pytest.raises(ZeroDivisionError):
        expr(x, z)


def test_integer_division_by_zero_in_place_raises():
    x = lt(np.array([3, 4]))
    with pytest.raises(ZeroDivisionError):
        x //= lt(np.array([1, 0]))
    with pytest.raises(ZeroDivisionError):
        x %= 0
    assert to_np(x).tolist() == [3, 4]


def test_float_division_by_zero_gives_ieee_results():
    x = lt(np.array([1.0, -1.0, 0.0], np.float32))
    assert to_np(x / 0).tolist()[:2] == [np.inf, -np.inf] and np.isnan(to_np(x / 0)[2])
    assert to_np(x // 0).tolist()[:2] == [np.inf, -np.inf]
    assert np.isnan(to_np(x % 0)).all()
    assert to_np(lt(np.array([1, -1])) / 0).tolist() == [np.inf, -np.inf]


def test_integer_pow_negative_scalar_exponent_raises():
    with pytest.raises(RuntimeError):
        lt(np.array([2, 3])) ** -1
    x = lt(np.array([2, 3]))
    with pytest.raises(RuntimeError):
        x **= -2
    assert to_np(lt(np.array([2.0, 4.0])) ** -1).tolist() == [0.5, 0.25]


def test_maximum_minimum_nan_and_ties():
    a = lt(np.array([np.nan, 1.0, 2.0, 3.0]))
    b = lt(np.array([1.0, np.nan, 2.0, -1.0]))
    for fn, ref in [(lamina.maximum, np.maximum), (lamina.minimum, np.minimum)]:
        out, r = to_np(fn(a, b)), ref(to_np(a), to_np(b))
        assert np.array_equal(out, r, equal_nan=True)


# ---------------------------------------------------------------- comparisons and logic
CMP = {"eq": (lambda a, b: a == b, np.equal), "ne": (lambda a, b: a != b, np.not_equal),
       "lt": (lambda a, b: a < b, np.less), "le": (lambda a, b: a <= b, np.less_equal),
       "gt": (lambda a, b: a > b, np.greater), "ge": (lambda a, b: a >= b, np.greater_equal),
       "fn_greater": (lamina.greater, np.greater), "fn_less_equal": (lamina.less_equal, np.less_equal),
       "fn_not_equal": (lamina.not_equal, np.not_equal), "fn_eq": (lamina.eq, np.equal)}


@pytest.mark.parametrize("name", sorted(CMP))
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool", "float16", "bfloat16"])
def test_comparisons(name, dtype, rng):
    fn, ref = CMP[name]
    a = rng.integers(-3, 4, (4, 5)).astype(np.float64)
    b = rng.integers(-3, 4, (5,)).astype(np.float64)
    if dtype == "bool":
        a, b = a > 0, b > 0
    elif dtype.startswith("float"):
        a[0, 0] = np.nan
    out = fn(lt(a, LDT[dtype]), lt(b, LDT[dtype]))
    assert out.dtype == lamina.bool
    assert np.array_equal(to_np(out), ref(a, b))
    assert np.array_equal(to_np(fn(lt(a, LDT[dtype]).t(), 1)), ref(a.T, 1))
    assert np.array_equal(to_np(fn(1, lt(a, LDT[dtype]))), ref(1, a))


def test_comparisons_across_dtypes():
    i = lt(np.array([1, 2, 3]))
    assert to_np(i == 2.0).tolist() == [False, True, False]
    assert to_np(i < lt(np.array([1.5], np.float32))).tolist() == [True, False, False]
    assert to_np(lt(np.array([2 ** 53 + 1])) == lt(np.array([2 ** 53]))).tolist() == [False]


@pytest.mark.parametrize("dtype", ["bool", "int32", "int64", "float32"])
def test_logical_ops(dtype, rng):
    a = rng.integers(-2, 3, (3, 4))
    b = rng.integers(-2, 3, (4,))
    if dtype == "bool":
        a, b = a > 0, b > 0
    x, y = lt(a, LDT[dtype]), lt(b, LDT[dtype])
    for fn, ref in [(lamina.logical_and, np.logical_and), (lamina.logical_or, np.logical_or),
                    (lamina.logical_xor, np.logical_xor)]:
        out = fn(x, y)
        assert out.dtype == lamina.bool and np.array_equal(to_np(out), ref(a, b))
        assert np.array_equal(to_np(getattr(x, fn.__name__)(y)), ref(a, b))
    assert np.array_equal(to_np(lamina.logical_not(x)), np.logical_not(a))
    assert np.array_equal(to_np(x.logical_not()), np.logical_not(a))


@pytest.mark.parametrize("dtype", ["bool", "int32", "int64"])
def test_bitwise_ops(dtype, rng):
    a = rng.integers(-100, 100, (3, 4))
    b = rng.integers(-100, 100, (3, 1))
    if dtype == "bool":
        a, b = a > 0, b > 0
    x, y = lt(a, LDT[dtype]), lt(b, LDT[dtype])
    for out, ref in [(x & y, a & b), (x | y, a | b), (x ^ y, a ^ b), (~x, ~a), (lamina.bitwise_and(x, y), a & b),
                     (x.bitwise_or(y), a | b), (lamina.bitwise_xor(x, 5 if dtype != "bool" else True),
                                                a ^ (5 if dtype != "bool" else True))]:
        assert out.dtype == LDT[dtype] and np.array_equal(to_np(out), ref)
    with pytest.raises(TypeError):
        lt(np.ones(2)) & lt(np.ones(2))


def test_bool_arithmetic():
    t, f = lt(np.array([True, True, False])), lt(np.array([True, False, False]))
    assert (t + f).dtype == lamina.bool and to_np(t + f).tolist() == [True, True, False]
    assert to_np(t * f).tolist() == [True, False, False]
    assert (t + 1).dtype == lamina.int64 and to_np(t + 1).tolist() == [2, 2, 1]
    assert (t * 1.5).dtype == lamina.float32
    for expr in [lambda: t - f, lambda: t - 1, lambda: lt(np.array([1.0])) - t, lambda: 1.0 - t]:
        with pytest.raises(TypeError):
            expr()


# ---------------------------------------------------------------- where
def test_where(rng):
    c = rng.random((3, 1, 4)) > 0.5
    a, b = rng.standard_normal((5, 1)), rng.standard_normal((4,))
    out = lamina.where(lt(c), lt(a), lt(b))
    assert np.array_equal(to_np(out), np.where(c, a, b))
    out = lt(a).where(lt(c), lt(b))
    assert np.array_equal(to_np(out), np.where(c, a, b))
    out = lamina.where(lt(c), lt(a.astype(np.float32)), 0.0)
    assert out.dtype == lamina.float32
    assert np.array_equal(to_np(out), np.where(c, a.astype(np.float32), 0.0))
    out = lamina.where(lt(c), lt(np.array([1, 2, 3, 4])), 0.5)
    assert out.dtype == lamina.float32 and np.array_equal(to_np(out), np.where(c, [1, 2, 3, 4], 0.5))
    x = lt(np.arange(12.0).reshape(3, 4)).t()
    assert np.array_equal(to_np(lamina.where(x > 4, x, -x)), np.where(to_np(x) > 4, to_np(x), -to_np(x)))


# ---------------------------------------------------------------- type promotion
def _torch():
    return pytest.importorskip("torch")


PROMO_CASES = [
    # (a dtype, a shape, b: dtype or python scalar, b shape)
    (lamina.int64, (3,), 2.5, None), (lamina.int32, (3,), 2.5, None), (lamina.int32, (3,), 7, None),
    (lamina.bool, (3,), 2, None), (lamina.bool, (3,), 1.5, None), (lamina.float16, (3,), 2.5, None),
    (lamina.int32, (3,), lamina.int64, ()), (lamina.int64, (), lamina.int32, (3,)), (lamina.int32, (3,), lamina.int64, (3,)),
    (lamina.float16, (3,), lamina.float64, ()), (lamina.int64, (3,), lamina.float16, ()),
    (lamina.bfloat16, (3,), lamina.float16, (3,)), (lamina.bfloat16, (3,), lamina.float32, ()),
    (lamina.float32, (3,), lamina.float64, (3,)), (lamina.bool, (3,), lamina.int32, (3,)),
    (lamina.float16, (), lamina.int32, (3,)), (lamina.float32, (), lamina.float64, ()),
]


@pytest.mark.parametrize("case", PROMO_CASES, ids=str)
@pytest.mark.parametrize("op", ["add", "mul", "div", "maximum", "eq", "floor_divide", "remainder"])
def test_type_promotion_matches_torch(case, op):
    torch = _torch()
    tdt = {lamina.bool: torch.bool, lamina.int32: torch.int32, lamina.int64: torch.int64,
           lamina.float16: torch.float16, lamina.bfloat16: torch.bfloat16, lamina.float32: torch.float32,
           lamina.float64: torch.float64}
    adt, ashape, b, bshape = case
    la = lamina.ones(ashape, dtype=adt) * (2 if adt != lamina.bool else True)
    ta = torch.ones(ashape, dtype=tdt[adt]) * (2 if adt != lamina.bool else True)
    if isinstance(b, lamina.dtype):
        lb, tb = lamina.ones(bshape, dtype=b), torch.ones(bshape, dtype=tdt[b])
    else:
        lb = tb = b
    if op == "maximum" and not isinstance(b, lamina.dtype):
        return  # torch.maximum takes tensors only
    for args_l, args_t in [((la, lb), (ta, tb)), ((lb, la), (tb, ta))]:
        try:
            expected = getattr(torch, op)(*args_t)
        except (RuntimeError, TypeError):
            continue
        if not isinstance(args_l[0], lamina.Tensor) and op == "maximum":
            continue
        out = getattr(lamina, op)(*args_l)
        assert str(expected.dtype).replace("torch.", "") == out.dtype.name, (op, case)
        assert np.allclose(as_f64(out), expected.double().numpy())


def test_type_promotion_examples_without_torch():
    i = lt(np.array([1, 2, 3]))
    assert (i + 1.5).dtype == lamina.float32
    assert (lt(np.array([1, 2], np.int32)) + lt(np.array(5))).dtype == lamina.int32
    assert (lt(np.array([1, 2], np.int32)) + lt(np.array([5]))).dtype == lamina.int64
    assert (lt(np.array([1.0], np.float32)) + lt(np.array(5.0))).dtype == lamina.float32
    assert (lt(np.array([1.0], np.float32)) * lt(np.array([5.0]))).dtype == lamina.float64
    assert (lt(np.array([1]), lamina.float16) + 1.5).dtype == lamina.float16
    assert lamina.result_type(i, 2.0) == lamina.float32


# ---------------------------------------------------------------- broadcasting property
@st.composite
def broadcastable_pair(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=0, max_side=4))
    return shapes.input_shapes


@settings(max_examples=60, deadline=None)
@given(shapes=broadcastable_pair(), op=st.sampled_from(["add", "mul", "sub", "maximum", "gt", "atan2"]),
       seed=st.integers(0, 2 ** 31))
def test_broadcasting_property(shapes, op, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    ref = {"add": np.add, "mul": np.multiply, "sub": np.subtract, "maximum": np.maximum, "gt": np.greater,
           "atan2": np.arctan2}[op]
    out = getattr(lamina, op)(lt(a), lt(b))
    expected = ref(a, b)
    assert tuple(out.shape) == expected.shape
    assert np.allclose(to_np(out), expected, rtol=1e-12, atol=0)


def test_incompatible_shapes_raise_shape_error():
    with pytest.raises(lamina.ShapeError):
        lt(np.ones((2, 3))) + lt(np.ones((4,)))
    with pytest.raises(ValueError):
        lt(np.ones((2, 3))) * lt(np.ones((3, 2)))


# ---------------------------------------------------------------- in-place
INPLACE = [("add_", lambda x, y: x.add_(y), np.add), ("sub_", lambda x, y: x.sub_(y), np.subtract),
           ("mul_", lambda x, y: x.mul_(y), np.multiply), ("div_", lambda x, y: x.div_(y), np.divide),
           ("pow_", lambda x, y: x.pow_(y), np.power), ("maximum_", lambda x, y: x.maximum_(y), np.maximum),
           ("floor_divide_", lambda x, y: x.floor_divide_(y), np.floor_divide),
           ("remainder_", lambda x, y: x.remainder_(y), np.mod)]


@pytest.mark.parametrize("name,op,ref", INPLACE, ids=[c[0] for c in INPLACE])
def test_inplace_binary(name, op, ref, rng):
    a = np.abs(rng.standard_normal((4, 6))) + 0.5
    b = np.abs(rng.standard_normal((6,))) + 0.5
    x = lt(a)
    ptr, version = x.data_ptr(), x._version
    r = op(x, lt(b))
    assert r is x and x.data_ptr() == ptr and x._version > version
    check(x, ref(a, b), "float64")
    # into a strided view: only the viewed elements change
    base = lt(np.zeros((4, 12)))
    view = base[:, ::2]
    view.copy_(lt(a))
    op(view, lt(b))
    expected = np.zeros((4, 12))
    expected[:, ::2] = ref(a, b)
    check(base, expected, "float64")


def test_inplace_operators_and_alpha(rng):
    a = rng.standard_normal((3, 4))
    x = lt(a)
    x += 1
    x -= lt(a[0])
    x *= 2
    x /= 4
    x **= 2
    expected = ((a + 1 - a[0]) * 2 / 4) ** 2
    check(x, expected, "float64")
    y = lt(a)
    y.add_(lt(a), alpha=3).sub_(1, alpha=0.5)
    check(y, a + 3 * a - 0.5, "float64")
    i = lt(np.array([7, -7]))
    i //= 2
    assert to_np(i).tolist() == [3, -4]
    i %= 3
    assert to_np(i).tolist() == [0, 2]


def test_inplace_with_self_overlap():
    x = lt(np.arange(6.0).reshape(2, 3))
    x.add_(x)
    assert to_np(x).tolist() == [[0, 2, 4], [6, 8, 10]]
    y = lt(np.arange(6.0).reshape(2, 3))
    y.add_(y.t().t()[:, :1])
    assert to_np(y).tolist() == [[0, 1, 2], [6, 7, 8]]
    z = lt(np.arange(4.0).reshape(2, 2))
    z.mul_(z.t())
    assert to_np(z).tolist() == [[0, 2], [2, 9]]


def test_inplace_casting_rules():
    i = lt(np.array([1, 2]))
    with pytest.raises(TypeError):
        i += 1.5
    with pytest.raises(TypeError):
        i /= 2
    with pytest.raises(TypeError):
        i.exp_()
    with pytest.raises(TypeError):
        i.clamp_(0.5, 1.5)
    assert to_np(i).tolist() == [1, 2]
    f = lt(np.array([1.0, 2.0], np.float32))
    f += lt(np.array([1, 1]))
    f *= lt(np.array([2.0]))  # float64 other, float32 result: allowed
    assert f.dtype == lamina.float32 and to_np(f).tolist() == [4.0, 6.0]
    h = lt(np.array([1.0, 2.0]), lamina.float16)
    h += 0.5
    assert h.dtype == lamina.float16 and to_np(h).tolist() == [1.5, 2.5]
    with pytest.raises(lamina.ShapeError):
        f += lt(np.ones((2, 2)))


@pytest.mark.parametrize("name,ref", [("exp_", np.exp), ("neg_", np.negative), ("sqrt_", np.sqrt), ("abs_", np.abs),
                                      ("sigmoid_", _sigmoid), ("tanh_", np.tanh), ("relu_", lambda v: np.maximum(v, 0))])
def test_inplace_unary(name, ref, rng):
    a = rng.standard_normal((3, 5))
    if name == "sqrt_":
        a = np.abs(a)
    x = lt(a)
    ptr = x.data_ptr()
    assert getattr(x, name)() is x and x.data_ptr() == ptr
    check(x, ref(a), "float64")
    base = lt(a)
    getattr(base.t()[::2], name)()
    expected = a.copy()
    expected[:, ::2] = ref(a[:, ::2])
    check(base, expected, "float64")


def test_clamp_fill_zero_in_place():
    x = lt(np.array([-2.0, 0.5, 3.0]))
    x.clamp_(-1, 1)
    assert to_np(x).tolist() == [-1.0, 0.5, 1.0]
    x.fill_(7)
    assert to_np(x).tolist() == [7.0] * 3
    x.zero_()
    assert to_np(x).tolist() == [0.0] * 3


def test_inplace_refused_under_autograd():
    w = lamina.randn(3, requires_grad=True)
    for op in [lambda: w.add_(1), lambda: w.mul_(2), lambda: w.exp_(), lambda: w.clamp_(0, 1), lambda: w.zero_()]:
        with pytest.raises(RuntimeError):
            op()
    with pytest.raises(RuntimeError):
        w += 1
    y = w * 2
    with pytest.raises(RuntimeError):
        y.add_(1)
    plain = lamina.zeros(3)
    with pytest.raises(RuntimeError):
        plain.add_(w)
    with lamina.no_grad():
        w += 1
        plain.add_(w)
    assert w.requires_grad and w.is_leaf


@pytest.mark.parametrize("modify", [lambda a: a.add_(1), lambda a: a.mul_(2), lambda a: a.exp_(),
                                    lambda a: a.zero_(), lambda a: a.copy_(lamina.ones(3)),
                                    lambda a: a[1:].add_(1), lambda a: a.__iadd__(1)])
def test_saved_tensor_modified_in_place_makes_backward_raise(modify):
    a = lamina.randn(3)
    w = lamina.randn(3, requires_grad=True)
    loss = (w * a).sum()
    modify(a)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_saved_output_modified_in_place_makes_backward_raise():
    w = lamina.randn(3, requires_grad=True)
    y = w.exp()
    with lamina.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match="inplace"):
        y.sum().backward()

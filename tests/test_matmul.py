"""matmul / @ and nn.functional.linear against float64 NumPy references and torch: NumPy's 1-D/2-D/batched
semantics, every size class in every position (M, K, N), strided and broadcast operands, each ISA path,
outputs fully written, gradients (gradcheck and torch parity), the fused linear epilogues, and errors."""
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import lamina
import lamina.nn.functional as F
from lamina.autograd import gradcheck
from lamina.backends import cpu as lcpu
from conftest import rel_err, to_np

LDT = {"float32": lamina.float32, "float64": lamina.float64, "bfloat16": lamina.bfloat16, "float16": lamina.float16}
REL_TOL = {"float32": 1e-5, "float64": 1e-12, "bfloat16": 1e-2, "float16": 2e-3}
UNIT = {"float32": 2.0 ** -24, "float64": 2.0 ** -53}
LOW_ROUNDING = {"bfloat16": 2.0 ** -8, "float16": 2.0 ** -10}  # computed in float32, rounded once at the end

_ORDER = ["base", "avx2", "avx512"]
CAPS = _ORDER[:_ORDER.index(lcpu.cpu_info()["best_isa"]) + 1]  # every kernel path this CPU can run


@pytest.fixture(params=CAPS)
def isa(request):
    """Forces one kernel path for the test, and restores the previous one after it."""
    prev = lcpu.get_cpu_capability()
    lcpu.set_cpu_capability(request.param)
    assert lcpu.get_cpu_capability() == request.param
    yield request.param
    lcpu.set_cpu_capability(prev)


# ---------------------------------------------------------------- helpers
def lt(a, dtype=None, requires_grad=False):
    """A lamina tensor holding ``a`` with ``a``'s exact shape (0-d included)."""
    a = np.asarray(a)
    t = lamina.tensor(a, dtype=dtype).reshape(a.shape)
    return t.detach().requires_grad_() if requires_grad else t


def as_f64(t):
    return to_np(t.float() if t.dtype == lamina.bfloat16 else t).astype(np.float64)


def values(rng, shape, dtype):
    """Random normal values already representable in ``dtype`` (as float64), so the reference sees
    exactly what the op sees."""
    a = rng.standard_normal(shape)
    return as_f64(lt(a, LDT[dtype])) if dtype != "float64" else a


def poison(shape):
    """Leaves a NaN-filled block of the output's size in the allocator just before the op runs, so an
    output the kernel does not fully overwrite (or accumulates into) shows up as NaN."""
    if int(np.prod(shape)) > 0:
        p = lamina.full(tuple(shape), float("nan"))
        del p


def check_elementwise_bound(got, ref, bound, detail):
    """Fails, naming the first offender, if any element of ``got`` is farther than ``bound`` from ``ref``."""
    bad = np.abs(got - ref) > bound
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        pytest.fail(f"{bad.sum()} of {bad.size} elements outside the error bound; first at {idx}: "
                    f"got {got[idx]!r}, want {ref[idx]!r} ({detail(idx)})")


def check_mm(out, a, b, dtype, rel_tol=None):
    """``out`` against matmul(a, b) in float64: every element within the floating-point error bound of a
    dot product of length K computed in the dtype's (or, for bfloat16, float32's) precision, and the
    relative error of the whole within ``rel_tol``."""
    ref = np.matmul(a, b)
    got = as_f64(out)
    assert out.dtype == LDT[dtype], (out.dtype, dtype)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    assert np.isfinite(got).all(), f"{(~np.isfinite(got)).sum()} non-finite elements of {got.size}"
    k = a.shape[-1]
    absprod = np.matmul(np.abs(a), np.abs(b))
    if dtype in LOW_ROUNDING:  # float32 accumulation, then one rounding to the low-precision dtype
        bound = 2 * (k + 2) * UNIT["float32"] * absprod + LOW_ROUNDING[dtype] * np.abs(ref)
    else:
        bound = (k + 2) * UNIT[dtype] * absprod
    check_elementwise_bound(got, ref, bound, lambda idx: f"bound {bound[idx]:.3g}")
    if ref.size:
        assert rel_err(got, ref) < (rel_tol or REL_TOL[dtype])


def layout(a, kind, dtype):
    """A 2-D lamina tensor equal to ``a`` laid out as ``kind``; returns (tensor, the values it holds)."""
    r, c = a.shape
    if kind == "contiguous":
        return lt(a, dtype), a
    if kind == "transposed":  # column-major: x.T of a contiguous tensor
        return lt(np.ascontiguousarray(a.T), dtype).T, a
    if kind == "stepped":  # x[::2, 1::3]
        big = np.zeros((2 * r, 3 * c + 1))
        big[::2, 1::3] = a
        return lt(big, dtype)[::2, 1::3], a
    if kind == "col_stepped":  # x[:, ::2], a transposed view with a column step too
        big = np.zeros((c, 2 * r))
        big[:, ::2] = a.T
        return lt(big, dtype)[:, ::2].T, a
    if kind == "offset":  # a view starting inside its storage, rows padded
        big = np.zeros((r + 1, c + 3))
        big[1:, 2:c + 2] = a
        return lt(big, dtype)[1:, 2:c + 2], a
    if kind == "expanded_rows":  # stride 0 along rows: one row broadcast
        return lt(a[:1], dtype).expand(r, c), np.broadcast_to(a[:1], a.shape).copy()
    assert kind == "expanded_cols"  # stride 0 along columns
    return lt(a[:, :1], dtype).expand(r, c), np.broadcast_to(a[:, :1], a.shape).copy()


LAYOUTS = ["contiguous", "transposed", "stepped", "col_stepped", "offset", "expanded_rows", "expanded_cols"]


# ---------------------------------------------------------------- sizes x ISA x dtype
SIZES = (0, 1, 3, 17, 127, 255, 513)
# Each size in each position (M, K, N), with the other two taken from a fixed, varied list.
_PARTNERS = {0: (17, 127), 1: (255, 3), 3: (127, 513), 17: (513, 17), 127: (3, 255), 255: (17, 1), 513: (127, 3)}
MNK = sorted({shape for s in SIZES for shape in
              [(s,) + _PARTNERS[s], (_PARTNERS[s][0], s, _PARTNERS[s][1]), _PARTNERS[s][::-1] + (s,)]}
             | {(255, 513, 127), (513, 255, 255), (64, 64, 64), (33, 300, 65)})


@pytest.mark.parametrize("mkn", MNK, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_matmul_sizes(isa, dtype, mkn):
    m, k, n = mkn
    rng = np.random.default_rng(m * 1_000_003 + k * 1009 + n)
    a, b = values(rng, (m, k), dtype), values(rng, (k, n), dtype)
    ta, tb = lt(a, LDT[dtype]), lt(b, LDT[dtype])
    poison((m, n))
    out = lamina.matmul(ta, tb)
    assert tuple(out.shape) == (m, n)
    check_mm(out, a, b, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_fringe_tiles(isa, dtype):
    """Every count of leftover rows a register tile can be left with (tiles are 14, 6 or 4 rows by
    2 vectors: 32, 16 or 8 float32 columns), and the column counts around one and two vectors (the
    kernels run narrower tiles over fringes)."""
    rng = np.random.default_rng(7)
    for m in range(5, 31):
        for n in (3, 4, 7, 8, 9, 15, 16, 17, 23, 31, 32, 33, 48, 67):
            a, b = values(rng, (m, 40), dtype), values(rng, (40, n), dtype)
            poison((m, n))
            check_mm(lt(a, LDT[dtype]) @ lt(b, LDT[dtype]), a, b, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_long_k(isa, dtype):
    rng = np.random.default_rng(4096)
    a, b = values(rng, (5, 4096), dtype), values(rng, (4096, 19), dtype)
    check_mm(lt(a, LDT[dtype]) @ lt(b, LDT[dtype]), a, b, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("shapes", [((3, 0), (0, 17)), ((127, 0), (0, 1)), ((1, 0), (0, 513)),
                                    ((0,), (0,)), ((5, 0), (0,)), ((0,), (0, 4)),
                                    ((2, 3, 0), (0, 4)), ((2, 1, 3, 0), (5, 0, 2))])
def test_matmul_k_zero_gives_zeros(isa, dtype, shapes):
    ta, tb = lamina.ones(*shapes[0], dtype=LDT[dtype]), lamina.ones(*shapes[1], dtype=LDT[dtype])
    want = np.matmul(np.ones(shapes[0]), np.ones(shapes[1]))
    poison(want.shape)
    out = ta @ tb
    assert out.dtype == LDT[dtype]
    assert tuple(out.shape) == want.shape
    np.testing.assert_array_equal(as_f64(out), want)  # exact zeros


@pytest.mark.parametrize("shapes", [((0, 5), (5, 3)), ((4, 5), (5, 0)), ((0, 5), (5, 0)), ((0, 3, 5), (5, 2)),
                                    ((2, 0, 5), (1, 5, 3)), ((0,), (0, 0)), ((3, 2, 0), (0,))])
def test_matmul_empty_outputs(shapes):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    out = lt(a, lamina.float32) @ lt(b, lamina.float32)
    assert tuple(out.shape) == np.matmul(a, b).shape


# ---------------------------------------------------------------- 1-D, 2-D, batched; entry points
M, K, N = 17, 33, 9
DIM_CASES = {
    "vec@vec": ((K,), (K,)),
    "mat@vec": ((M, K), (K,)),
    "vec@mat": ((K,), (K, N)),
    "mat@mat": ((M, K), (K, N)),
    "batch@mat": ((4, M, K), (K, N)),
    "mat@batch": ((M, K), (4, K, N)),
    "batch@batch": ((3, M, K), (3, K, N)),
    "bcast_batch": ((2, 1, M, K), (3, K, N)),
    "bcast_batch_4d": ((2, 1, 3, M, K), (4, 1, K, N)),
    "one@batch": ((1, M, K), (5, K, N)),
    "vec@batch": ((K,), (4, K, N)),
    "batch@vec": ((4, M, K), (K,)),
    "vec@bcast_batch": ((K,), (2, 3, K, N)),
    "empty_batch": ((0, M, K), (K, N)),
    "big_batch": ((3, 130, 257), (1, 257, 129)),
    "merged_batch_packed": ((3, 50, 130), (130, 70)),  # batch rows folded into one packed product
    "bcast_batch_packed": ((1, 2, 130, 140), (3, 1, 140, 129)),  # (mid sizes: test_matmul_batched_mid_size_threaded)
}
HOW = {
    "function": lambda a, b: lamina.matmul(a, b),
    "operator": lambda a, b: a @ b,
    "method": lambda a, b: a.matmul(b),
    "rmatmul": lambda a, b: b.__rmatmul__(a),
}


@pytest.mark.parametrize("case", sorted(DIM_CASES))
@pytest.mark.parametrize("how", sorted(HOW))
def test_matmul_dims_and_entry_points(case, how):
    sa, sb = DIM_CASES[case]
    rng = np.random.default_rng(len(case) * 7 + len(how))
    a, b = values(rng, sa, "float32"), values(rng, sb, "float32")
    out = HOW[how](lt(a, lamina.float32), lt(b, lamina.float32))
    assert isinstance(out, lamina.Tensor)
    torch = pytest.importorskip("torch")
    assert tuple(out.shape) == tuple(torch.matmul(torch.zeros(sa), torch.zeros(sb)).shape)
    check_mm(out, a, b, "float32")


@pytest.mark.parametrize("case", ["vec@vec", "mat@vec", "vec@mat", "bcast_batch", "bcast_batch_4d", "vec@batch",
                                  "batch@vec", "big_batch", "merged_batch_packed"])
@pytest.mark.parametrize("dtype", ["float64", "bfloat16", "float16"])
def test_matmul_dims_isa(isa, case, dtype):
    sa, sb = DIM_CASES[case]
    rng = np.random.default_rng(len(case))
    a, b = values(rng, sa, dtype), values(rng, sb, dtype)
    check_mm(lamina.matmul(lt(a, LDT[dtype]), lt(b, LDT[dtype])), a, b, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_threads_across_k_slices(isa, dtype):
    """Two threads, each packing its own rows of A for every K slice while the other still works on
    the previous one, with a last slice shallower than the rest (K just past one and two slices
    for every slice depth the cache sizes give), into a NaN-poisoned output, several times over."""
    prev = lamina.get_num_threads()
    lamina.set_num_threads(2)
    try:
        rng = np.random.default_rng(11)
        for k in (129, 300, 513, 700, 1100):
            a, b = values(rng, (255, k), dtype), values(rng, (k, 127), dtype)
            for _ in range(8):
                poison((255, 127))
                check_mm(lt(a, LDT[dtype]) @ lt(b, LDT[dtype]), a, b, dtype)
    finally:
        lamina.set_num_threads(prev)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_wide_b_in_several_slices(isa, dtype, threads):
    """B wider than one packed block of B (about 8 MiB: 4096-5600 float32 columns at the slice
    depths the cache sizes give), so that the blocks of two K slices pass through both of the
    two packing buffers in turn; a fringe of columns, row counts that split the rows between the
    threads (60) or B's columns (9), B row-major and transposed."""
    prev = lamina.get_num_threads()
    lamina.set_num_threads(threads)
    try:
        rng = np.random.default_rng(20011)
        n = 20011 if dtype == "float32" else 10007
        for m in (9, 60):
            a, b = values(rng, (m, 600), dtype), values(rng, (600, n), dtype)
            for tb in (lt(b, LDT[dtype]), lt(np.ascontiguousarray(b.T), LDT[dtype]).T):
                poison((m, n))
                check_mm(lt(a, LDT[dtype]) @ tb, a, b, dtype)
    finally:
        lamina.set_num_threads(prev)


_BATCH_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import lamina
    from lamina.backends import cpu
    lamina.set_num_threads(4)
    rng = np.random.default_rng(0)
    for isa in sys.argv[1:]:
        cpu.set_cpu_capability(isa)
        for sa, sb in [((2, 64, 64), (2, 64, 64)), ((4, 64, 70), (4, 70, 50)), ((6, 100, 100), (6, 100, 100)),
                       ((2, 3, 48, 48), (3, 48, 48)), ((4, 48, 48), (4, 48, 1000)), ((5, 80, 64), (1, 5, 64, 96))]:
            for dt in (np.float32, np.float64):
                a, b = rng.standard_normal(sa).astype(dt), rng.standard_normal(sb).astype(dt)
                for _ in range(3):
                    out = (lamina.from_numpy(a) @ lamina.from_numpy(b)).numpy()
                    ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
                    err = np.linalg.norm(out - ref) / np.linalg.norm(ref)
                    assert err < (1e-5 if dt == np.float32 else 1e-12), (isa, sa, sb, dt, err)
    print("OK")
""")


def test_matmul_batched_mid_size_threaded():
    """Several batches of mid-sized products run one product per thread; each thread's packed path
    must stay inside its own buffers (run in a child process: a heap overrun crashes it)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in [os.path.dirname(os.path.dirname(lamina.__file__)),
                                                                  os.environ.get("PYTHONPATH")] if p))
    res = subprocess.run([sys.executable, "-c", _BATCH_CHILD, *CAPS], capture_output=True, text=True, env=env,
                         timeout=120)
    assert res.returncode == 0 and res.stdout.strip().endswith("OK"), (res.returncode, res.stdout, res.stderr[-3000:])


def test_vec_vec_is_0d():
    out = lamina.tensor([1.0, 2.0, 3.0]) @ lamina.tensor([4.0, 5.0, -6.0])
    assert tuple(out.shape) == () and out.ndim == 0
    assert out.item() == 4.0 + 10.0 - 18.0


# ---------------------------------------------------------------- layouts
@pytest.mark.parametrize("la", LAYOUTS)
@pytest.mark.parametrize("lb", ["contiguous", "transposed", "stepped", "offset", "expanded_cols"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_layouts(isa, la, lb, dtype):
    rng = np.random.default_rng(LAYOUTS.index(la) * 10 + LAYOUTS.index(lb))
    m, k, n = 37, 130, 21
    ta, a = layout(values(rng, (m, k), dtype), la, LDT[dtype])
    tb, b = layout(values(rng, (k, n), dtype), lb, LDT[dtype])
    poison((m, n))
    check_mm(ta @ tb, a, b, dtype)


def test_matmul_transposed_and_sliced_views():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((65, 40)), rng.standard_normal((65, 30))
    tx, ty = lt(x, lamina.float64), lt(y, lamina.float64)
    check_mm(tx.T @ ty, x.T, y, "float64")                       # x.T @ y
    check_mm(tx[:, ::2].T @ ty[:, 1::3], x[:, ::2].T, y[:, 1::3], "float64")
    check_mm(tx.T @ tx, x.T, x, "float64")                       # same storage on both sides
    check_mm(tx[::3].T @ ty[::3], x[::3].T, y[::3], "float64")   # stepped K
    check_mm(tx[:, 0] @ ty, x[:, 0], y, "float64")               # strided vector
    check_mm(ty.T @ tx[:, 5], y.T, x[:, 5], "float64")


@pytest.mark.parametrize("kind", ["permuted", "transposed_last", "batch_expanded", "batch_stepped"])
def test_matmul_batched_layouts(isa, kind):
    rng = np.random.default_rng(11)
    bsz, m, k, n = 3, 19, 41, 23
    a, b = rng.standard_normal((bsz, m, k)), rng.standard_normal((bsz, k, n))
    if kind == "permuted":  # stored (K, B, M)
        ta = lt(np.ascontiguousarray(a.transpose(2, 0, 1)), lamina.float64).permute(1, 2, 0)
        tb = lt(np.ascontiguousarray(b.transpose(1, 2, 0)), lamina.float64).permute(2, 0, 1)
    elif kind == "transposed_last":
        ta = lt(np.ascontiguousarray(a.swapaxes(1, 2)), lamina.float64).transpose(1, 2)
        tb = lt(np.ascontiguousarray(b.swapaxes(1, 2)), lamina.float64).transpose(-1, -2)
    elif kind == "batch_expanded":  # stride 0 along the batch
        a = np.broadcast_to(a[:1], a.shape).copy()
        ta = lt(a[:1], lamina.float64).expand(bsz, m, k)
        tb = lt(b, lamina.float64)
    else:
        big = np.zeros((2 * bsz, m, k))
        big[::2] = a
        ta = lt(big, lamina.float64)[::2]
        tb = lt(b, lamina.float64)[:, :, :]
    assert tuple(ta.shape) == a.shape and tuple(tb.shape) == b.shape
    check_mm(ta @ tb, a, b, "float64")


def test_matmul_does_not_modify_inputs():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((31, 70)), rng.standard_normal((70, 45))
    ta, tb = lt(a, lamina.float32), lt(b, lamina.float32).T.contiguous().T
    before = (as_f64(ta).copy(), as_f64(tb).copy())
    ta @ tb
    np.testing.assert_array_equal(as_f64(ta), before[0])
    np.testing.assert_array_equal(as_f64(tb), before[1])


# ---------------------------------------------------------------- outputs fully written, IEEE propagation
def test_matmul_after_nan_operands(isa):
    """A product of NaN operands first (leaving NaN in any reused packing buffer), then clean products
    with edge-tile sizes must carry no NaN: padding must never be read into valid outputs."""
    nan_a = lamina.full((300, 301), float("nan"))
    nan_b = lamina.full((301, 290), float("nan"))
    assert np.isnan(as_f64(nan_a @ nan_b)).all()
    rng = np.random.default_rng(3)
    for m, k, n in [(1, 1, 1), (3, 17, 5), (17, 3, 127), (127, 255, 17), (5, 300, 7), (255, 1, 255)]:
        a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
        check_mm(lt(a, lamina.float32) @ lt(b, lamina.float32), a, b, "float32")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_propagates_nan_and_inf(isa, dtype):
    rng = np.random.default_rng(9)
    m, k, n = 19, 70, 23
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    a[4, 10] = np.nan         # row 4 of the output all NaN
    a[7, :] = 0.0
    b[20, 3] = np.nan         # column 3 NaN, including row 7 (0 * NaN is NaN)
    b[30, 11] = np.inf        # column 11: +-inf by the sign of a[:, 30]; NaN where a[i, 30] == 0
    a[9, 30] = 0.0
    with np.errstate(invalid="ignore"):
        ref = a @ b
    got = as_f64(lt(a, LDT[dtype]) @ lt(b, LDT[dtype]))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(ref))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(ref))
    fin = np.isfinite(ref)
    assert rel_err(got[fin], ref[fin]) < REL_TOL[dtype] * 10


def test_matmul_single_thread_matches():
    rng = np.random.default_rng(21)
    a, b = values(rng, (255, 257), "float32"), values(rng, (257, 129), "float32")
    prev = lamina.get_num_threads()
    try:
        lamina.set_num_threads(1)
        check_mm(lt(a, lamina.float32) @ lt(b, lamina.float32), a, b, "float32")
    finally:
        lamina.set_num_threads(prev)
    check_mm(lt(a, lamina.float32) @ lt(b, lamina.float32), a, b, "float32")


# ---------------------------------------------------------------- gradients
def leaf(rng, *shape):
    return lt(rng.standard_normal(shape), lamina.float64, requires_grad=True)


GRAD_CASES = {
    "mat@mat": ((3, 4), (4, 2), lambda a, b: a @ b),
    "vec@vec": ((4,), (4,), lambda a, b: a @ b),
    "mat@vec": ((3, 4), (4,), lambda a, b: a @ b),
    "vec@mat": ((4,), (4, 3), lambda a, b: lamina.matmul(a, b)),
    "batch@mat": ((2, 3, 4), (4, 2), lambda a, b: a @ b),
    "mat@batch": ((3, 4), (2, 4, 2), lambda a, b: a @ b),
    "bcast_batch": ((2, 1, 3, 4), (3, 4, 2), lambda a, b: a @ b),
    "vec@batch": ((4,), (2, 4, 3), lambda a, b: a @ b),
    "batch@vec": ((2, 3, 4), (4,), lambda a, b: a.matmul(b)),
    "aT@b": ((4, 3), (4, 2), lambda a, b: a.T @ b),
    "a@bT": ((3, 4), (2, 4), lambda a, b: a @ b.T),
    "aT@bT": ((4, 3), (2, 4), lambda a, b: a.T @ b.T),
    "batch_transposed": ((2, 4, 3), (1, 2, 4), lambda a, b: a.transpose(-1, -2) @ b.transpose(-1, -2)),
    "sliced": ((3, 8), (4, 5), lambda a, b: a[:, ::2] @ b[:, 1:]),
    "same_operand": ((3, 3), (3, 3), lambda a, b: a @ a @ b),
    "expanded": ((1, 4), (4, 3), lambda a, b: a.expand(3, 4) @ b),
}


@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_gradcheck_matmul(case):
    rng = np.random.default_rng(sorted(GRAD_CASES).index(case))
    sa, sb, fn = GRAD_CASES[case]
    assert gradcheck(fn, (leaf(rng, *sa), leaf(rng, *sb)))


def test_gradcheck_matmul_base_isa():
    prev = lcpu.get_cpu_capability()
    try:
        lcpu.set_cpu_capability("base")
        rng = np.random.default_rng(1)
        assert gradcheck(lambda a, b: a @ b, (leaf(rng, 2, 1, 3, 5), leaf(rng, 3, 5, 2)))
    finally:
        lcpu.set_cpu_capability(prev)


def test_matmul_grad_only_one_side():
    rng = np.random.default_rng(4)
    a = leaf(rng, 3, 4)
    b = lt(rng.standard_normal((4, 5)), lamina.float64)
    out = a @ b
    assert out.requires_grad
    out.sum().backward()
    np.testing.assert_allclose(to_np(a.grad), np.ones((3, 5)) @ to_np(b).T, rtol=1e-12)
    assert b.grad is None
    with lamina.no_grad():
        assert not (a @ b).requires_grad


def test_matmul_grad_k_zero():
    a = lt(np.ones((3, 0)), lamina.float64, requires_grad=True)
    b = lt(np.ones((0, 4)), lamina.float64, requires_grad=True)
    out = a @ b
    out.backward(lamina.ones(3, 4, dtype=lamina.float64))
    assert tuple(a.grad.shape) == (3, 0) and tuple(b.grad.shape) == (0, 4)


def _random_case(rng):
    """Random matmul operand shapes covering 1-D, 2-D and broadcast batch dims."""
    m, k, n = (int(v) for v in rng.integers(1, 24, 3))
    kind = rng.choice(["vv", "mv", "vm", "mm", "batched"], p=[0.1, 0.1, 0.1, 0.2, 0.5])
    if kind == "vv":
        return (k,), (k,)
    if kind == "mv":
        return (m, k), (k,)
    if kind == "vm":
        return (k,), (k, n)
    if kind == "mm":
        return (m, k), (k, n)
    batch = [int(v) for v in rng.integers(1, 4, rng.integers(1, 3))]
    ba = [d if rng.random() < 0.6 else 1 for d in batch][int(rng.integers(0, len(batch) + 1)):]
    bb = [d if rng.random() < 0.6 else 1 for d in batch][int(rng.integers(0, len(batch) + 1)):]
    # a 1-D operand (no batch dims of its own) broadcasts against the other's batch dims
    sa = (k,) if not ba and rng.random() < 0.3 else tuple(ba) + (m, k)
    sb = (k,) if not bb and rng.random() < 0.3 else tuple(bb) + (k, n)
    return sa, sb


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_parity_random_shapes(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(20240607)
    tdt = {"float32": torch.float32, "float64": torch.float64}[dtype]
    tol = {"float32": 1e-5, "float64": 1e-12}[dtype]
    for _ in range(40):
        sa, sb = _random_case(rng)
        a, b = values(rng, sa, dtype), values(rng, sb, dtype)
        xa, xb = torch.tensor(a, dtype=tdt, requires_grad=True), torch.tensor(b, dtype=tdt, requires_grad=True)
        want = torch.matmul(xa, xb)
        g = rng.standard_normal(tuple(want.shape))
        want.backward(torch.tensor(g, dtype=tdt))
        la, lb = lt(a, LDT[dtype], requires_grad=True), lt(b, LDT[dtype], requires_grad=True)
        out = lamina.matmul(la, lb)
        assert tuple(out.shape) == tuple(want.shape), (sa, sb)
        out.backward(lt(g, LDT[dtype]))
        for got, ref, what in [(out, want, "out"), (la.grad, xa.grad, "grad a"), (lb.grad, xb.grad, "grad b")]:
            assert tuple(got.shape) == tuple(ref.shape), (sa, sb, what)
            assert rel_err(to_np(got), ref.detach().double().numpy()) < tol, (sa, sb, what)


# ---------------------------------------------------------------- linear
def _gelu(a):
    return a * 0.5 * np.vectorize(math.erfc, otypes=[np.float64])(-a / math.sqrt(2))


def _gelu_tanh(a):
    with np.errstate(over="ignore"):
        return a / (1 + np.exp(-2 * math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3)))


def _silu(a):
    with np.errstate(over="ignore"):
        return a / (1 + np.exp(-a))


ACT_REF = {None: lambda y: y, "relu": lambda y: np.maximum(y, 0), "gelu": _gelu, "gelu_tanh": _gelu_tanh, "silu": _silu}
ACTS = [None, "relu", "gelu", "gelu_tanh", "silu"]


def _torch_act(torch, y, act):
    tf = torch.nn.functional
    return {None: lambda v: v, "relu": torch.relu, "gelu": lambda v: tf.gelu(v, approximate="none"),
            "gelu_tanh": lambda v: tf.gelu(v, approximate="tanh"), "silu": tf.silu}[act](y)


def check_linear(out, x, w, b, act, dtype):
    """``out`` against act(x @ w.T + b) in float64: per element, the dot-product error bound times the
    activation's slope (< 1.2) plus the activation's own error; and the whole within the relative tolerance."""
    y = np.matmul(x, w.T) + (0 if b is None else b)
    ref = ACT_REF[act](y)
    got = as_f64(out)
    assert out.dtype == LDT[dtype]
    assert got.shape == ref.shape, (got.shape, ref.shape)
    assert np.isfinite(got).all()
    scale = np.matmul(np.abs(x), np.abs(w).T) + (0 if b is None else np.abs(b))
    k = x.shape[-1]
    if dtype == "bfloat16":
        bound = 2.4 * (k + 3) * UNIT["float32"] * scale + 2.0 ** -7 * np.abs(ref) + 1e-6 * scale
    elif dtype == "float32":
        bound = 1.2 * (k + 3) * UNIT[dtype] * scale + 4e-6 * np.abs(ref) + 4e-7 * scale
    else:
        bound = 1.2 * (k + 3) * UNIT[dtype] * scale + 1e-13 * np.abs(ref) + 1e-14 * scale
    check_elementwise_bound(got, ref, bound, lambda idx: f"pre-activation {y[idx]!r}")
    if ref.size:
        assert rel_err(got, ref) < REL_TOL[dtype]


# x shape, out_features: K (x.shape[-1]) beyond any K block so an epilogue run per K block shows up.
LINEAR_SHAPES = [((17, 1100), 127), ((1, 513), 33), ((130, 3), 255), ((2, 9, 64), 17), ((40,), 7), ((5, 0), 7)]


@pytest.mark.parametrize("act", ACTS, ids=str)
@pytest.mark.parametrize("xshape,nout", LINEAR_SHAPES, ids=lambda v: str(v))
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_linear_values(isa, act, xshape, nout, bias):
    rng = np.random.default_rng(len(xshape) * 100 + nout)
    k = xshape[-1]
    x, w = values(rng, xshape, "float32"), values(rng, (nout, k), "float32")
    b = values(rng, (nout,), "float32") if bias else None
    poison(xshape[:-1] + (nout,))
    out = F.linear(lt(x, lamina.float32), lt(w, lamina.float32), None if b is None else lt(b, lamina.float32),
                   activation=act)
    check_linear(out, x, w, b, act, "float32")


@pytest.mark.parametrize("act", ACTS, ids=str)
@pytest.mark.parametrize("dtype", ["float64", "bfloat16"])
def test_linear_dtypes(isa, act, dtype):
    rng = np.random.default_rng(7)
    x, w, b = values(rng, (3, 19, 300), dtype), values(rng, (65, 300), dtype), values(rng, (65,), dtype)
    out = F.linear(lt(x, LDT[dtype]), lt(w, LDT[dtype]), lt(b, LDT[dtype]), activation=act)
    check_linear(out, x, w, b, act, dtype)


@pytest.mark.parametrize("xshape", [(6,), (4, 6), (2, 3, 6)])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_linear_equals_matmul_plus_bias(xshape, bias):
    rng = np.random.default_rng(len(xshape))
    x, w, b = lt(rng.standard_normal(xshape)), lt(rng.standard_normal((5, 6))), lt(rng.standard_normal(5))
    out = F.linear(x, w, b if bias else None)
    want = x @ w.T + b if bias else x @ w.T
    assert tuple(out.shape) == tuple(want.shape) == xshape[:-1] + (5,)
    assert rel_err(to_np(out), to_np(want)) < 1e-6
    assert F.linear(x, w, b if bias else None, activation=None).shape == out.shape


@pytest.mark.parametrize("act", ACTS, ids=str)
@pytest.mark.parametrize("xshape", [(9,), (7, 9), (2, 5, 9)])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linear_torch_parity(act, xshape, bias, dtype):
    """Forward and every gradient against torch: linear, then torch's relu / gelu(approximate=...) / silu."""
    torch = pytest.importorskip("torch")
    tdt = {"float32": torch.float32, "float64": torch.float64}[dtype]
    rng = np.random.default_rng(ACTS.index(act) * 10 + len(xshape))
    x, w, b = values(rng, xshape, dtype), values(rng, (11, 9), dtype), values(rng, (11,), dtype)
    tx, tw, tb = (torch.tensor(v, dtype=tdt, requires_grad=True) for v in (x, w, b))
    want = _torch_act(torch, torch.nn.functional.linear(tx, tw, tb if bias else None), act)
    g = rng.standard_normal(tuple(want.shape))
    want.backward(torch.tensor(g, dtype=tdt))
    lx, lw, lb = (lt(v, LDT[dtype], requires_grad=True) for v in (x, w, b))
    out = F.linear(lx, lw, lb if bias else None, activation=act)
    out.backward(lt(g, LDT[dtype]))
    tol = 2e-5 if dtype == "float32" else 1e-11
    pairs = [(out, want, "out"), (lx.grad, tx.grad, "grad x"), (lw.grad, tw.grad, "grad w")]
    if bias:
        pairs.append((lb.grad, tb.grad, "grad b"))
    else:
        assert lb.grad is None
    for got, ref, what in pairs:
        assert got is not None, what
        assert tuple(got.shape) == tuple(ref.shape), what
        assert rel_err(to_np(got), ref.detach().double().numpy()) < tol, what


@pytest.mark.parametrize("act", ACTS, ids=str)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_gradcheck_linear(act, bias):
    rng = np.random.default_rng(ACTS.index(act))
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    y = x @ w.T + (b if bias else 0)
    assert np.abs(y).min() > 1e-4  # no pre-activation within eps of relu's kink
    inputs = tuple(lt(v, lamina.float64, requires_grad=True) for v in ((x, w, b) if bias else (x, w)))
    assert gradcheck(lambda *t: F.linear(*t, activation=act), inputs)


def test_gradcheck_linear_1d_input():
    rng = np.random.default_rng(8)
    assert gradcheck(lambda x, w, b: F.linear(x, w, b, activation="gelu"), (leaf(rng, 4), leaf(rng, 3, 4), leaf(rng, 3)))


@pytest.mark.parametrize("xl", ["contiguous", "transposed", "stepped", "offset"])
@pytest.mark.parametrize("wl", ["contiguous", "transposed", "stepped"])
def test_linear_layouts(isa, xl, wl):
    rng = np.random.default_rng(12)
    tx, x = layout(values(rng, (37, 130), "float32"), xl, lamina.float32)
    tw, w = layout(values(rng, (29, 130), "float32"), wl, lamina.float32)
    b = values(rng, (58,), "float32")
    out = F.linear(tx, tw, lt(b, lamina.float32)[::2], activation="gelu")
    check_linear(out, x, w, b[::2], "gelu", "float32")


def test_linear_activation_k_zero():
    """K = 0: every output is act(bias)."""
    b = np.array([-1.5, -0.25, 0.0, 0.7, 2.0])
    for act in ACTS:
        out = F.linear(lamina.ones(3, 0), lamina.ones(5, 0), lt(b, lamina.float32), activation=act)
        assert tuple(out.shape) == (3, 5)
        np.testing.assert_allclose(as_f64(out), np.broadcast_to(ACT_REF[act](b), (3, 5)), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- errors
z = lamina.zeros

SHAPE_ERRORS = [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3), (4,)), ((3,), (4, 5)), ((2, 3, 4), (3, 4, 6)),
                ((2, 3, 4), (5, 6)), ((7, 2, 3), (2, 4, 1)), ((2, 1, 3, 4), (3, 4, 5, 6))]


def _shape_str(s):
    return str(tuple(s))


@pytest.mark.parametrize("sa,sb", SHAPE_ERRORS, ids=str)
@pytest.mark.parametrize("how", sorted(HOW))
def test_matmul_shape_mismatch(sa, sb, how):
    with pytest.raises(ValueError) as info:
        HOW[how](z(*sa), z(*sb))
    msg = str(info.value)
    assert _shape_str(sa) in msg and _shape_str(sb) in msg, msg
    assert "matmul" in msg, msg


@pytest.mark.parametrize("sa,sb", [((), (3,)), ((3,), ()), ((), ()), ((), (2, 3)), ((2, 3), ())])
def test_matmul_0d_raises(sa, sb):
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        torch.matmul(torch.zeros(sa), torch.zeros(sb))
    with pytest.raises((ValueError, RuntimeError)) as info:
        lamina.matmul(lt(np.zeros(sa), lamina.float32), lt(np.zeros(sb), lamina.float32))
    assert "matmul" in str(info.value)
    with pytest.raises((ValueError, RuntimeError)):
        lt(np.zeros(sa), lamina.float32) @ lt(np.zeros(sb), lamina.float32)


def test_matmul_non_tensor_raises():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError):
        torch.matmul(np.ones(3), torch.ones(3))
    with pytest.raises(TypeError):
        lamina.matmul(np.ones(3), lamina.ones(3))
    with pytest.raises(TypeError):
        lamina.matmul(lamina.ones(3), [1.0, 2.0, 3.0])


def test_linear_shape_errors():
    with pytest.raises(ValueError) as info:
        F.linear(z(2, 3), z(4, 5))
    assert "(2, 3)" in str(info.value) and "(4, 5)" in str(info.value), str(info.value)
    with pytest.raises(ValueError) as info:
        F.linear(z(2, 3), z(4, 3), z(5))
    assert "(5,)" in str(info.value), str(info.value)
    with pytest.raises(ValueError) as info:
        F.linear(z(2, 3), z(4, 3), activation="tanh")
    assert "tanh" in str(info.value)


@pytest.mark.parametrize("dt_a,dt_b", [("float32", "float64"), ("float64", "float32"), ("bfloat16", "float32")])
@pytest.mark.parametrize("op", ["matmul", "linear"])
def test_mixed_dtypes(dt_a, dt_b, op):
    """torch refuses mixed dtypes (RuntimeError). lamina must either refuse them too, with a message naming
    both dtypes, or promote like its elementwise ops and compute the promoted result correctly."""
    torch = pytest.importorskip("torch")
    tdt = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}
    rng = np.random.default_rng(6)
    a, b = values(rng, (4, 5), "bfloat16"), values(rng, (5, 3), "bfloat16")  # exact in every dtype here
    if op == "matmul":
        def run(x, y):
            return lamina.matmul(x, y)
        torch_fn = torch.matmul
    else:
        def run(x, y):
            return F.linear(x, y.T)
        def torch_fn(x, y):
            return torch.nn.functional.linear(x, y.T)
    with pytest.raises(RuntimeError):
        torch_fn(torch.tensor(a, dtype=tdt[dt_a]), torch.tensor(b, dtype=tdt[dt_b]))
    try:
        out = run(lt(a, LDT[dt_a]), lt(b, LDT[dt_b]))
    except (TypeError, RuntimeError, ValueError) as e:
        assert dt_a in str(e) and dt_b in str(e), str(e)
        return
    promoted = lamina.result_type(lt(a, LDT[dt_a]), lt(b, LDT[dt_b]))
    assert out.dtype == promoted
    check_mm(out, a, b, promoted.name, rel_tol=1e-5 if promoted.name == "float64" else None)

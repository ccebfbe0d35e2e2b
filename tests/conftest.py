import zlib

import numpy as np
import pytest

import lamina


@pytest.fixture
def rng(request):
    """Random inputs per test, reproducible from the test's id (a failure reruns identically)."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def rel_err(out, ref):
    """||out - ref|| / ||ref|| in float64; NaN anywhere fails."""
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert out.shape == ref.shape, (out.shape, ref.shape)
    assert not np.isnan(out).any() or np.array_equal(np.isnan(out), np.isnan(ref)), "unexpected NaN"
    mask = ~np.isnan(ref)
    denom = np.linalg.norm(ref[mask])
    diff = np.linalg.norm(out[mask] - ref[mask])
    return diff / denom if denom > 0 else diff


def to_np(t):
    return t.detach().numpy() if isinstance(t, lamina.Tensor) else np.asarray(t)


_ISA_ORDER = ["base", "avx2", "avx512"]
# Every kernel path this CPU can run (the detected best and the narrower ones).
SUPPORTED_ISAS = _ISA_ORDER[:_ISA_ORDER.index(lamina.backends.cpu.cpu_info()["best_isa"]) + 1]


@pytest.fixture(params=SUPPORTED_ISAS)
def isa(request):
    """Runs the test once per supported kernel path, restoring the previous one afterwards."""
    cpu = lamina.backends.cpu
    prev = cpu.get_cpu_capability()
    cpu.set_cpu_capability(request.param)
    yield request.param
    cpu.set_cpu_capability(prev)

"""The benchmark harness (python -m lamina.bench): runs end to end and writes the fields it promises.

No timing assertions: only that every case yields a record of the right shape, that failures
are recorded per library instead of stopping the run, and that unknown suites are refused.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import lamina
from lamina import bench
from lamina.bench import harness, report

TINY_SUITE = textwrap.dedent('''
    """tiny: a GFLOP/s case, a microsecond case with no NumPy counterpart, a case lamina fails."""
    import numpy as np
    from lamina.bench import Case, NotApplicable, as_lib

    def _add(lib, data):
        a = as_lib(lib, data)
        return lambda: a + a

    def _sum(lib, data):
        if lib == "numpy":
            raise NotApplicable
        a = as_lib(lib, data)
        return lambda: a.sum()

    def _fails(lib, data):
        if lib == "lamina":
            def fn():
                raise RuntimeError("[tiny] not implemented")
            return fn
        return _add(lib, data)

    def cases(quick=False):
        setup = lambda: np.ones((8, 8), np.float32)
        return [Case("add", "8x8", "float32", 64.0, _add, setup, {"note": "tiny"}),
                Case("sum", "8x8", "float32", None, _sum, setup),
                Case("fails", "8x8", "float32", 64.0, _fails, setup)]
''')

RECORD_FIELDS = {"suite", "op", "shape", "dtype", "threads", "flops", "unit", "results", "ratio",
                 "peak_gflops", "pct_peak", "lib_threads"}
META_FIELDS = {"suite", "date", "cpu", "isa", "versions", "threads", "repeats", "quick", "peak_gflops_1thread", "libs"}


def test_cli_quick_run_writes_records(tmp_path):
    (tmp_path / "tiny_bench_suite.py").write_text(TINY_SUITE)
    out = tmp_path / "out.json"
    pkg_root = os.path.dirname(os.path.dirname(lamina.__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), pkg_root, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "lamina.bench", "tiny_bench_suite", "--quick", "--repeats", "1",
                           "--threads", "1,2", "--min-time", "0", "--json", str(out)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "lamina/numpy" in proc.stdout and "error" in proc.stdout

    data = json.loads(out.read_text())
    assert META_FIELDS <= set(data["meta"])
    assert data["meta"]["isa"] == lamina._C.get_isa()
    records = data["records"]
    libs = data["meta"]["libs"]
    assert [(r["op"], r["threads"]) for r in records] == [(op, t) for t in (1, 2) for op in ("add", "sum", "fails")]
    for r in records:
        assert RECORD_FIELDS <= set(r), r.keys()
        assert set(r["results"]) == set(libs)
        assert set(r["ratio"]) == set(libs) - {"lamina"}
        assert r["unit"] == ("us" if r["op"] == "sum" else "GFLOP/s")
        assert r["lib_threads"]["lamina"] == r["threads"]
    by_op = {r["op"]: r for r in records if r["threads"] == 1}
    lam = by_op["add"]["results"]["lamina"]
    assert lam["error"] is None and lam["samples"] == 1 and lam["seconds"] > 0 and lam["value"] > 0
    assert by_op["add"]["note"] == "tiny" and by_op["add"]["ratio"]["numpy"] > 0
    assert by_op["sum"]["results"]["numpy"] is None and by_op["sum"]["ratio"]["numpy"] is None
    assert "not implemented" in by_op["fails"]["results"]["lamina"]["error"]
    assert by_op["fails"]["results"]["numpy"]["error"] is None and by_op["fails"]["ratio"]["numpy"] is None


@pytest.mark.parametrize("suite", bench.SUITES)
def test_registered_suites_build(suite):
    cases = bench.load_suite(suite).cases(quick=True)
    assert cases and all(isinstance(c, bench.Case) for c in cases)
    results = harness.time_case(cases[0], harness.available_libs(), repeats=1, min_time=0)
    record = harness.add_peak([harness.make_record(suite, cases[0], 1, results)], 50.0)[0]
    assert report.format_table([record], harness.available_libs())
    assert results["numpy"] is None or results["numpy"]["error"] is None


def test_unknown_suite_is_refused():
    with pytest.raises(bench.UnknownSuite, match="available: matmul, conv2d, norms, overhead"):
        bench.load_suite("no_such_suite")
    with pytest.raises(bench.UnknownSuite, match="no cases"):
        bench.load_suite("json")

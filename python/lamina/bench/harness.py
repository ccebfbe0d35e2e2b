"""Timing: warm-up, round-robin repeats, medians, thread control, one subprocess per thread count.

How one case is timed (:func:`time_case`), for each library in turn: build the callable, call it
once (errors and lazy set-up surface here), time one call to choose how many calls make a batch
of at least ``min_time`` seconds, run one such batch as warm-up (skipped for an op slower than
``min_time``: the two calls before were warm-up enough). Then ``repeats`` rounds, each
timing one batch of lamina, then NumPy, then PyTorch; the figure is the median over rounds of
the mean time per call. A library whose single call is so slow that ``repeats`` batches would
exceed ``budget`` seconds gets fewer rounds (at least one); the record says how many.

Threads (:func:`run`): the parent process starts one worker (``python -m lamina.bench --worker``)
per thread count T with OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS = T in its
environment, because NumPy's BLAS reads those only when it loads; the worker also calls
``lamina.set_num_threads(T)``, ``torch.set_num_threads(T)`` and, if threadpoolctl is installed,
limits the BLAS pools with it. Workers append one JSON line per case to a file the parent reads,
so a worker that crashes (a bad kernel) loses only the case it was running: the parent records
that case as an error and starts a new worker at the next one.
"""
from __future__ import annotations

import dataclasses
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any, Callable, Optional

LIBS = ("lamina", "numpy", "torch")
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class NotApplicable(Exception):
    """Raised by a case's build() when a library has no counterpart of the op (shown '-')."""


@dataclasses.dataclass
class Case:
    """One row of a suite.

    op, shape, dtype: labels for the table and the JSON record.
    flops: floating-point operations per call, giving GFLOP/s; None reports microseconds per call.
    setup(): makes the inputs (e.g. NumPy arrays) once per case, shared by the libraries; the
        harness drops them when the case is done, so large inputs never pile up.
    build(lib, data): returns a zero-argument callable doing one call of the op in ``lib``
        ("lamina", "numpy" or "torch") on ``data``; raise NotApplicable where there is no
        counterpart. Any other exception, here or in a call, shows as 'error' for that library.
    extra: more fields copied into the record (e.g. what the row stands for, a target time).
    """
    op: str
    shape: str
    dtype: str
    flops: Optional[float]
    build: Callable[[str, Any], Callable[[], Any]]
    setup: Optional[Callable[[], Any]] = None
    extra: dict = dataclasses.field(default_factory=dict)

    def label(self):
        return f"{self.op} {self.shape} {self.dtype}"


def as_lib(lib, arr):
    """The NumPy array ``arr`` as ``lib``'s tensor, sharing memory (no copy)."""
    if lib == "numpy":
        return arr
    if lib == "lamina":
        import lamina
        return lamina.from_numpy(arr)
    if lib == "torch":
        import torch
        return torch.from_numpy(arr)
    raise ValueError(f"unknown library {lib!r}; expected one of {LIBS}")


def available_libs():
    """lamina and NumPy always; PyTorch when it imports."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return LIBS[:2]
    return LIBS


def core_count():
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


_blas_limits = None  # keeps threadpoolctl's limit alive in a worker


def set_threads(n):
    """Sets ``n`` threads for lamina, PyTorch and (with threadpoolctl) NumPy's BLAS; returns what each reports.

    Without threadpoolctl, NumPy's BLAS threads are whatever OPENBLAS_NUM_THREADS & co. said when
    NumPy loaded; :func:`run` sets those for each worker it starts.
    """
    global _blas_limits
    import lamina
    lamina.set_num_threads(n)
    got = {"lamina": lamina.get_num_threads()}
    if "torch" in available_libs():
        import torch
        torch.set_num_threads(n)
        got["torch"] = torch.get_num_threads()
    try:
        import threadpoolctl
    except ImportError:
        env = os.environ.get("OPENBLAS_NUM_THREADS")
        got["numpy"] = int(env) if env and env.isdigit() else None
    else:
        _blas_limits = threadpoolctl.threadpool_limits(n, user_api="blas")
        pools = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
        got["numpy"] = max(pools) if pools else None
    return got


def _batch(fn, calls):
    """Mean seconds per call over ``calls`` calls, with the garbage collector paused."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - t0) / calls
    finally:
        if enabled:
            gc.enable()


def _error(e):
    return {"error": f"{type(e).__name__}: {e}".splitlines()[0][:300],
            "traceback": traceback.format_exc(limit=-3)}


# With several threads, a library's idle workers keep spinning for a while after its batch
# (OpenBLAS for about 0.1 s) and would steal cores from whichever library runs next; a pause
# before each batch lets every runtime park its threads, so no library pays for another.
SETTLE_SECONDS = 0.2


def time_case(case, libs, repeats, min_time=0.05, budget=30.0, settle=0.0):
    """Times ``case`` for each of ``libs``; returns {lib: result or None (not applicable)}.

    A result holds ``seconds`` (median per call), ``samples`` (rounds timed), ``calls`` (per
    round) and ``error`` (None, or the first line of the exception, with ``traceback``).
    """
    gc.collect()
    data = case.setup() if case.setup else None
    results, fns, calls, quota = {}, {}, {}, {}
    for lib in libs:
        try:
            fn = case.build(lib, data)
            fn()
            t1 = _batch(fn, 1)
            calls[lib] = max(1, math.ceil(min_time / t1)) if t1 > 0 else 1000
            # warm-up batch, unless the op is so slow that the two calls above were warm-up enough
            t_batch = _batch(fn, calls[lib]) if calls[lib] > 1 or t1 < min_time else t1
            quota[lib] = max(1, min(repeats, int(budget / max(t_batch * calls[lib], 1e-9))))
            fns[lib] = fn
        except NotApplicable:
            results[lib] = None
        except Exception as e:  # noqa: BLE001 - a failing library must not stop the others
            results[lib] = _error(e)
    samples = {lib: [] for lib in fns}
    for _ in range(repeats):  # round-robin: one batch per library per round
        for lib in list(fns):
            if len(samples[lib]) >= quota[lib]:
                continue
            if settle:
                time.sleep(settle)
            try:
                samples[lib].append(_batch(fns[lib], calls[lib]))
            except Exception as e:  # noqa: BLE001
                results[lib] = _error(e)
                del fns[lib]
    for lib in fns:
        results[lib] = {"seconds": statistics.median(samples[lib]), "samples": len(samples[lib]),
                        "calls": calls[lib], "error": None}
    del data, fns
    return {lib: results[lib] for lib in libs}


def make_record(suite, case, threads, results, lib_threads=None):
    """The JSON record of one case at one thread count (peak fields are added by :func:`add_peak`)."""
    rec = {"suite": suite, "op": case.op, "shape": case.shape, "dtype": case.dtype, "threads": threads,
           "flops": case.flops, "unit": "GFLOP/s" if case.flops else "us", "results": {}, "ratio": {}}
    for lib, r in results.items():
        if r is not None and r.get("error") is None:
            r = dict(r, value=case.flops / r["seconds"] / 1e9 if case.flops else r["seconds"] * 1e6)
        rec["results"][lib] = r
    lam = rec["results"].get("lamina")
    for lib, r in rec["results"].items():
        if lib == "lamina":
            continue
        ok = lam and r and lam.get("error") is None and r.get("error") is None
        # speed of lamina over speed of the peer: > 1 means lamina is faster (same for GFLOP/s and us).
        rec["ratio"][lib] = r["seconds"] / lam["seconds"] if ok else None
    if lib_threads is not None:
        rec["lib_threads"] = lib_threads
    rec.update(case.extra)
    return rec


def add_peak(records, peak_1t):
    """Adds peak_gflops (threads x single-thread peak) and pct_peak (lamina's share) to each record."""
    for rec in records:
        peak = peak_1t * rec["threads"] if peak_1t and rec["flops"] else None
        lam = rec["results"].get("lamina")
        value = lam.get("value") if lam else None
        rec["peak_gflops"] = peak
        rec["pct_peak"] = 100.0 * value / peak if peak and value is not None else None
    return records


def measure_peak(seconds):
    """Single-thread float32 FMA GFLOP/s from lamina._C.fma_peak_gflops, or None where it is missing."""
    from lamina import _C
    probe = getattr(_C, "fma_peak_gflops", None)
    if probe is None:
        return None
    try:
        return float(probe(float(seconds)))
    except Exception as e:  # noqa: BLE001
        print(f"lamina.bench: peak probe failed ({type(e).__name__}: {e}); no %peak column", file=sys.stderr)
        return None


def worker(suite, cases, threads, repeats, out, start=0, min_time=0.05, budget=30.0, progress=True):
    """Runs ``cases[start:]`` at ``threads`` threads in this process, appending JSON lines to ``out``.

    Before each case it writes {"start": index}; after it, the record. The parent uses the
    start lines to tell which case a crashed worker was running.
    """
    from .report import Progress
    lib_threads = set_threads(threads)
    libs = available_libs()
    bar = Progress(len(cases), f"threads={threads}", enabled=progress)
    with open(out, "a") as f:
        for i in range(start, len(cases)):
            case = cases[i]
            bar.update(i, case.label())
            f.write(json.dumps({"start": i}) + "\n")
            f.flush()
            results = time_case(case, libs, repeats, min_time, budget, SETTLE_SECONDS if threads > 1 else 0.0)
            f.write(json.dumps(make_record(suite, case, threads, results, lib_threads)) + "\n")
            f.flush()
        bar.update(len(cases), "done")
    bar.close()


def _crashed_record(suite, case, threads, rc):
    status = f"signal {-rc}" if rc < 0 else f"exit status {rc}"
    why = f"worker process died ({status}) while timing this case"
    return make_record(suite, case, threads, {lib: {"error": why} for lib in available_libs()})


def run(suite, cases, threads, repeats, quick=False, min_time=0.05, budget=30.0, progress=True):
    """Times ``cases`` of ``suite`` at each thread count, one worker subprocess each; returns the records.

    ``suite`` must be loadable by name in the worker (:func:`lamina.bench.load_suite`), and
    ``cases`` must be what ``cases(quick)`` returns there (used for labels after a crash).
    """
    import lamina
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(lamina.__file__)))
    records = []
    for t in threads:
        env = dict(os.environ, **{k: str(t) for k in THREAD_ENV})
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_root, os.environ.get("PYTHONPATH")) if p)
        start = 0
        while start < len(cases):
            fd, out = tempfile.mkstemp(prefix="lamina-bench-", suffix=".jsonl")
            os.close(fd)
            try:
                cmd = [sys.executable, "-m", "lamina.bench", suite, "--worker", "--threads", str(t),
                       "--repeats", str(repeats), "--start", str(start), "--out", out,
                       "--min-time", repr(min_time), "--budget", repr(budget)]
                cmd += ["--quick"] if quick else []
                cmd += [] if progress else ["--no-progress"]
                rc = subprocess.run(cmd, env=env).returncode
                with open(out) as f:
                    lines = [json.loads(line) for line in f if line.strip()]
            finally:
                os.unlink(out)
            done = [r for r in lines if "start" not in r]
            began = [r["start"] for r in lines if "start" in r]
            records += done
            start += len(done)
            if rc == 0 or start >= len(cases):
                break
            if not began or began[-1] != start:  # not a kernel crash: don't loop on it
                raise RuntimeError(f"benchmark worker for threads={t} failed outside a case "
                                   f"(exit status {rc}); its error is printed above")
            records.append(_crashed_record(suite, cases[start], t, rc))
            start += 1
    return records

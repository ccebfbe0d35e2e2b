"""Kernel benchmarks: lamina against NumPy and PyTorch, in one process, interleaved.

    python -m lamina.bench SUITE [--threads 1,2] [--repeats N] [--json FILE] [--quick]

A suite is a module here (``matmul.py``, ``overhead.py``) with a function ``cases(quick)`` that
returns a list of :class:`Case`. The harness (``harness.py``) runs each thread count in a fresh
subprocess so NumPy's BLAS threads can be set before NumPy loads, warms each case up, times
lamina / NumPy / PyTorch round-robin and keeps the median; ``report.py`` prints the table,
draws the progress bar and writes the JSON records.

To add a suite: write ``python/lamina/bench/NAME.py`` with ``cases(quick=False)`` and add
``NAME`` to :data:`SUITES`. Any importable module that defines ``cases`` also works as SUITE
(the tests use one).
"""
import importlib

from .harness import Case, NotApplicable, as_lib  # noqa: F401

SUITES = ("matmul", "conv2d", "norms", "overhead", "attention", "train", "gpu")


class UnknownSuite(ValueError):
    """Raised for a SUITE name that is neither registered nor an importable module with cases()."""


def load_suite(name):
    """Returns the suite module for ``name``: a name in SUITES, or an importable module defining cases()."""
    available = ", ".join(SUITES)
    if name in SUITES:
        return importlib.import_module(f"{__name__}.{name}")
    try:
        mod = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name.split(".")[0] and e.name != name:
            raise UnknownSuite(f"cannot import benchmark suite module {name!r}: {e}") from None
        raise UnknownSuite(f"unknown benchmark suite {name!r}; available: {available} "
                           "(or an importable module that defines cases(quick))") from None
    if not callable(getattr(mod, "cases", None)):
        raise UnknownSuite(f"module {name!r} has no cases(quick) function, so it is not a benchmark suite "
                           f"(available: {available})")
    return mod

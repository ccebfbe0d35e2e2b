"""Output: the progress bar (stderr), the results table (stdout), the JSON file and its metadata."""
from __future__ import annotations

import datetime
import json
import platform
import sys


class Progress:
    """A one-line progress bar on stderr: redrawn in place on a terminal, one line per step otherwise."""

    def __init__(self, total, label, stream=None, width=24, enabled=True):
        self.total, self.label, self.width, self.enabled = max(total, 1), label, width, enabled
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_len = 0

    def update(self, done, text=""):
        if not self.enabled:
            return
        filled = self.width * done // self.total
        line = f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} {text}"
        if self.tty:
            pad = " " * max(0, self._last_len - len(line))
            self.stream.write("\r" + line + pad)
            self._last_len = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self):
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _cell(result, digits):
    if result is None:
        return "-"
    if result.get("error") is not None:
        return "error"
    v = result["value"]
    return f"{v:.{digits}f}" if v >= 1 else f"{v:.2g}"


def format_table(records, libs):
    """The records as text tables, one per unit (GFLOP/s or us): values, ratios, %peak, notes."""
    out = []
    for unit in ("GFLOP/s", "us"):
        rows = [r for r in records if r["unit"] == unit]
        if not rows:
            continue
        peers = [lib for lib in libs if lib != "lamina"]
        digits = 1 if unit == "GFLOP/s" else 2
        header = ["op", "shape", "dtype", "threads"] + [f"{lib} {unit}" for lib in libs]
        header += [f"lamina/{p}" for p in peers]
        with_peak = unit == "GFLOP/s" and any(r.get("peak_gflops") for r in rows)
        header += ["%peak"] if with_peak else []
        table = []
        for r in rows:
            cells = [r["op"], r["shape"], r["dtype"], str(r["threads"])]
            cells += [_cell(r["results"].get(lib), digits) for lib in libs]
            cells += ["-" if r["ratio"].get(p) is None else f"{r['ratio'][p]:.2f}" for p in peers]
            if with_peak:
                cells.append("-" if r.get("pct_peak") is None else f"{r['pct_peak']:.0f}%")
            table.append(cells + [r.get("note", "")])
        widths = [max(len(row[i]) for row in [header + [""]] + table) for i in range(len(header) + 1)]
        left = 3  # op, shape and dtype are left-aligned, numbers right-aligned

        def fmt(row):
            return "  ".join(c.ljust(w) if i < left or i == len(header) else c.rjust(w)
                             for i, (c, w) in enumerate(zip(row, widths))).rstrip()

        out += [fmt(header + [""]), fmt(["-" * w for w in widths[:-1]] + [""])] + [fmt(row) for row in table]
        out.append("")
    out.append("lamina/peer = lamina's speed over the peer's (> 1: lamina is faster).")
    if any(r.get("pct_peak") is not None for r in records):
        out[-1] += " %peak = lamina's GFLOP/s over threads x the single-thread FMA peak."
    return "\n".join(out)


def format_errors(records):
    """One line per distinct error, with the libraries and the number of rows it hit."""
    seen = {}
    for r in records:
        for lib, res in r["results"].items():
            if res and res.get("error"):
                libs, rows = seen.setdefault(res["error"], ({}, {}))
                libs[lib] = None
                rows[f"{r['op']} {r['shape']} threads={r['threads']}"] = None
    lines = [f"  {'/'.join(libs)}: {err}  [{len(rows)} row{'s' * (len(rows) > 1)}, e.g. {next(iter(rows))}]"
             for err, (libs, rows) in seen.items()]
    return "errors:\n" + "\n".join(lines) if lines else ""


def metadata(suite, threads, repeats, quick, peak_1t, libs):
    """Where and how the numbers were taken: date, CPU, kernel path, versions, settings."""
    import numpy
    import lamina
    from lamina import _C
    from .harness import THREAD_ENV, core_count
    meta = {
        "suite": suite,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": _C.cpu_info(),
        "isa": _C.get_isa(),
        "build": _C.build_info(),
        "cores": core_count(),
        "machine": platform.machine(),
        "threads": list(threads),
        "repeats": repeats,
        "quick": quick,
        "peak_gflops_1thread": peak_1t,
        "peak_probe": "lamina._C.fma_peak_gflops" if peak_1t else "unavailable",
        "libs": list(libs),
        "versions": {"python": platform.python_version(), "lamina": lamina.__version__, "numpy": numpy.__version__},
        "numpy_threads": f"{'/'.join(THREAD_ENV)} set per thread count in a fresh subprocess",
    }
    try:
        meta["numpy_blas"] = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:  # noqa: BLE001 - older NumPy: no dict mode
        meta["numpy_blas"] = None
    try:
        import torch
        meta["versions"]["torch"] = torch.__version__
    except ImportError:
        meta["versions"]["torch"] = None
    try:
        import threadpoolctl
        meta["versions"]["threadpoolctl"] = threadpoolctl.__version__
        meta["numpy_threads"] += ", and limited with threadpoolctl"
    except ImportError:
        meta["versions"]["threadpoolctl"] = None
    return meta


def write_json(path, meta, records):
    """Writes {"meta": ..., "records": [...]} to ``path``."""
    with open(path, "w") as f:
        json.dump({"meta": meta, "records": records}, f, indent=1)
        f.write("\n")

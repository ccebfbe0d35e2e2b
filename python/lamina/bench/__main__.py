"""python -m lamina.bench SUITE [--threads 1,2] [--repeats N] [--json FILE] [--quick]

Times lamina against NumPy and (when installed) PyTorch on SUITE's cases, one fresh process per
thread count, interleaved round-robin after warm-up, median of the repeats; prints a table
(GFLOP/s or microseconds, lamina/peer ratios, % of the measured FMA peak) and optionally writes
the records as JSON. `python -m lamina.bench --list` lists the suites.
"""
import argparse
import sys

from . import SUITES, UnknownSuite, load_suite
from . import harness, report


def _threads(text):
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--threads wants comma-separated integers like 1,2; got {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"--threads wants positive integers; got {text!r}")
    return list(dict.fromkeys(counts))


def parser():
    p = argparse.ArgumentParser(prog="python -m lamina.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", nargs="?", help=f"one of: {', '.join(SUITES)}")
    p.add_argument("--list", action="store_true", help="list the suites and exit")
    p.add_argument("--threads", type=_threads, help="thread counts to run (default: 1 and all cores)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed rounds per case, median kept (default 7; 3 with --quick)")
    p.add_argument("--json", metavar="FILE", help="also write the records and metadata to FILE")
    p.add_argument("--quick", action="store_true", help="a small subset with short batches: a smoke test")
    p.add_argument("--min-time", type=float, default=None,
                   help="seconds per timed batch, filled by repeated calls (default 0.05; 0.005 with --quick)")
    p.add_argument("--budget", type=float, default=30.0,
                   help="seconds of timed rounds per case and library before fewer rounds are taken (default 30)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    # Internal: the per-thread-count subprocess started by harness.run.
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    return p


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    if args.list:
        for name in SUITES:
            print(f"{name:<10} {(load_suite(name).__doc__ or '').strip().splitlines()[0]}")
        return 0
    if not args.suite:
        p.error(f"give a suite: one of {', '.join(SUITES)}")
    try:
        suite = load_suite(args.suite)
    except UnknownSuite as e:
        p.error(str(e))
    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 7)
    if repeats < 1:
        p.error("--repeats must be at least 1")
    min_time = args.min_time if args.min_time is not None else (0.005 if args.quick else 0.05)
    cases = suite.cases(quick=args.quick)
    progress = not args.no_progress

    if args.worker:
        harness.worker(args.suite, cases, args.threads[0], repeats, args.out, args.start, min_time, args.budget,
                       progress)
        return 0

    threads = args.threads or list(dict.fromkeys([1, harness.core_count()]))
    peak = harness.measure_peak(0.05 if args.quick else 0.3) if any(c.flops for c in cases) else None
    records = harness.add_peak(harness.run(args.suite, cases, threads, repeats, args.quick, min_time, args.budget,
                                           progress), peak)
    libs = harness.available_libs()
    head = f"{args.suite}: {len(cases)} cases x threads {','.join(map(str, threads))}, median of {repeats}"
    if any(c.flops for c in cases):
        head += f"; FMA peak {peak:.1f} GFLOP/s per thread" if peak else "; FMA peak unavailable"
    print(head)
    print(report.format_table(records, libs))
    errors = report.format_errors(records)
    if errors:
        print(errors)
    if args.json:
        report.write_json(args.json, report.metadata(args.suite, threads, repeats, args.quick, peak, libs), records)
        print(f"wrote {len(records)} records to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Small-op overhead, now the `overhead` suite of lamina's benchmark harness.

    python benchmarks/overhead.py [--threads 1] [--repeats 15] [--json out.json]

is the same as `python -m lamina.bench overhead ...` (one thread unless --threads says otherwise);
see python/lamina/bench/overhead.py for the cases.
"""
import sys

from lamina.bench.__main__ import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if not any(a == "--threads" or a.startswith("--threads=") for a in args):
        args = ["--threads", "1"] + args
    sys.exit(main(["overhead"] + args))

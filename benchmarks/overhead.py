"""Small-op overhead: what autograd-in-Python costs per op, side by side with PyTorch eager.

Rows: adding two 1-element tensors; a tiny linear layer (1x16 input, 16x16 weight, bias)
forward + backward. Each case runs interleaved with its peer in this process, after warm-up;
the figure is the median over repeats of the mean time per call in a timed batch.

    python benchmarks/overhead.py [--repeats 15] [--json out.json]
"""
import argparse
import json
import platform
import statistics
import sys
import time

import lamina


def _batch(fn, n):
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def measure(cases, repeats, n):
    """cases: {name: fn}. Runs them round-robin `repeats` times; returns median seconds per call."""
    for fn in cases.values():
        _batch(fn, n // 10 + 1)  # warm-up
    samples = {k: [] for k in cases}
    for _ in range(repeats):
        for k, fn in cases.items():
            samples[k].append(_batch(fn, n))
    return {k: statistics.median(v) for k, v in samples.items()}


def make_cases(lib, linear_fn):
    """The same two cases for lamina or torch: their APIs match, so one builder serves both."""
    lib.set_num_threads(1)
    a, b = lib.tensor([1.0]), lib.tensor([2.0])
    x = lib.randn(1, 16)
    w = lib.randn(16, 16, requires_grad=True)
    bias = lib.randn(16, requires_grad=True)

    def linear():
        linear_fn(x, w, bias).sum().backward()
        w.grad = None
        bias.grad = None

    return {"add": lambda: a + b, "linear_fwd_bwd": linear}


def lamina_linear(x, w, b):
    # Until lamina.matmul lands, the layer is the broadcast product summed over inputs.
    return (x.unsqueeze(1) * w).sum(-1) + b


def peer_cases():
    try:
        import torch
    except ImportError:
        return {}
    return make_cases(torch, torch.nn.functional.linear)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--n", type=int, default=2000, help="calls per timed batch")
    p.add_argument("--json", help="write the records here")
    args = p.parse_args(argv)
    lam, tor = make_cases(lamina, lamina_linear), peer_cases()
    cases = {("lamina", k): v for k, v in lam.items()}
    cases.update({("torch", k): v for k, v in tor.items()})
    res = measure(cases, args.repeats, args.n)
    targets = {"add": 3.0, "linear_fwd_bwd": 30.0}
    print(f"{'case':<16} {'lamina us':>10} {'torch us':>10} {'ratio':>7} {'target us':>10}")
    records = []
    for k in lam:
        lu = res[("lamina", k)] * 1e6
        tu = res.get(("torch", k))
        tu = tu * 1e6 if tu is not None else None
        ratio = f"{lu / tu:7.2f}" if tu else "      -"
        print(f"{k:<16} {lu:10.2f} {tu if tu is not None else float('nan'):10.2f} {ratio} {targets[k]:10.1f}")
        records.append({"case": k, "lamina_us": lu, "torch_us": tu, "target_us": targets[k]})
    if args.json:
        meta = {"machine": platform.processor() or platform.machine(), "python": sys.version.split()[0],
                "lamina": lamina.__version__}
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "records": records}, f, indent=2)


if __name__ == "__main__":
    main()

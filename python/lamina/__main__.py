"""``python -m lamina info``: version, build options, CPU features and dispatch, threads, GPUs."""
import argparse
import sys


def info():
    import lamina
    from lamina import _C
    b = _C.build_info()
    c = _C.cpu_info()
    lines = [
        f"lamina {lamina.__version__}",
        f"  build        : {b['compiler']}, OpenMP {b['openmp']}",
        f"  CUDA         : {'compiled for sm_' + ', sm_'.join(b['cuda_archs'].split()) if b['cuda'] else 'not compiled'}",
        f"  CPU          : {c['brand'] or c['vendor']}",
        "  features     : " + " ".join(k for k in ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512dq", "avx512vl",
                                                   "avx512_bf16", "amx") if c[k]),
        f"  caches       : L1d {c['l1d'] >> 10} KiB, L2 {c['l2'] >> 10} KiB, L3 {c['l3'] >> 20} MiB",
        f"  kernel path  : {_C.get_isa()} (best for this CPU: {c['best_isa']})",
        f"  threads      : {lamina.get_num_threads()}",
    ]
    n = lamina.cuda.device_count()
    if n:
        lines.append(f"  GPUs         : {n}")
        lines += [f"    cuda:{i}: {lamina.cuda.get_device_name(i)}" for i in range(n)]
    else:
        lines.append("  GPUs         : none" + ("" if b["cuda"] else " (built without CUDA)"))
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lamina", description=__doc__)
    parser.add_argument("command", nargs="?", default="info", choices=["info"], help="what to do (default: info)")
    args = parser.parse_args(argv)
    if args.command == "info":
        info()
    return 0


if __name__ == "__main__":
    sys.exit(main())

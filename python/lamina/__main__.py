"""``python -m lamina``: the command line.

``info`` (the default) prints the version, build options, CPU features and dispatch, threads
and GPUs. ``train RECIPE`` trains one of the recipes in :mod:`lamina.recipes` and writes a
checkpoint and a PNG of its training curves (``python -m lamina train --list`` lists them).
``--cmake-dir`` prints where lamina's CMake package is, for ``find_package(lamina)``.
"""
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


def _positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def _train_parser(sub):
    from lamina import recipes
    p = sub.add_parser("train", help=f"train a recipe (default: {recipes.DEFAULT_RECIPE})",
                       description="Train a recipe: prints per-epoch metrics, writes OUT/checkpoint.safetensors "
                                   "(model + optimiser state + epoch) and OUT/curves.png.")
    p.add_argument("recipe", nargs="?", default=recipes.DEFAULT_RECIPE,
                   help=f"what to train (default: {recipes.DEFAULT_RECIPE}); --list shows them all")
    p.add_argument("--list", action="store_true", help="list the recipes and exit")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to train (default: cpu)")
    p.add_argument("--epochs", type=_positive(int), help="passes over the training data (default: the recipe's)")
    p.add_argument("--threads", type=_positive(int), help="CPU threads for lamina's kernels (default: all cores)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights and shuffling (default: 0)")
    p.add_argument("--batch-size", type=_positive(int), help="training batch size (default: the recipe's)")
    p.add_argument("--lr", type=_positive(float), help="(peak) learning rate (default: the recipe's)")
    p.add_argument("--out", help="directory for the checkpoint and the curves (default: runs/RECIPE)")
    p.add_argument("--quick", action="store_true", help="a tiny configuration that runs in seconds (smoke test)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    return p


def train(parser, args):
    """Runs ``args.recipe``; returns the process exit status."""
    from lamina import recipes
    if args.list:
        for name in recipes.available():
            print(f"{name:<18} {recipes.describe(name)}")
        return 0
    try:
        recipes.load(args.recipe)
    except recipes.UnknownRecipe as e:
        parser.error(str(e))
    try:
        recipes.run(args.recipe, quick=args.quick, out=args.out, epochs=args.epochs, batch_size=args.batch_size,
                    lr=args.lr, seed=args.seed, device=args.device, threads=args.threads, quiet=args.quiet)
    except recipes.MissingDependency as e:
        print(f"python -m lamina train: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lamina", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="{info,train}")
    sub.add_parser("info", help="version, build options, CPU features, threads, GPUs (the default)")
    train_parser = _train_parser(sub)
    parser.add_argument("--cmake-dir", action="store_true",
                        help="print the directory of lamina's CMake package (for find_package(lamina)) and exit")
    args = parser.parse_args(argv)
    if args.cmake_dir:
        import lamina
        try:
            print(lamina.get_cmake_dir())
        except FileNotFoundError as e:
            print(f"python -m lamina: {e}", file=sys.stderr)
            return 1
        return 0
    if args.command == "train":
        return train(train_parser, args)
    info()
    return 0


if __name__ == "__main__":
    sys.exit(main())

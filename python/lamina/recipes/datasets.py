"""The recipes' data: scikit-learn's bundled digits, the generated adding problem, and Python
standard-library sources as text. Everything is on the machine already or generated from a
seed; nothing is downloaded."""
import os
import sysconfig

import numpy as np

from .trainer import require

# Standard-library modules read by char-transformer, in this order; all ship with CPython 3.9
# and later. Missing ones (a trimmed installation) are skipped.
STDLIB_FILES = ("argparse.py", "dataclasses.py", "functools.py", "inspect.py", "textwrap.py", "string.py",
                "shutil.py", "subprocess.py", "tempfile.py", "threading.py", "heapq.py", "bisect.py", "csv.py",
                "difflib.py", "fractions.py", "random.py", "statistics.py", "contextlib.py", "enum.py",
                "copy.py", "glob.py", "fnmatch.py", "calendar.py", "configparser.py", "ftplib.py", "gzip.py",
                "queue.py", "sched.py", "shlex.py", "smtplib.py", "tarfile.py", "zipfile.py")


def digits(images, test_size=0.2, split_seed=0):
    """scikit-learn's 1,797 8x8 digits scaled to [0, 1], split into (x_train, y_train, x_test,
    y_test) NumPy arrays: a stratified held-out split fixed by ``split_seed`` (not by the training
    seed, so every run is scored on the same images). ``images``: (N, 1, 8, 8) instead of (N, 64)."""
    datasets = require("sklearn.datasets", "scikit-learn")
    model_selection = require("sklearn.model_selection", "scikit-learn")
    bunch = datasets.load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    if images:
        x = x.reshape(-1, 1, 8, 8)
    x_train, x_test, y_train, y_test = model_selection.train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=split_seed)
    return x_train, y_train, x_test, y_test


def adding_problem(n, length, rng):
    """``n`` sequences of ``length`` (value, marker) pairs: values uniform in [0, 1), markers 1 at
    two positions (one in each half, so the first must be remembered for at least
    ``length // 2`` steps) and 0 elsewhere. Targets: the sum of the two marked values, shape (n, 1).
    Returns float32 arrays (x of shape (n, length, 2), y)."""
    if length < 2:
        raise ValueError(f"[adding_problem] length must be at least 2, got {length}")
    values = rng.random((n, length), dtype=np.float32)
    half = length // 2
    first = rng.integers(0, half, n)
    second = rng.integers(half, length, n)
    markers = np.zeros((n, length), np.float32)
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = (values[rows, first] + values[rows, second]).reshape(n, 1)
    return np.stack([values, markers], axis=-1), y


def stdlib_text(files=STDLIB_FILES, limit=None):
    """The listed files of this Python's standard library (``sysconfig.get_paths()['stdlib']``),
    joined by blank lines; at most ``limit`` characters when given."""
    root = sysconfig.get_paths()["stdlib"]
    parts = []
    for name in files:
        path = os.path.join(root, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                parts.append(f.read())
    if not parts:
        raise FileNotFoundError(f"[char-transformer] none of the standard-library files {', '.join(files)} "
                                f"exist under {root}")
    text = "\n\n".join(parts)
    return text[:limit] if limit else text


def loaders(x_train, y_train, x_test, y_test, batch_size, eval_batch_size=512):
    """Shuffled training and ordered evaluation DataLoaders over NumPy arrays."""
    import lamina
    from lamina.data import DataLoader, TensorDataset

    def dataset(x, y):
        return TensorDataset(lamina.from_numpy(np.ascontiguousarray(x)), lamina.from_numpy(np.ascontiguousarray(y)))

    return (DataLoader(dataset(x_train, y_train), batch_size=batch_size, shuffle=True),
            DataLoader(dataset(x_test, y_test), batch_size=eval_batch_size))

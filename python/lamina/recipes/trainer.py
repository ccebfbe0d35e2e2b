"""The training loop every recipe shares: :func:`fit`.

Per epoch it shows a progress bar (tqdm), trains on every batch (forward, loss, backward,
optional gradient clipping, optimiser step, optional scheduler step), evaluates on the held-out
split, prints one line (train loss, held-out loss and accuracy, samples/s, seconds), and writes
the checkpoint (model state, optimiser state, epoch; one safetensors file through
``lamina.save``, which replaces the previous one atomically). At the end it draws the training
curves into a PNG (matplotlib, without pyplot, so no display is needed) and prints where both
files are.

The optional dependencies (scikit-learn, matplotlib, tqdm: the ``examples`` extra) are
imported only when a recipe uses them, through :func:`require`.
"""
import dataclasses
import importlib
import io
import math
import sys
import time
from pathlib import Path
from typing import Optional

import lamina

EXTRA_HINT = 'pip install "lamina[examples]"'
CHECKPOINT_NAME = "checkpoint.safetensors"
CURVES_NAME = "curves.png"


class MissingDependency(ImportError):
    """An optional package a recipe needs is not installed; the message names the extra to install."""


def require(module, package=None, hint=EXTRA_HINT):
    """Imports and returns ``module``, or raises :class:`MissingDependency` naming the pip
    ``package`` that provides it and the command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependency(f"this recipe needs {package or module} (missing: {e.name or module}); "
                                f"install it with: {hint}") from e


@dataclasses.dataclass
class TrainConfig:
    """What a recipe runs with (see :func:`lamina.recipes.make_config`).

    ``extra`` holds the recipe's own settings (model sizes, sequence length...)."""
    recipe: str
    epochs: int
    batch_size: int
    lr: float
    out: Path
    seed: int = 0
    device: str = "cpu"
    threads: Optional[int] = None
    quiet: bool = False
    quick: bool = False
    extra: dict = dataclasses.field(default_factory=dict)

    def log(self, *parts):
        """Prints unless ``quiet``."""
        if not self.quiet:
            print(*parts, flush=True)


def prepare(config):
    """Seeds lamina's generator, sets the thread count, checks the device; returns the device.

    Recipes call it first, before they build their models, so initial weights, dropout and
    shuffling depend on ``config.seed`` only."""
    if config.threads is not None:
        if config.threads < 1:
            raise ValueError(f"[train] --threads must be at least 1, got {config.threads}")
        lamina.set_num_threads(config.threads)
    lamina.manual_seed(config.seed)
    device = lamina.device(config.device)
    if device.type == "cuda" and not lamina.cuda.is_available():
        raise RuntimeError("[train] --device cuda asked for, but no CUDA device is available "
                           "(lamina built without CUDA, or no GPU/driver); use --device cpu")
    return device


def _to(batch, device):
    return tuple(t.to(device) for t in batch)


def _count(x):
    return x.shape[0]


def _plot(path, history, split, metric_name):
    """Loss curves (and the held-out metric, if any) per epoch, written atomically as a PNG."""
    require("matplotlib")
    from matplotlib.figure import Figure  # the Agg canvas, whatever backend pyplot would pick

    epochs = [h["epoch"] for h in history]
    has_metric = any(h.get(metric_name) is not None for h in history)
    fig = Figure(figsize=(10 if has_metric else 5.5, 4), layout="constrained")
    axes = fig.subplots(1, 2 if has_metric else 1, squeeze=False)[0]
    axes[0].plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    axes[0].plot(epochs, [h[f"{split}_loss"] for h in history], "s-", label=split)
    axes[0].set(xlabel="epoch", ylabel="loss", title="loss")
    axes[0].legend()
    if has_metric:
        axes[1].plot(epochs, [100 * h[metric_name] for h in history], "s-", color="tab:green")
        axes[1].set(xlabel="epoch", ylabel=f"{split} accuracy (%)", title=f"{split} accuracy")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(history[0]["recipe"])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    lamina.io.atomic_write(path, lambda f: f.write(buf.getvalue()))


def evaluate(model, loader, loss_fn, correct=None, device="cpu"):
    """Mean loss over ``loader`` (weighted by batch size) and, given ``correct(out, y) -> (hits,
    counted)``, the accuracy; the model in eval mode, no graph recorded."""
    was_training = model.training
    model.eval()
    total, n, hits, counted = 0.0, 0, 0, 0
    try:
        with lamina.no_grad():
            for batch in loader:
                x, y = _to(batch, device)
                out = model(x)
                b = _count(x)
                total += loss_fn(out, y).item() * b
                n += b
                if correct is not None:
                    h, c = correct(out, y)
                    hits, counted = hits + h, counted + c
    finally:
        model.train(was_training)
    return total / max(n, 1), (hits / counted if correct is not None and counted else None)


def fit(config, model, optimizer, loss_fn, train_loader, eval_loader, *, correct=None, split="test",
        scheduler=None, clip_grad_norm=None):
    """Trains ``model`` for ``config.epochs`` epochs and returns the final metrics.

    loss_fn(out, y): a scalar loss tensor. correct(out, y) -> (hits, counted), optional: gives
    the held-out accuracy. split: what the held-out set is called ("test" or "val").
    scheduler: stepped once per batch. clip_grad_norm: max gradient norm, or None.

    Returns a dict: epochs, train_loss, {split}_loss, {split}_accuracy (None without
    ``correct``), samples_per_s (training throughput of the last epoch), seconds (all epochs),
    checkpoint and plot (paths), history (one dict per epoch).
    """
    device = lamina.device(config.device)
    tqdm = require("tqdm").tqdm
    out_dir = Path(config.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = out_dir / CHECKPOINT_NAME
    model.to(device)
    history = []
    start = time.perf_counter()
    acc_key = f"{split}_accuracy"
    for epoch in range(1, config.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        total, n = 0.0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{config.epochs}", unit="batch", leave=False,
                   disable=config.quiet, file=sys.stderr, dynamic_ncols=True)
        for batch in bar:
            x, y = _to(batch, device)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            if clip_grad_norm is not None:
                lamina.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(f"[train] {config.recipe}: the loss became {value} at epoch {epoch}; "
                                         "try a smaller --lr")
            b = _count(x)
            total, n = total + value * b, n + b
            bar.set_postfix(loss=f"{total / n:.4f}", refresh=False)
        bar.close()
        train_seconds = time.perf_counter() - t0
        eval_loss, accuracy = evaluate(model, eval_loader, loss_fn, correct, device)
        record = {"recipe": config.recipe, "epoch": epoch, "train_loss": total / max(n, 1),
                  f"{split}_loss": eval_loss, acc_key: accuracy, "samples_per_s": n / train_seconds,
                  "seconds": time.perf_counter() - t0}
        history.append(record)
        line = (f"epoch {epoch:>3}/{config.epochs}  train loss {record['train_loss']:.4f}  "
                f"{split} loss {eval_loss:.4f}")
        if accuracy is not None:
            line += f"  {split} acc {100 * accuracy:6.2f}%"
        config.log(line + f"  {record['samples_per_s']:8.0f} samples/s  {record['seconds']:.1f} s")
        lamina.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                     "recipe": config.recipe}, checkpoint)
    seconds = time.perf_counter() - start
    plot = out_dir / CURVES_NAME
    _plot(plot, history, split, acc_key)
    last = history[-1]
    metrics = {"epochs": config.epochs, "train_loss": last["train_loss"], f"{split}_loss": last[f"{split}_loss"],
               acc_key: last[acc_key], "samples_per_s": last["samples_per_s"], "seconds": seconds,
               "checkpoint": str(checkpoint), "plot": str(plot), "history": history}
    text = f"{config.recipe}: {config.epochs} epochs in {seconds:.1f} s; {split} loss {last[f'{split}_loss']:.4f}"
    if last[acc_key] is not None:
        text += f", {split} accuracy {100 * last[acc_key]:.2f}%"
    config.log(text)
    config.log(f"checkpoint: {checkpoint}\ncurves:     {plot}")
    return metrics

"""Training recipes: ``python -m lamina train RECIPE`` (or :func:`run` from Python).

A recipe is a module in this package, registered in :data:`RECIPES` under its command-line
name with a one-line description, and imported only when it runs (so listing recipes, and
importing lamina, never needs the optional dependencies). The module defines:

``DEFAULTS``
    a dict with at least ``epochs``, ``batch_size`` and ``lr`` (what ``--epochs``,
    ``--batch-size`` and ``--lr`` override) and any recipe-specific settings, which reach
    ``run`` as ``config.extra``;
``QUICK`` (optional)
    overrides of ``DEFAULTS`` for ``--quick``: a tiny configuration that runs in seconds, for
    tests and smoke checks;
``run(config)``
    trains and evaluates, given a filled :class:`~lamina.recipes.trainer.TrainConfig`, and
    returns a dict of final metrics (``trainer.fit`` returns one, with the checkpoint and plot
    paths).

The shared loop (progress bar, per-epoch metrics, throughput, atomic checkpoint, curves PNG)
is :func:`lamina.recipes.trainer.fit`.
"""
import dataclasses
import importlib
import importlib.util
from pathlib import Path

from .trainer import MissingDependency, TrainConfig  # noqa: F401

# name -> (module in this package, one-line description)
RECIPES = {
    "digits-cnn": ("digits_cnn", "small CNN on scikit-learn's 8x8 digits (target >= 98% test accuracy)"),
    "digits-mlp": ("digits_mlp", "two-layer MLP on scikit-learn's 8x8 digits (target >= 96% test accuracy)"),
    "seq-lstm": ("seq_lstm", "LSTM on the adding problem, 50-step sequences (target >= 95% within 0.04)"),
    "seq-gru": ("seq_gru", "GRU on the adding problem, 50-step sequences (target >= 95% within 0.04)"),
    "char-transformer": ("char_transformer",
                         "decoder-only character Transformer on Python standard-library sources, vs a bigram baseline"),
    "minilm": ("minilm", "fine-tune the pretrained MiniLM sentence encoder on a small labelled sentence set"),
}
DEFAULT_RECIPE = "digits-cnn"


class UnknownRecipe(ValueError):
    """Raised for a recipe name that is not registered; the message lists the known ones."""


def available():
    """Names of the registered recipes whose module is present, in registration order."""
    return [name for name, (mod, _) in RECIPES.items() if importlib.util.find_spec(f"{__name__}.{mod}") is not None]


def describe(name):
    """The one-line description of recipe ``name``."""
    return RECIPES[name][1]


def load(name):
    """The module of recipe ``name``; raises :class:`UnknownRecipe` naming the known recipes."""
    names = available()
    if name not in names:
        raise UnknownRecipe(f"unknown recipe {name!r}; available: {', '.join(names)}")
    return importlib.import_module(f"{__name__}.{RECIPES[name][0]}")


def make_config(name, *, quick=False, out=None, **overrides):
    """The :class:`TrainConfig` recipe ``name`` runs with: its ``DEFAULTS``, then ``QUICK`` when
    ``quick``, then the ``overrides`` that are not None (``epochs``, ``batch_size``, ``lr``,
    ``seed``, ``device``, ``threads``, ``quiet``). ``out`` defaults to ``runs/NAME``."""
    module = load(name)
    settings = dict(module.DEFAULTS)
    if quick:
        settings.update(getattr(module, "QUICK", {}))
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"recipe", "out", "quick", "extra"}
    unknown = set(overrides) - fields
    if unknown:
        raise TypeError(f"[recipes] unknown option(s) {', '.join(sorted(unknown))}; expected some of "
                        f"{', '.join(sorted(fields))}")
    settings.update({k: v for k, v in overrides.items() if v is not None})
    standard = {k: settings.pop(k) for k in fields if k in settings}
    return TrainConfig(recipe=name, out=Path(out) if out is not None else Path("runs") / name, quick=quick,
                       extra=settings, **standard)


def run(name, *, quick=False, out=None, **overrides):
    """Runs recipe ``name`` (see :func:`make_config` for the options); returns its metrics dict."""
    config = make_config(name, quick=quick, out=out, **overrides)
    return load(name).run(config)

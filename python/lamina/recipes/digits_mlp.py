"""digits-mlp: a two-layer perceptron on scikit-learn's 8x8 digits (64 pixel features), scored
on a fixed stratified 20% test split; reaches >= 96% test accuracy in a few seconds."""
from . import _digits, models

DEFAULTS = {"epochs": 30, "batch_size": 32, "lr": 3e-3, "weight_decay": 1e-4, "augment": False}
QUICK = {"epochs": 1}


def run(config):
    """Trains and evaluates; returns the trainer's metrics."""
    return _digits.run(config, models.digits_mlp, images=False)

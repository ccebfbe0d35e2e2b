"""digits-cnn: a two-stage CNN (conv 3x3, ReLU, max-pool 2x2, twice; then two linear layers) on
scikit-learn's 8x8 digits, trained on the images plus copies shifted by one pixel, scored on a
fixed stratified 20% test split; reaches >= 98% test accuracy."""
from . import _digits, models

DEFAULTS = {"epochs": 6, "batch_size": 64, "lr": 3e-3, "weight_decay": 1e-4, "augment": True}
QUICK = {"epochs": 1, "augment": False}


def run(config):
    """Trains and evaluates; returns the trainer's metrics."""
    return _digits.run(config, models.digits_cnn, images=True)

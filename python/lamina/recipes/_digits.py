"""What the two digits recipes share: data (with shifted copies for augmentation), AdamW with a
one-cycle learning rate, cross-entropy, test accuracy."""
import numpy as np

import lamina
from lamina.nn import functional as F

from . import datasets
from .trainer import fit, prepare


def shifted(x, dy, dx):
    """Images (..., H, W) moved by (dy, dx) pixels, with zeros shifted in."""
    out = np.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        x[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def correct(logits, y):
    """(right predictions, predictions) of a batch of class logits."""
    return int((logits.argmax(dim=1) == y).sum().item()), y.shape[0]


def run(config, build, images):
    """Trains the model ``build(lamina)`` on the digits (``images``: (N, 1, 8, 8) inputs; else
    (N, 64)) and returns ``fit``'s metrics. With ``config.extra['augment']``, the training set
    also holds every image shifted one pixel up, down, left and right (5x the data: the
    features a small network then learns are robust to where the digit sits)."""
    prepare(config)
    x_train, y_train, x_test, y_test = datasets.digits(images=True)
    if config.extra.get("augment"):
        moves = ((0, 1), (0, -1), (1, 0), (-1, 0))
        x_train = np.concatenate([x_train] + [shifted(x_train, dy, dx) for dy, dx in moves])
        y_train = np.concatenate([y_train] * (1 + len(moves)))
    if not images:
        x_train, x_test = x_train.reshape(-1, 64), x_test.reshape(-1, 64)
    train, test = datasets.loaders(x_train, y_train, x_test, y_test, config.batch_size)
    model = build(lamina)
    optimizer = lamina.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.extra["weight_decay"])
    scheduler = lamina.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr,
                                                     total_steps=config.epochs * len(train))
    config.log(f"{config.recipe}: {len(x_train)} training and {len(x_test)} test images, "
               f"{sum(p.numel() for p in model.parameters())} parameters")
    return fit(config, model, optimizer, F.cross_entropy, train, test, correct=correct, scheduler=scheduler)

"""seq-lstm: an LSTM learns the adding problem. Each input is a sequence of ``seq_len`` (value,
marker) pairs, values uniform in [0, 1), two markers set (one in each half); the target is the
sum of the two marked values, so the first must be carried for at least ``seq_len / 2`` steps.
Accuracy = the share of test sequences predicted within ``tolerance`` (0.04) of the sum; a model
without memory scores about 8%. The data is generated from fixed seeds, nothing is downloaded."""
import numpy as np

import lamina
from lamina.nn import functional as F

from . import datasets, models
from .trainer import fit, prepare

DEFAULTS = {"epochs": 16, "batch_size": 32, "lr": 5e-3, "seq_len": 50, "hidden": 64, "train_size": 10000,
            "test_size": 2000, "tolerance": 0.04, "clip": 1.0}
QUICK = {"epochs": 1, "seq_len": 12, "hidden": 16, "train_size": 256, "test_size": 64}


def run_cell(config, cell):
    """Trains ``cell`` ("lstm" or "gru") on the adding problem; returns ``fit``'s metrics."""
    prepare(config)
    opts = config.extra
    rng = np.random.default_rng(1234)  # the data does not depend on --seed: every run sees the same task
    x_train, y_train = datasets.adding_problem(opts["train_size"], opts["seq_len"], rng)
    x_test, y_test = datasets.adding_problem(opts["test_size"], opts["seq_len"], rng)
    train, test = datasets.loaders(x_train, y_train, x_test, y_test, config.batch_size)
    model = models.sequence_regressor(lamina, cell, input_size=2, hidden_size=opts["hidden"])
    optimizer = lamina.optim.Adam(model.parameters(), lr=config.lr)
    # a short warm-up, then a long decay: the loss sits on a plateau (predicting the mean) until
    # the cell learns to latch the first marked value, and a high rate gets it off sooner
    scheduler = lamina.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr,
                                                     total_steps=config.epochs * len(train), pct_start=0.2)
    tolerance = opts["tolerance"]

    def correct(out, y):
        return int(((out - y).abs() < tolerance).sum().item()), y.shape[0]

    config.log(f"{config.recipe}: adding problem, {opts['seq_len']} steps, {len(x_train)} training and "
               f"{len(x_test)} test sequences; accuracy = |error| < {tolerance}")
    return fit(config, model, optimizer, F.mse_loss, train, test, correct=correct, scheduler=scheduler,
               clip_grad_norm=opts["clip"])


def run(config):
    """Trains and evaluates the LSTM; returns the trainer's metrics."""
    return run_cell(config, "lstm")

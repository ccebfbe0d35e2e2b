"""seq-gru: the seq-lstm recipe (the adding problem, see :mod:`lamina.recipes.seq_lstm`) with a
GRU in place of the LSTM; it usually leaves the plateau sooner, so it trains for fewer epochs."""
from .seq_lstm import DEFAULTS as _LSTM_DEFAULTS, QUICK, run_cell  # noqa: F401

DEFAULTS = dict(_LSTM_DEFAULTS, epochs=12)


def run(config):
    """Trains and evaluates the GRU; returns the trainer's metrics."""
    return run_cell(config, "gru")

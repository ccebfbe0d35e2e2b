"""train: one training step (forward, loss, backward, AdamW step) of the recipes' models, lamina
against the same model in PyTorch built from the same weights (NumPy has no counterpart).
Reported in microseconds per step; each record's ``samples`` field gives the batch size, so
samples/s = samples / (us * 1e-6).

Rows: the digits CNN (batch 64 of 1x8x8, cross-entropy); a 2-layer LSTM (input 64, hidden 256,
sequence 100, batch 64, MSE on the last step's linear output); the char-transformer (4 pre-norm
layers, d_model 256, 4 heads, context 256, vocabulary 96, batch 16, cross-entropy over every
position). ``--quick`` shrinks each (batch 8, LSTM sequence 20, transformer context 32).
"""
import numpy as np

from .harness import Case, NotApplicable


def _library(lib):
    if lib == "lamina":
        import lamina
        return lamina
    if lib == "torch":
        import torch
        return torch
    raise NotApplicable(lib)


def _step_case(op, shape, samples, make_model, make_data, loss_name):
    """A Case timing one AdamW training step of ``make_model(lib)`` on ``make_data(rng)`` = (x, y).

    The PyTorch model gets the lamina model's initial weights, so both libraries start from the
    same point and do the same arithmetic."""

    def setup():
        return make_data(np.random.default_rng(0))

    def build(lib, data):
        module = _library(lib)
        import lamina
        from lamina.recipes.models import copy_weights
        lamina.manual_seed(0)
        model = make_model(lamina)
        if lib == "torch":
            model = copy_weights(model, make_model(module), module)
        x, y = (module.from_numpy(a) for a in data)
        loss_fn = getattr(module.nn.functional, loss_name)
        optimizer = module.optim.AdamW(model.parameters(), lr=1e-4)

        def step():
            out = model(x)
            loss = loss_fn(out.reshape(-1, out.shape[-1]) if out.ndim == 3 else out,
                           y.reshape(-1) if out.ndim == 3 else y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return step

    return Case(op, shape, "float32", None, build, setup, {"samples": samples})


def cnn_case(batch):
    from lamina.recipes.models import digits_cnn

    def data(rng):
        return rng.random((batch, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, batch)

    return _step_case("digits-cnn step", f"batch {batch}", batch, digits_cnn, data, "cross_entropy")


def lstm_case(batch, seq, inputs=64, hidden=256, layers=2):
    from lamina.recipes.models import sequence_regressor

    def model(lib):
        return sequence_regressor(lib, "lstm", inputs, hidden, layers)

    def data(rng):
        return rng.standard_normal((batch, seq, inputs), dtype=np.float32), rng.random((batch, 1), dtype=np.float32)

    return _step_case(f"lstm x{layers} h{hidden} step", f"{batch}x{seq}x{inputs}", batch, model, data, "mse_loss")


def transformer_case(batch, context, layers=4, d_model=256, heads=4, vocab=96):
    from lamina.recipes.models import char_transformer

    def model(lib):
        return char_transformer(lib, vocab, context, d_model, layers, heads)

    def data(rng):
        tokens = rng.integers(0, vocab, (batch, context + 1))
        return np.ascontiguousarray(tokens[:, :-1]), np.ascontiguousarray(tokens[:, 1:])

    return _step_case(f"transformer L{layers} d{d_model} step", f"{batch}x{context}", batch, model, data,
                      "cross_entropy")


def cases(quick=False):
    if quick:
        return [cnn_case(8), lstm_case(8, 20), transformer_case(8, 32)]
    return [cnn_case(64), lstm_case(64, 100), transformer_case(16, 256)]

"""The recipes' models, written once against the PyTorch API.

Each builder takes ``lib``, the top-level module of the library to build in (``lamina`` for the
recipes, ``torch`` for the ``train`` benchmark and the lockstep tests, which compare the two
libraries step by step from identical weights: :func:`copy_weights`). Nothing here imports
PyTorch.
"""
import functools

import numpy as np


def digits_mlp(lib, hidden=256, dropout=0.1):
    """8x8 digits as 64 features -> ``hidden`` -> ReLU -> dropout -> 10 logits."""
    nn = lib.nn
    return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 10))


def digits_cnn(lib, channels=(32, 64), hidden=128, dropout=0.1):
    """(N, 1, 8, 8) digits: two 3x3 conv + ReLU + 2x2 max-pool stages (8 -> 4 -> 2 pixels), then
    a hidden linear layer and 10 logits."""
    nn = lib.nn
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * 2 * 2, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 10))


@functools.lru_cache(maxsize=None)
def _classes(lib):
    """The model classes that need a forward of their own, defined once per library."""
    nn = lib.nn

    class SequenceRegressor(nn.Module):
        """A recurrent stack (batch first) whose last time step feeds one linear output."""

        def __init__(self, cell, input_size, hidden_size, num_layers, outputs):
            super().__init__()
            kinds = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
            if cell not in kinds:
                raise ValueError(f"[SequenceRegressor] cell must be one of {', '.join(kinds)}, got {cell!r}")
            self.rnn = kinds[cell](input_size, hidden_size, num_layers, batch_first=True)
            self.head = nn.Linear(hidden_size, outputs)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out[:, -1])

    class CharTransformer(nn.Module):
        """Decoder-only language model: token + learned position embeddings, pre-norm
        Transformer layers under a causal mask, a final LayerNorm and an untied linear head."""

        def __init__(self, vocab_size, context, d_model, n_layers, n_heads, dropout):
            super().__init__()
            self.context = context
            self.tok = nn.Embedding(vocab_size, d_model)
            self.pos = nn.Embedding(context, d_model)
            self.layers = nn.ModuleList(
                nn.TransformerEncoderLayer(d_model, n_heads, 4 * d_model, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
                for _ in range(n_layers))
            self.norm = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab_size)

        def forward(self, idx):
            t = idx.shape[1]
            if t > self.context:
                raise ValueError(f"[CharTransformer] sequence of {t} tokens is longer than the context "
                                 f"({self.context})")
            h = self.tok(idx) + self.pos(lib.arange(t, device=idx.device))
            # additive mask: -inf above the diagonal, so position i attends to positions <= i
            mask = lib.triu(lib.full((t, t), float("-inf"), device=idx.device), diagonal=1)
            for layer in self.layers:
                h = layer(h, src_mask=mask, is_causal=True)
            return self.head(self.norm(h))

    return SequenceRegressor, CharTransformer


def sequence_regressor(lib, cell="lstm", input_size=2, hidden_size=64, num_layers=1, outputs=1):
    """``cell`` ("lstm", "gru" or "rnn") over (N, T, input_size), a linear head on the last step."""
    return _classes(lib)[0](cell, input_size, hidden_size, num_layers, outputs)


def char_transformer(lib, vocab_size, context=128, d_model=128, n_layers=4, n_heads=4, dropout=0.0):
    """A decoder-only Transformer over ``vocab_size`` tokens; (N, T) int64 in, (N, T, vocab) logits out."""
    return _classes(lib)[1](vocab_size, context, d_model, n_layers, n_heads, dropout)


def copy_weights(src, dst, dst_lib):
    """Loads ``src``'s parameters and buffers into ``dst`` (same architecture, either library),
    through NumPy copies; ``dst_lib`` is ``dst``'s library (``lamina`` or ``torch``)."""
    state = {k: dst_lib.from_numpy(np.array(v.detach().cpu().numpy())) for k, v in src.state_dict().items()}
    dst.load_state_dict(state)
    return dst

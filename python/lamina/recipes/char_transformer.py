"""char-transformer: a small decoder-only Transformer language model over characters.

Text: the standard-library sources listed in :data:`lamina.recipes.datasets.STDLIB_FILES`, read
from this Python's ``sysconfig.get_paths()['stdlib']`` (present on every machine with Python),
joined in that order; the first 90% trains, the last 10% validates. The vocabulary is every
character that occurs. Training windows are consecutive, non-overlapping ``context``-character
slices; the model predicts each next character (cross-entropy over every position).

Reported against a bigram baseline on the same split: next-character probabilities counted on
the training text (add-one smoothing), scored on the validation text. Then the model writes
``sample_chars`` characters from a prompt, sampling at ``temperature``.
"""
import numpy as np

import lamina
from lamina.nn import functional as F

from . import datasets, models
from .trainer import fit, prepare

DEFAULTS = {"epochs": 1, "batch_size": 32, "lr": 2e-3, "context": 128, "d_model": 128, "layers": 4, "heads": 4,
            "dropout": 0.0, "weight_decay": 0.01, "text_limit": None, "val_share": 0.1, "temperature": 0.8,
            "sample_chars": 300, "prompt": "def "}
QUICK = {"epochs": 1, "context": 32, "d_model": 32, "layers": 1, "heads": 2, "text_limit": 20000,
         "sample_chars": 40}


def bigram_loss(train_ids, val_ids, vocab_size):
    """Validation cross-entropy (nats per character) of add-one-smoothed bigram counts from training."""
    counts = np.ones((vocab_size, vocab_size))
    np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1.0)
    log_p = np.log(counts / counts.sum(axis=1, keepdims=True))
    return float(-log_p[val_ids[:-1], val_ids[1:]].mean())


def windows(ids, context):
    """(inputs, targets): non-overlapping ``context``-token windows and the same shifted by one."""
    n = (len(ids) - 1) // context
    if n < 1:
        raise ValueError(f"[char-transformer] {len(ids)} characters are too few for one window of {context}")
    x = ids[:n * context].reshape(n, context)
    y = ids[1:n * context + 1].reshape(n, context)
    return x, y


def sample(model, prompt_ids, length, temperature, rng):
    """``length`` token ids drawn one at a time after ``prompt_ids``, from the model's next-token
    distribution at ``temperature`` (lower: closer to the most likely character)."""
    ids = list(prompt_ids)
    model.eval()
    with lamina.no_grad():
        for _ in range(length):
            window = lamina.tensor([ids[-model.context:]], dtype=lamina.int64)
            logits = model(window)[0, -1].numpy().astype(np.float64) / temperature
            p = np.exp(logits - logits.max())
            ids.append(int(rng.choice(len(p), p=p / p.sum())))
    return ids[len(prompt_ids):]


def run(config):
    """Trains the model, compares it with the bigram baseline, prints a sample; returns the
    trainer's metrics plus ``bigram_val_loss`` and ``sample``."""
    prepare(config)
    opts = config.extra
    text = datasets.stdlib_text(limit=opts["text_limit"])
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.array([index[c] for c in text], dtype=np.int64)
    split = int(len(ids) * (1 - opts["val_share"]))
    train_ids, val_ids = ids[:split], ids[split:]
    baseline = bigram_loss(train_ids, val_ids, len(chars))
    context = opts["context"]
    train, val = datasets.loaders(*windows(train_ids, context), *windows(val_ids, context), config.batch_size,
                                  eval_batch_size=config.batch_size)
    model = models.char_transformer(lamina, len(chars), context, opts["d_model"], opts["layers"], opts["heads"],
                                    opts["dropout"])
    optimizer = lamina.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=opts["weight_decay"])
    scheduler = lamina.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr,
                                                     total_steps=config.epochs * len(train), pct_start=0.1)
    vocab = len(chars)

    def loss_fn(logits, y):
        return F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))

    def correct(logits, y):
        return int((logits.argmax(dim=-1) == y).sum().item()), y.numel()

    config.log(f"{config.recipe}: {len(train_ids)} training and {len(val_ids)} validation characters, "
               f"vocabulary {vocab}, {sum(p.numel() for p in model.parameters())} parameters; "
               f"bigram baseline: val loss {baseline:.4f}")
    metrics = fit(config, model, optimizer, loss_fn, train, val, correct=correct, split="val", scheduler=scheduler,
                  clip_grad_norm=1.0)
    config.log(f"val loss {metrics['val_loss']:.4f} nats/char vs bigram baseline {baseline:.4f} "
               f"({baseline - metrics['val_loss']:+.4f})")
    prompt = [index[c] for c in opts["prompt"] if c in index]
    rng = np.random.default_rng(config.seed)
    text_out = opts["prompt"] + "".join(chars[i] for i in sample(model, prompt, opts["sample_chars"],
                                                                   opts["temperature"], rng))
    config.log(f"sample (temperature {opts['temperature']}):\n{text_out}")
    return dict(metrics, bigram_val_loss=baseline, sample=text_out)

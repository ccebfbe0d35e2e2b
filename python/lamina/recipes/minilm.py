"""minilm: transfer learning from the pretrained all-MiniLM-L6-v2 sentence encoder.

The data is ``data/sentences.tsv`` (225 short review sentences, written for this project,
labelled positive / negative / neutral across mixed topics), split 70/30 per class. Before any
training, the pretrained embeddings are scored by a nearest-centroid classifier (each test
sentence takes the class whose mean training embedding is closest in cosine). Then the encoder
is fine-tuned: the embeddings and the lower layers stay frozen, the top ``trainable_layers``
layers and a new linear head on their mean-pooled output are trained with AdamW and a one-cycle
schedule (``lr`` is the peak for the pretrained layers, which only need a nudge; the new head
peaks at the larger ``head_lr``), and the test accuracy is reported again.

Frozen layers give the same output at every epoch, so they run once: the training loop sees,
for each sentence, the frozen part's hidden states with the attention mask appended as one
more feature channel ((S, 384 + 1) per sentence), and only the trainable top runs per step. That
makes an epoch cost a third of a full forward and backward pass. The checkpoint therefore holds
what was trained: the top layers (``layers.N.*``, in the pretrained model's naming below that
prefix) and the head (``head.*``).

Needs the ``minilm`` extra (pretrained files and tokenizer) besides the ``examples`` one.
"""
import os

import numpy as np

import lamina
from lamina import nn
from lamina.models.minilm import MiniLM, attention_mask_for, mean_pool
from lamina.nn import functional as F

from . import datasets
from ._digits import correct
from .trainer import evaluate, fit, prepare

DATA = os.path.join(os.path.dirname(__file__), "data", "sentences.tsv")
DEFAULTS = {"epochs": 5, "batch_size": 16, "lr": 3e-4, "head_lr": 5e-3, "weight_decay": 0.01,
            "trainable_layers": 2, "dropout": 0.1, "test_size": 0.3, "split_seed": 0, "per_class": None}
# A handful of sentences per class and one epoch: exercises every step in seconds.
QUICK = {"epochs": 1, "per_class": 8}


def load_sentences(path=DATA):
    """``(sentences, labels, classes)``: the sentences, their int64 class indices and the class
    names in order of first appearance, from a ``label<TAB>sentence`` file (``#`` comments and a
    ``label sentence`` header line are skipped)."""
    sentences, names = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#") or line == "label\tsentence":
                continue
            label, sep, text = line.partition("\t")
            if not sep or not text:
                raise ValueError(f"[minilm] {path}:{n}: expected 'label<TAB>sentence', got {line!r:.80}")
            names.append(label)
            sentences.append(text)
    classes = list(dict.fromkeys(names))
    return sentences, np.array([classes.index(c) for c in names], dtype=np.int64), classes


def stratified_split(labels, test_size, seed, per_class=None):
    """Train and test indices holding ``test_size`` of every class in the test part (at least
    one), after keeping only ``per_class`` examples of each class when given."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))[:per_class]
        k = max(1, int(round(test_size * len(idx))))
        test.extend(idx[:k])
        train.extend(idx[k:])
    return np.sort(train), np.sort(test)


def nearest_centroid_accuracy(train_emb, train_y, test_emb, test_y):
    """Accuracy of assigning each test embedding to the class whose mean normalised training
    embedding has the largest cosine similarity with it."""
    classes = np.unique(train_y)
    centroids = np.stack([train_emb[train_y == c].mean(0) for c in classes])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    return float((classes[np.argmax(test_emb @ centroids.T, axis=1)] == test_y).mean())


def frozen_features(encoder, sentences, frozen_layers, batch_size=64):
    """The output of the embeddings and the first ``frozen_layers`` encoder layers for every
    sentence, padded to the longest, with the 0/1 attention mask appended as a last channel:
    float32 (N, S, hidden + 1)."""
    ids, mask = encoder.tokenize(sentences)
    out = []
    encoder.eval()
    with lamina.no_grad():
        for start in range(0, len(sentences), batch_size):
            i, m = ids[start:start + batch_size], mask[start:start + batch_size]
            h = encoder.encoder(encoder.embeddings(i), attention_mask_for(m), end=frozen_layers)
            out.append(np.concatenate([h.numpy(), m.numpy()[..., None].astype(np.float32)], axis=-1))
    return np.concatenate(out)


class SentenceClassifier(nn.Module):
    """The trainable top of the encoder plus a linear head: input (B, S, hidden + 1) as made by
    :func:`frozen_features`, output (B, classes) logits."""

    def __init__(self, layers, hidden_size, num_classes, dropout):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        hidden, mask = x[..., :-1], x[..., -1]
        attn_mask = attention_mask_for(mask)
        for layer in self.layers:
            hidden = layer(hidden, attn_mask)
        return self.head(self.dropout(mean_pool(hidden, mask)))


def run(config):
    """Scores the pretrained embeddings, fine-tunes the top of the encoder, and returns the
    trainer's metrics plus ``centroid_accuracy`` (pretrained embeddings, nearest centroid),
    ``untrained_head_accuracy`` and ``classes``."""
    prepare(config)
    extra = config.extra
    sentences, labels, classes = load_sentences()
    train_idx, test_idx = stratified_split(labels, extra["test_size"], extra["split_seed"], extra["per_class"])
    train_s, test_s = [sentences[i] for i in train_idx], [sentences[i] for i in test_idx]
    y_train, y_test = labels[train_idx], labels[test_idx]
    encoder = MiniLM.from_pretrained()
    n_layers = encoder.config.num_hidden_layers
    trainable = extra["trainable_layers"]
    if not 0 <= trainable <= n_layers:
        raise ValueError(f"[minilm] trainable_layers must be between 0 and {n_layers}, got {trainable}")
    config.log(f"{config.recipe}: {len(train_s)} training and {len(test_s)} test sentences, classes "
               f"{', '.join(classes)}; layers {n_layers - trainable}..{n_layers - 1} and a new head are trained")

    centroid = nearest_centroid_accuracy(encoder.encode(train_s), y_train, encoder.encode(test_s), y_test)
    config.log(f"before fine-tuning: nearest-centroid test accuracy on the pretrained embeddings "
               f"{100 * centroid:.2f}%")

    features = frozen_features(encoder, train_s + test_s, n_layers - trainable)
    x_train, x_test = features[:len(train_s)], features[len(train_s):]
    train, test = datasets.loaders(x_train, y_train, x_test, y_test, config.batch_size)
    model = SentenceClassifier(encoder.encoder.layer[n_layers - trainable:], encoder.config.hidden_size,
                               len(classes), extra["dropout"])
    _, untrained = evaluate(model, test, F.cross_entropy, correct)
    optimizer = lamina.optim.AdamW([{"params": list(model.layers.parameters()), "lr": config.lr},
                                    {"params": list(model.head.parameters()), "lr": extra["head_lr"]}],
                                   lr=config.lr, weight_decay=extra["weight_decay"])
    scheduler = lamina.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[config.lr, extra["head_lr"]],
                                                     total_steps=config.epochs * len(train))
    metrics = fit(config, model, optimizer, F.cross_entropy, train, test, correct=correct, scheduler=scheduler)
    config.log(f"test accuracy: {100 * centroid:.2f}% before fine-tuning (nearest centroid), "
               f"{100 * metrics['test_accuracy']:.2f}% after")
    metrics.update(centroid_accuracy=centroid, untrained_head_accuracy=untrained, classes=classes)
    return metrics

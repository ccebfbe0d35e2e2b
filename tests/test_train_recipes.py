"""``python -m lamina train``: every recipe runs end to end in its --quick configuration through
the CLI entry function (metrics printed, checkpoint loads back into the model, PNG written);
unknown recipes and missing optional dependencies give clear errors.

The accuracy targets of the real digits configurations (CNN >= 98%, MLP >= 96%) take longer
than a test should on a shared 2-core machine; they run when LAMINA_TRAIN_TARGETS=1 is set.
"""
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import lamina
from lamina import recipes
from lamina.__main__ import main

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

QUICK_RECIPES = ["digits-mlp", "digits-cnn", "seq-lstm", "seq-gru", "char-transformer"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def train(capsys, *args):
    rc = main(["train", *args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("name", QUICK_RECIPES)
def test_recipe_runs_end_to_end(name, tmp_path, capsys):
    out_dir = tmp_path / "run"
    rc, out, err = train(capsys, name, "--quick", "--threads", "1", "--seed", "3", "--epochs", "2",
                         "--out", str(out_dir))
    assert rc == 0, err
    split = "val" if name == "char-transformer" else "test"
    for text in ("epoch   1/2", "epoch   2/2", "train loss", f"{split} loss", f"{split} acc", "samples/s",
                 "checkpoint:", "curves:"):
        assert text in out, (text, out)
    # the checkpoint holds model + optimiser state + epoch, and loads back into the recipe's model
    ckpt = lamina.load(out_dir / "checkpoint.safetensors")
    assert ckpt["epoch"] == 2 and ckpt["recipe"] == name
    assert ckpt["optimizer"]["state"] and ckpt["optimizer"]["param_groups"]
    for value in ckpt["model"].values():
        assert isinstance(value, lamina.Tensor) and np.isfinite(value.numpy()).all()
    assert (out_dir / "curves.png").read_bytes()[:8] == PNG_MAGIC
    assert not [p for p in os.listdir(out_dir) if p.endswith(".tmp")]


def test_checkpoint_restores_the_model(tmp_path):
    metrics = recipes.run("digits-mlp", quick=True, out=tmp_path, threads=1, quiet=True)
    ckpt = lamina.load(metrics["checkpoint"])
    from lamina.recipes import models
    model = models.digits_mlp(lamina)
    model.load_state_dict(ckpt["model"])
    x = lamina.from_numpy(np.random.default_rng(0).random((5, 64), dtype=np.float32))
    model.eval()
    assert model(x).shape == (5, 10)
    optimizer = lamina.optim.AdamW(model.parameters())
    optimizer.load_state_dict(ckpt["optimizer"])
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and len(metrics["history"]) == 1


def test_quiet_prints_nothing(tmp_path, capsys):
    rc, out, err = train(capsys, "digits-mlp", "--quick", "--quiet", "--threads", "1", "--out", str(tmp_path))
    assert rc == 0 and out == "" and err == ""


def test_char_transformer_reports_bigram_and_sample(tmp_path):
    metrics = recipes.run("char-transformer", quick=True, out=tmp_path, threads=1, quiet=True)
    assert 0 < metrics["bigram_val_loss"] < 5
    assert metrics["sample"].startswith("def ") and len(metrics["sample"]) == len("def ") + 40


def test_unknown_recipe_lists_the_known_ones(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "no-such-recipe"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "unknown recipe 'no-such-recipe'" in err
    for name in QUICK_RECIPES:
        assert name in err
    with pytest.raises(recipes.UnknownRecipe, match="available: .*digits-cnn"):
        recipes.load("no-such-recipe")


def test_list_and_default(capsys):
    assert main(["train", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in QUICK_RECIPES)
    assert recipes.DEFAULT_RECIPE == "digits-cnn"
    assert main([]) == 0 and capsys.readouterr().out.startswith("lamina ")


def test_bad_options_are_refused(capsys):
    for args in (["--epochs", "0"], ["--lr", "-1"], ["--device", "tpu"]):
        with pytest.raises(SystemExit):
            main(["train", "digits-mlp", *args])
    capsys.readouterr()
    with pytest.raises(TypeError, match="unknown option"):
        recipes.make_config("digits-mlp", momentum=0.9)


def test_make_config_layers_defaults_quick_and_overrides(tmp_path):
    config = recipes.make_config("seq-lstm", quick=True, epochs=3, lr=None, out=tmp_path)
    assert config.epochs == 3 and config.lr == 5e-3 and config.extra["seq_len"] == 12
    assert recipes.make_config("seq-gru").out == Path("runs/seq-gru")


def test_missing_optional_dependency_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # makes `import tqdm` raise ImportError
    rc, out, err = train(capsys, "digits-mlp", "--quick", "--threads", "1", "--out", str(tmp_path))
    assert rc == 1
    assert 'pip install "lamina[examples]"' in err and "tqdm" in err


def test_cuda_without_a_gpu_is_a_clear_error(tmp_path):
    if lamina.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        recipes.run("digits-mlp", quick=True, out=tmp_path, device="cuda", quiet=True)


@pytest.mark.skipif(not os.environ.get("LAMINA_TRAIN_TARGETS"),
                    reason="real digits configurations take minutes on a shared 2-core machine; "
                           "set LAMINA_TRAIN_TARGETS=1 to check the accuracy targets")
@pytest.mark.parametrize("name, target", [("digits-cnn", 0.98), ("digits-mlp", 0.96)])
@pytest.mark.parametrize("seed", [0, 1])
def test_digits_accuracy_targets(name, target, seed, tmp_path):
    metrics = recipes.run(name, out=tmp_path, seed=seed, quiet=True)
    assert metrics["test_accuracy"] >= target, metrics["test_accuracy"]

"""Model folders (model.safetensors, config.json, a model card) on disk and from the Hugging
Face Hub's cache, offline: they sample what the run samples, and anything damaged, foreign or
newer is one line, with nothing unpickled."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest
from test_hardening import assert_one_line_error, invoke, snapshot

import textwgan
from textwgan.training import train


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train(None, out=tmp_path_factory.mktemp("mf") / "run", preset="tiny", iters=6,
                 eval_every=3, save_every=3, diag_every=0, device="cpu", ema=0.9)


@pytest.fixture
def folder(run, tmp_path):
    r = invoke("export", run, "--out", tmp_path / "model")
    assert r.exit_code == 0, r.output
    return tmp_path / "model"


def test_a_folder_copied_elsewhere_samples_what_the_run_samples(run, folder, tmp_path):
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json",
                                                         "model.safetensors"]
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(folder, moved)
    shutil.rmtree(folder)
    gen = textwgan.load_generator(moved)
    assert gen.sample(20, seed=5) == textwgan.load_generator(run).sample(20, seed=5)
    assert gen.sample(4, rerank=3) == textwgan.load_generator(run).sample(4, rerank=3)
    card = (moved / "README.md").read_text(encoding="utf-8")
    assert "JS-4" in card and "textwgan-eval|" in card and "## Samples" in card
    config = json.loads((moved / "config.json").read_text())
    assert config["format"] == "textwgan.model" and config["corpus"]["fingerprint"]
    r = invoke("sample", "-n", "3", "--seed", "5", "--checkpoint", moved)
    assert r.exit_code == 0 and r.stdout.splitlines() == gen.sample(3, seed=5)


def test_no_critic_gives_a_smaller_folder_that_cannot_rerank(run, tmp_path):
    assert invoke("export", run, "--out", tmp_path / "small", "--no-critic").exit_code == 0
    gen = textwgan.load_generator(tmp_path / "small")
    assert gen.critic is None
    with pytest.raises(textwgan.InputError, match="holds no critic"):
        gen.sample(2, rerank=2)


class Boom:
    """A pickle that runs code when loaded."""

    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_a_pickle_posing_as_weights_is_refused_and_never_runs(folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (folder / "model.safetensors").write_bytes(pickle.dumps(Boom()))
    r = invoke("sample", "-n", "2", "--checkpoint", folder)
    assert_one_line_error(r, 2, "not a readable safetensors file", "nothing in it was run")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("damage", ["no weights", "no config", "truncated weights",
                                    "newer format", "foreign config"])
def test_a_damaged_or_newer_folder_is_one_line(folder, damage):
    config = json.loads((folder / "config.json").read_text())
    if damage == "no weights":
        (folder / "model.safetensors").unlink()
    elif damage == "no config":
        (folder / "config.json").unlink()
    elif damage == "truncated weights":
        data = (folder / "model.safetensors").read_bytes()
        (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif damage == "newer format":
        (folder / "config.json").write_text(json.dumps(config | {"format_version": 99}))
    else:
        (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    r = invoke("sample", "-n", "2", "--checkpoint", folder)
    assert r.exit_code == 2 and r.output.count("error:") == 1, r.output
    assert "Traceback" not in r.output


def test_export_never_replaces_a_folder_the_user_made(run, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    before = snapshot(tmp_path)
    assert_one_line_error(invoke("export", run, "--out", mine), 2,
                          "not a model folder made by textwgan")
    assert snapshot(tmp_path) == before


def hub_cache(root, repo: str, files_from, commit: str = "c" * 40):
    """A cache laid out as huggingface_hub lays it out: refs/main -> snapshots/<commit>/."""
    base = root / f"models--{repo.replace('/', '--')}"
    snap = base / "snapshots" / commit
    snap.mkdir(parents=True)
    for f in files_from.iterdir():
        shutil.copy(f, snap / f.name)
    (base / "refs").mkdir()
    (base / "refs" / "main").write_text(commit)
    return snap


def offline_hub(monkeypatch, cache):
    """huggingface_hub offline, with its cache here (it reads both settings once, at import)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))


def test_the_hub_cache_serves_a_model_offline(folder, run, tmp_path, monkeypatch):
    offline_hub(monkeypatch, tmp_path / "hub")
    hub_cache(tmp_path / "hub", "someone/tiny-gan", folder)
    gen = textwgan.load_generator("hf:someone/tiny-gan")
    assert gen.sample(5, seed=1) == textwgan.load_generator(run).sample(5, seed=1)
    r = invoke("sample", "-n", "2", "--checkpoint", "hf:someone/tiny-gan")
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 2


def test_hub_errors_a_user_meets_are_one_line(folder, tmp_path, monkeypatch):
    offline_hub(monkeypatch, tmp_path / "hub")
    foreign = tmp_path / "foreign"
    shutil.copytree(folder, foreign)  # the same files, but another library's config
    (foreign / "config.json").write_text(json.dumps({"model_type": "bert"}))
    hub_cache(tmp_path / "hub", "someone/bert", foreign)
    for spec, says in (("hf:someone/missing", "not in the local cache"),
                       ("hf:someone/bert", "is not a textwgan model"),
                       ("hf:no-owner", "expected hf:OWNER/NAME")):
        assert_one_line_error(invoke("sample", "-n", "2", "--checkpoint", spec), 2, says)

"""Model folders (model.safetensors, config.json, a model card) on disk and from the Hugging
Face Hub's cache, offline: they sample what the run samples, and anything damaged, foreign or
newer is one line, with nothing unpickled."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest
from conftest import assert_one_line_error, invoke, snapshot

import textwgan
from textwgan.training import train

pytestmark = pytest.mark.slow  # trains, runs commands end to end, or starts processes


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
    assert_one_line_error(r, 2, "SHA-256", "nothing in it was run")
    _unsealed(folder)  # an older export, which recorded no checksum: the reader refuses it
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
                       ("hf:no-owner", "expected hf:OWNER/NAME"),
                       ("hf:", "not a Hub model name"), ("hf:a/b/c", "not a Hub model name"),
                       ("hf:a b/c", "not a Hub model name"), ("hf:../x", "not a Hub model name"),
                       ("hf:someone/tiny@", "the revision after '@'")):
        assert_one_line_error(invoke("sample", "-n", "2", "--checkpoint", spec), 2, says)


# --------------------------------------------------------------------------------------------
# A model folder is never a run, a corpus, or a file to write over


def test_train_into_a_model_folder_is_refused_and_the_folder_still_samples(folder, tmp_path):
    expected = textwgan.load_generator(folder).sample(4, seed=2)
    before = snapshot(folder)
    for args in (("train", "--preset", "tiny", "--iters", "2", "--out", folder),
                 ("train", "--resume", folder),
                 ("prepare", "corpora/coco-text/train.txt", "--out", folder)):
        r = invoke(*args)
        assert_one_line_error(r, 2, str(folder))
        assert snapshot(folder) == before, args
    assert textwgan.load_generator(folder).sample(4, seed=2) == expected


def test_outputs_never_replace_a_model_folder_file(folder, run):
    before = snapshot(folder)
    for name in ("README.md", "config.json", "model.safetensors"):
        r = invoke("sample", "-n", "2", "--checkpoint", run, "--out", folder / name)
        assert_one_line_error(r, 2, "belongs to the model folder")
    assert snapshot(folder) == before


@pytest.mark.parametrize("edit", ["README.md", "config.json", "model.safetensors"])
def test_export_keeps_a_folder_whose_files_changed_since(folder, run, edit):
    path = folder / edit
    if edit == "config.json":
        config = json.loads(path.read_text())
        path.write_text(json.dumps(config | {"description": "mine"}, indent=1))
    elif edit == "README.md":
        path.write_text(path.read_text() + "\nMy notes on this model.\n")
    else:
        data = bytearray(path.read_bytes())
        data[-3] ^= 0x10
        path.write_bytes(bytes(data))
    before = snapshot(folder)
    assert_one_line_error(invoke("export", run, "--out", folder), 2, edit, "changed since")
    assert snapshot(folder) == before


def test_export_replaces_its_own_unchanged_export_but_never_its_source(folder, run):
    first = snapshot(folder)
    r = invoke("export", run, "--out", folder)
    assert r.exit_code == 0, r.output
    assert snapshot(folder)["model.safetensors"] == first["model.safetensors"]
    before = snapshot(folder)
    assert_one_line_error(invoke("export", folder, "--out", folder), 2,
                          "is where the model being exported comes from")
    assert snapshot(folder) == before


# --------------------------------------------------------------------------------------------
# Weights that would load wrong are refused


def _rewrite_weights(folder, change):
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(folder / "model.safetensors"))
    change(tensors)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "textwgan.model"})


def test_a_flipped_bit_in_the_weights_is_refused(folder):
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[len(data) // 2] ^= 0x01  # inside a weight: still a readable safetensors file
    (folder / "model.safetensors").write_bytes(bytes(data))
    r = invoke("sample", "-n", "2", "--checkpoint", folder)
    assert_one_line_error(r, 2, "model.safetensors", "SHA-256")


def _unsealed(folder):
    """The folder as an older export wrote it: no checksums, so only the contents protect."""
    config = json.loads((folder / "config.json").read_text())
    config.pop("checksums")
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("how, says", [
    ("nan", "NaN or infinite"), ("int32", "of type int32"), ("complex", "of type complex64")])
def test_weights_that_are_not_finite_floats_are_refused(folder, how, says):
    import torch

    def change(tensors):
        key = next(k for k in tensors if k.startswith("generator.") and "weight" in k)
        if how == "nan":
            tensors[key][0].fill_(float("nan"))
        elif how == "int32":
            tensors[key] = tensors[key].to(torch.int32)
        else:
            tensors[key] = tensors[key].to(torch.complex64)

    _rewrite_weights(folder, change)
    _unsealed(folder)
    r = invoke("sample", "-n", "2", "--checkpoint", folder)
    assert_one_line_error(r, 2, says)
    assert "Warning" not in r.output


@pytest.mark.parametrize("where", ["metrics", "evaluation"])
def test_figures_holding_text_are_one_line(folder, where):
    config = json.loads((folder / "config.json").read_text())
    if where == "metrics":
        config["metrics"][-1]["js4"] = "good"
    else:
        config["evaluation"] = {"js4": "good", "n": 640}
    (folder / "config.json").write_text(json.dumps(config))
    for args in (("sample", "-n", "2", "--checkpoint", folder),
                 ("export", folder, "--out", folder.parent / "again")):
        assert_one_line_error(invoke(*args), 2, "where a number belongs")


def test_the_card_says_what_the_folder_holds_and_which_step_was_scored(run, tmp_path):
    # The run saved at step 6 with its last evaluation at 6; a copy whose checkpoint is a
    # later save between evaluations must not pass that evaluation off as its weights'.
    import torch

    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    ckpt["step"] = 7
    torch.save(ckpt, tmp_path / "later.pt")
    assert invoke("export", tmp_path / "later.pt", "--out", tmp_path / "later").exit_code == 0
    card = (tmp_path / "later" / "README.md").read_text()
    assert "evaluation at step 6, before these weights of step 7" in card
    # An export without a critic, exported again "with its critic", holds none: said so.
    assert invoke("export", run, "--out", tmp_path / "g.pt", "--no-critic").exit_code == 0
    assert invoke("export", tmp_path / "g.pt", "--out", tmp_path / "again").exit_code == 0
    card = (tmp_path / "again" / "README.md").read_text()
    assert "critic left out" in card and "included" not in card
    assert textwgan.load_generator(tmp_path / "again").critic is None


@pytest.mark.slow
def test_a_full_destination_is_one_line_and_leaves_nothing(run, tmp_path):
    import resource
    import subprocess
    import sys

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    r = subprocess.run([sys.executable, "-m", "textwgan", "export", str(run), "--out",
                        str(tmp_path / "model")], capture_output=True, text=True,
                       preexec_fn=limit, timeout=120)
    assert r.returncode == 1 and r.stderr.count("error:") == 1, r.stderr
    assert "could not write" in r.stderr and "nothing was written" in r.stderr
    assert ".tmp" not in r.stderr and "internal error" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []

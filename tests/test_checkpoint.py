"""The checkpoint: what a save keeps (rotation, best.pt), a failed save that keeps the previous
file, and the format versions it reads (newer refused, version 1 upgraded)."""

from __future__ import annotations

import pytest
import torch
from conftest import fit, tiny

from textwgan.checkpoint import VERSION, load_checkpoint, save_checkpoint
from textwgan.config import get_preset
from textwgan.corpus import Corpus
from textwgan.errors import InputError, WriteError


def test_checkpoint_rotation_keeps_last_k_and_best(small_corpus, tmp_path):
    corpus = Corpus(small_corpus)
    run = fit(corpus, tiny(12, keep_last=2), tmp_path / "r")
    assert sorted(p.name for p in run.glob("step_*.pt")) == ["step_0000010.pt",
                                                            "step_0000012.pt"]
    best = load_checkpoint(run / "best.pt")
    js4 = {m["step"]: m["js4"] for m in load_checkpoint(run / "checkpoint.pt")["metrics"]}
    assert best["step"] == min(js4, key=js4.get)


def test_full_disk_during_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"format": "textwgan.checkpoint", "version": VERSION, "step": 1}, path)
    before = path.read_bytes()

    def full_disk(obj, f, *a, **kw):
        f.write(b"partial bytes")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(WriteError, match="No space left on device; free some space.*the "
                                         "previous file is kept"):
        save_checkpoint({"format": "textwgan.checkpoint", "version": VERSION, "step": 2}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temporary left


def test_newer_format_version_is_refused(tmp_path):
    save_checkpoint({"format": "textwgan.checkpoint", "version": VERSION + 1},
                    tmp_path / "c.pt")
    with pytest.raises(InputError, match="newer"):
        load_checkpoint(tmp_path / "c.pt")
    torch.save({"model": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not a textwgan checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_a_version_1_checkpoint_resumes_in_todays_form(small_corpus, tmp_path):
    # Version 1 files had no training time (it came from the last evaluation) and kept every
    # GPU's RNG state in a list; loading brings them to version 2, and nothing else reads v1.
    run = fit(small_corpus, get_preset("tiny").with_overrides(iters=10), tmp_path / "r")
    path = run / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=True)
    ckpt["version"] = 1
    del ckpt["elapsed"]
    ckpt["metrics"] = [{"step": 0, "time": 1.5}, {"step": 10, "time": 4.25}]
    ckpt["rng"]["cuda"] = [torch.arange(3, dtype=torch.uint8), torch.zeros(3, dtype=torch.uint8)]
    torch.save(ckpt, path)
    loaded = load_checkpoint(path)
    assert loaded["version"] == 2 and loaded["elapsed"] == 4.25
    assert torch.equal(loaded["rng"]["cuda"], torch.arange(3, dtype=torch.uint8))
    ckpt["version"] = 2  # a version 2 file must carry its own training time
    torch.save(ckpt, path)
    with pytest.raises(InputError, match="has no elapsed"):
        load_checkpoint(path)


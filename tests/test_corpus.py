"""Corpus preparation on real files, sources of every kind, caching, atomicity, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import BUNDLED, COCO_TEST, COCO_TRAIN, ROOT, held_out, shared, sorted_rows

from textwgan.charset import PAD
from textwgan.corpus import Corpus
from textwgan.errors import InputError, TextWGANError
from textwgan.preparation import prepare, resolve_corpus


def meta_of(sources, out, **settings) -> dict:
    return prepare(sources, out, **settings).meta


def wc_lines_minus_empty(path: Path) -> int:
    """`wc -l` counts newlines; a last line without one is still a line; drop blank lines."""
    data = path.read_bytes()
    newlines = data.count(b"\n")
    lines = newlines + (0 if data.endswith(b"\n") or not data else 1)
    blank = sum(1 for line in data.split(b"\n")[:lines] if not line.strip())
    return lines - blank


@pytest.mark.parametrize("train,held", [
    (["coco_captions/image_coco.txt"], "coco_captions/test_coco.txt"),
    (["billion_word_sample/1b_benchmark.dev.tokens",
      "billion_word_sample/1b_benchmark.test.tokens"],
     "billion_word_sample/news.en.heldout-00000-of-00050"),
])
def test_prepare_real_corpora_counts_match_wc(tmp_path, train, held):
    train_paths = [shared(p) for p in train]
    held_path = shared(held)
    meta = meta_of([str(p) for p in train_paths], tmp_path / "c", heldout_file=str(held_path))
    expect_train = sum(wc_lines_minus_empty(p) for p in train_paths)
    expect_held = wc_lines_minus_empty(held_path)
    c = meta["counts"]
    assert (c["train"], c["heldout"] + c["validation"]) == (expect_train, expect_held)
    assert 0.15 < c["validation"] / expect_held < 0.25  # the default fifth, set apart
    corpus = Corpus(tmp_path / "c")
    assert corpus.train.shape == (expect_train, 32)
    assert held_out(corpus).shape == (expect_held, 32)
    # Order is kept: the first and last training rows are the files' first and last lines, cut.
    first = train_paths[0].read_text(encoding="utf-8").split("\n")[0].strip()
    last = [x for x in train_paths[-1].read_text(encoding="utf-8").split("\n") if x.strip()][-1]
    assert corpus.decode(corpus.train[:1])[0] == first[:32]
    assert corpus.decode(corpus.train[-1:])[0] == last.strip()[:32]
    assert c["truncated"] == sum(
        1 for p in [*train_paths, held_path]
        for x in p.read_text(encoding="utf-8").split("\n") if len(x.strip()) > 32)


def test_bundled_corpus_is_reproduced_by_prepare(tmp_path):
    prepare([str(COCO_TRAIN)], tmp_path / "coco", heldout_file=str(COCO_TEST))
    fresh, bundled = Corpus(tmp_path / "coco"), Corpus(BUNDLED)
    assert fresh.charset == bundled.charset
    assert np.array_equal(fresh.train, bundled.train)
    assert np.array_equal(fresh.heldout, bundled.heldout)
    assert np.array_equal(fresh.validation, bundled.validation)
    assert fresh.meta["fingerprint"] == bundled.meta["fingerprint"]
    # The repository's corpora/coco is the packaged corpus, where users look for it.
    assert (ROOT / "corpora" / "coco").resolve() == BUNDLED.resolve()


def test_fraction_split_is_a_deterministic_partition(tmp_path):
    lines = [f"line number {i}" for i in range(1000)]
    src = tmp_path / "t.txt"
    src.write_text("\n".join(lines), encoding="utf-8")
    prepare([str(src)], tmp_path / "a", heldout_fraction=0.2, seed=3)
    prepare([str(src)], tmp_path / "b", heldout_fraction=0.2, seed=3)
    a, b = Corpus(tmp_path / "a"), Corpus(tmp_path / "b")
    assert np.array_equal(a.train, b.train) and np.array_equal(a.heldout, b.heldout)
    assert np.array_equal(a.validation, b.validation)
    assert 120 < len(held_out(a)) < 280  # about 20 %
    together = sorted(a.decode(a.train) + a.decode(held_out(a)))
    assert together == sorted(x[:32] for x in lines)


def test_charset_comes_from_training_lines_only(tmp_path):
    # Characters that occur only in held-out lines must not enter the charset: they are
    # unknown to the model, and counting them would leak the held-out split.
    lines = [f"plain line {i}" for i in range(400)] + [f"Qz line {i}" for i in range(4)]
    src = tmp_path / "t.txt"
    src.write_text("\n".join(lines), encoding="utf-8")
    held = np.random.default_rng(0).random(len(lines)) < 0.5
    corpus = prepare([str(src)], tmp_path / "c", heldout_fraction=0.5, seed=0)
    train_chars = {ch for line, h in zip(lines, held, strict=True) if not h for ch in line[:32]}
    assert set(corpus.charset.chars) == train_chars
    assert corpus.meta["counts"]["distinct_chars"] == len(train_chars)


def test_normalization_strip_bom_crlf_and_lone_cr(tmp_path):
    src = tmp_path / "t.txt"
    src.write_bytes("\ufeff  ﬁne Ⅻ\r\nSecond LINE\rthird\n\n   \nlast".encode())
    (tmp_path / "h.txt").write_text("held\n", encoding="utf-8")
    meta = meta_of([str(src)], tmp_path / "c", heldout_file=str(tmp_path / "h.txt"),
                   lowercase=True)
    c = Corpus(tmp_path / "c")
    assert c.decode(c.train) == ["fine xii", "second line", "third", "last"]
    assert meta["counts"]["empty"] == 2 and meta["counts"]["lines_read"] == 7
    assert meta["normalization"] == {"unicode": "NFKC", "lowercase": True, "strip": True}


def test_folder_source_reads_all_text_files_sorted(tmp_path):
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "b.txt").write_text("bravo\n", encoding="utf-8")
    (tmp_path / "src" / "sub" / "a.txt").write_text("alpha\n", encoding="utf-8")
    (tmp_path / "src" / ".hidden").write_text("secret\n", encoding="utf-8")
    (tmp_path / "src" / "held.txt").write_text("held\n", encoding="utf-8")
    (tmp_path / "h.txt").write_text("kept apart\n", encoding="utf-8")
    corpus = prepare([str(tmp_path / "src")], tmp_path / "c",
                     heldout_file=str(tmp_path / "h.txt"))
    assert corpus.meta["sources"] == ["b.txt", "held.txt", "a.txt"]
    assert corpus.decode(corpus.train) == ["bravo", "held", "alpha"]


def test_hf_source_from_local_files_matches_text_file(tmp_path):
    pytest.importorskip("datasets")
    lines = COCO_TRAIN.read_text(encoding="utf-8").splitlines()[:300]
    ds_dir = tmp_path / "ds"
    ds_dir.mkdir()
    with open(ds_dir / "train.jsonl", "w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps({"text": line, "id": 1}) + "\n")
    (tmp_path / "plain.txt").write_text("\n".join(lines), encoding="utf-8")
    hf = prepare([f"hf:{ds_dir}"], tmp_path / "hf", heldout_fraction=0.1, seed=0)
    txt = prepare([str(tmp_path / "plain.txt")], tmp_path / "txt", heldout_fraction=0.1, seed=0)
    assert np.array_equal(hf.train, txt.train) and np.array_equal(hf.heldout, txt.heldout)
    assert hf.meta["sources"] == [f"hf:{ds_dir}"]


def test_hf_sources_without_the_datasets_extra_say_how_to_get_it(tmp_path, monkeypatch):
    import sys

    from textwgan.errors import InputError

    monkeypatch.setitem(sys.modules, "datasets", None)  # what an install without [hf] has
    with pytest.raises(InputError, match=r"pip install 'textwgan\[hf\]'"):
        prepare(["hf:wikitext:wikitext-2-raw-v1"], tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_hf_saved_to_disk_and_bad_spec(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"caption": ["one dog", "two cats", "three birds"]}).save_to_disk(
        str(tmp_path / "saved"))
    (tmp_path / "h.txt").write_text("held\n", encoding="utf-8")
    meta = meta_of([f"hf:{tmp_path / 'saved'}"], tmp_path / "c",
                   heldout_file=str(tmp_path / "h.txt"))
    assert meta["counts"]["train"] == 3  # the one string column is used
    with pytest.raises(InputError, match="could not load"):
        prepare([f"hf:{tmp_path / 'nothing-here'}"], tmp_path / "d")
    with pytest.raises(InputError, match="expected hf:NAME"):
        prepare(["hf:"], tmp_path / "d")


def test_train_caches_prepared_text_by_fingerprint(tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("\n".join(f"sentence {i}" for i in range(100)), encoding="utf-8")
    logs = []
    c1 = resolve_corpus(str(src), log=logs.append)
    c2 = resolve_corpus(str(src), log=logs.append)
    assert c1.path == c2.path and logs[0].startswith("preparing") and logs[1].startswith("reusing")
    src.write_text("\n".join(f"changed {i}" for i in range(100)), encoding="utf-8")
    c3 = resolve_corpus(str(src), log=logs.append)
    assert c3.path != c1.path and logs[2].startswith("preparing")
    assert resolve_corpus(None).path == BUNDLED
    assert resolve_corpus(str(c3.path)).path == c3.path  # a corpus folder is used as it is


def test_a_prepared_corpus_refuses_other_seq_len_or_lowercase(tmp_path):
    with pytest.raises(InputError, match="prepared with seq_len 32"):
        resolve_corpus(str(BUNDLED), seq_len=64)
    with pytest.raises(InputError, match="prepared with lowercase False"):
        resolve_corpus(None, lowercase=True)
    assert resolve_corpus(None, seq_len=32, lowercase=False).path == BUNDLED  # agreeing: fine


@pytest.mark.parametrize("content,match", [
    (None, "no such file"),
    (b"", "no non-empty lines"),
    (b"\n  \n\t\n", "no non-empty lines"),
    (b"\x00\x01\x02binary\x00", "binary"),
])
def test_bad_sources_give_one_clear_error(tmp_path, content, match):
    src = tmp_path / "in.txt"
    if content is not None:
        src.write_bytes(content)
    with pytest.raises(InputError, match=match):
        prepare([str(src)], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no temp left


def test_bad_options_and_empty_folder(tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("a\nb\nc\n", encoding="utf-8")
    for settings, match in [({"seq_len": 0}, "seq_len"), ({"seq_len": 3}, "seq_len"),
                            ({"heldout_fraction": 1.0}, "heldout_fraction"),
                            ({"heldout_fraction": float("nan")}, "heldout_fraction"),
                            ({"max_chars": 2}, "max_chars"), ({"seed": -1}, "seed"),
                            ({"seed": 2**64}, "seed"), ({"workers": -1}, "workers"),
                            ({"colour": 1}, "unknown prepare setting")]:
        with pytest.raises(InputError, match=match):
            prepare([str(src)], tmp_path / "out", **settings)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no text files"):
        prepare([str(tmp_path / "empty")], tmp_path / "out")


def test_failed_prepare_leaves_the_old_corpus_intact(tmp_path, monkeypatch):
    src = tmp_path / "t.txt"
    src.write_text("\n".join(f"row {i}" for i in range(50)), encoding="utf-8")
    prepare([str(src)], tmp_path / "c", heldout_fraction=0.2)
    before = (tmp_path / "c" / "train.npy").read_bytes()
    src.write_text("\n".join(f"new {i}" for i in range(50)), encoding="utf-8")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("textwgan.preparation._encode_file", boom)  # fails while writing
    with pytest.raises(TextWGANError, match="No space left"):
        prepare([str(src)], tmp_path / "c", heldout_fraction=0.2)
    assert (tmp_path / "c" / "train.npy").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "t.txt"]


def test_prepare_replaces_only_its_own_corpus_folders(tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("\n".join(f"row {i}" for i in range(50)), encoding="utf-8")
    # A folder of someone's files that happens to hold a meta.json: refused, nothing touched.
    theirs = tmp_path / "theirs"
    (theirs / "data").mkdir(parents=True)
    (theirs / "meta.json").write_text('{"author": "me"}', encoding="utf-8")
    (theirs / "thesis.txt").write_text("years of work", encoding="utf-8")
    with pytest.raises(InputError, match="not a corpus folder made by textwgan"):
        prepare([str(src)], theirs)
    assert sorted(p.name for p in theirs.iterdir()) == ["data", "meta.json", "thesis.txt"]
    # Our corpus folder with a user's file in it: refused, the note kept.
    prepare([str(src)], tmp_path / "c", heldout_fraction=0.2)
    (tmp_path / "c" / "NOTES.md").write_text("my notes", encoding="utf-8")
    with pytest.raises(InputError, match=r"also holds other files \(NOTES.md\)"):
        prepare([str(src)], tmp_path / "c", heldout_fraction=0.3)
    assert (tmp_path / "c" / "NOTES.md").read_text(encoding="utf-8") == "my notes"
    # A plain file as --out.
    with pytest.raises(InputError, match="not a folder"):
        prepare([str(src)], src)
    # Our own corpus folder, nothing else in it: replaced.
    (tmp_path / "c" / "NOTES.md").unlink()
    assert len(prepare([str(src)], tmp_path / "c", heldout_fraction=0.5).heldout) > 12


def test_a_killed_prepare_leaves_nothing_behind_after_the_next(tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("\n".join(f"row {i}" for i in range(50)), encoding="utf-8")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    from textwgan.fileio import _HOST

    stale = tmp_path / f".c.{_HOST}.{dead}.abcd.tmp"  # what prepare killed by -9 leaves
    (stale / "sub").mkdir(parents=True)
    (stale / "train.u32").write_bytes(b"x" * 1000)
    live = tmp_path / f".c.{_HOST}.{os.getpid()}.efgh.tmp"  # a running prepare's: kept
    live.mkdir()
    prepare([str(src)], tmp_path / "c", heldout_fraction=0.2)
    assert not stale.exists() and live.exists()


def test_unk_rate_counted_when_charset_is_capped(tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("aaaa bbb cc d\n" * 20, encoding="utf-8")
    meta = meta_of([str(src)], tmp_path / "c", max_chars=4, heldout_fraction=0.5)
    c = Corpus(tmp_path / "c")
    assert c.charset.chars == ["a", " "]  # pad, unk + the two most frequent
    assert meta["counts"]["unk_rate"] == pytest.approx(6 / 13)
    assert (c.train[:, 13:] == PAD).all()


def test_output_that_cannot_be_written_is_one_clear_error(tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("a\nb\nc\n", encoding="utf-8")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(InputError, match="cannot write"):
        prepare([str(src)], blocker / "corpus", heldout_fraction=0.5)


def test_standard_input_pipes_and_fifos_are_read_once(tmp_path, monkeypatch):
    text = "\n".join(f"piped line {i}" for i in range(60)) + "\n"
    env = {**os.environ, "TEXTWGAN_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "textwgan", "prepare", "-", "--out", str(tmp_path / "p"),
           "--heldout-fraction", "0.2"]
    r = subprocess.run(cmd, input=text, capture_output=True, text=True, env=env, cwd=tmp_path,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    piped = Corpus(tmp_path / "p")
    assert len(piped.train) + len(piped.heldout) == 60
    cmd[4], cmd[6] = "/dev/stdin", str(tmp_path / "q")
    r = subprocess.run(cmd, input=text, capture_output=True, text=True, env=env, cwd=tmp_path,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert np.array_equal(Corpus(tmp_path / "q").train, piped.train)
    # A FIFO with a writer is read; one with none is refused after a short wait, not a hang.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"printf '%s' \"$0\" > {fifo}", text])
    assert np.array_equal(prepare([str(fifo)], tmp_path / "f", heldout_fraction=0.2).train,
                          piped.train)
    writer.wait(timeout=30)
    monkeypatch.setattr("textwgan.sources.FIFO_WAIT_S", 0.3)
    with pytest.raises(InputError, match="no program writes to this pipe"):
        prepare([str(fifo)], tmp_path / "g")
    assert not (tmp_path / "g").exists()


def test_batches_are_one_hot_rows_of_the_training_split(small_corpus):
    import torch

    from textwgan.data import DeviceData

    corpus = Corpus(small_corpus)
    data = DeviceData(corpus, torch.device("cpu"))
    batch = data.get_batch(8)  # (B, T, V)
    assert batch.shape == (8, corpus.seq_len, len(corpus.charset))
    assert torch.equal(batch.sum(-1), torch.ones(8, corpus.seq_len))
    train_rows = {tuple(r) for r in np.asarray(corpus.train).tolist()}
    assert all(tuple(r) in train_rows for r in batch.argmax(-1).tolist())


def test_parallel_prepare_writes_the_same_corpus(tmp_path):
    # Two worker processes and none give byte-identical folders; both equal a plain encoding
    # (normalize each line, Charset.encode_many) of the same lines.
    for workers in (1, 2):
        prepare([str(COCO_TRAIN)], tmp_path / f"w{workers}", workers=workers,
                heldout_fraction=0.25, seed=3)
    for name in ("train.npy", "heldout.npy", "validation.npy", "charset.json", "meta.json"):
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes()
    corpus = Corpus(tmp_path / "w2")
    from textwgan.text import make_normalizer

    norm = make_normalizer(False)
    lines = [norm.normalize_str(x).strip() for x in COCO_TRAIN.read_text().splitlines()]
    lines = [x for x in lines if x]
    held = np.random.default_rng(3).random(len(lines)) < 0.25
    expected = corpus.charset.encode_many(lines, corpus.seq_len)
    np.testing.assert_array_equal(np.asarray(corpus.train), expected[~held])
    assert sorted_rows(held_out(corpus)) == sorted_rows(expected[held])


def test_worker_pool_reads_a_bounded_window_ahead():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from textwgan.preparation import _bounded_map

    pulled = []

    def items():
        for i in range(100):
            pulled.append(i)
            yield i

    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = _bounded_map(pool, abs, items(), window=4)
        assert next(results) == 0
        assert len(pulled) == 4  # not the whole input
        assert list(results) == list(range(1, 100))


def test_prepare_imports_no_torch():
    code = ("import sys, textwgan.preparation, textwgan.corpus, textwgan.sources; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=120).returncode == 0

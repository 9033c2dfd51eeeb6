"""Bad and odd input: invalid UTF-8, endless lines, line ends, absurd options; and fuzzing of
charset building, encoding round trips and corpus preparation with arbitrary Unicode."""

from __future__ import annotations

import string
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import textwgan.sources as sources_mod
from textwgan.charset import PAD, Charset
from textwgan.corpus import Corpus
from textwgan.errors import InputError
from textwgan.preparation import prepare
from textwgan.text import make_normalizer


def test_invalid_utf8_is_replaced_counted_and_reported(tmp_path):
    src = tmp_path / "t.txt"
    src.write_bytes(b"caf\xe9 au lait\nok line\n\xff\xfe\xfd three bad\n")
    (tmp_path / "h.txt").write_text("held\n", encoding="utf-8")
    meta = prepare([str(src)], tmp_path / "c", heldout_file=str(tmp_path / "h.txt")).meta
    assert meta["counts"]["invalid_utf8_bytes"] == 4
    c = Corpus(tmp_path / "c")
    assert c.decode(c.train) == ["caf\ufffd au lait", "ok line", "\ufffd" * 3 + " three bad"]


def test_a_100_mb_line_without_newline_is_streamed(tmp_path, monkeypatch):
    src = tmp_path / "big.txt"
    chunk = ("lorem ipsum dolor " * 1000).encode()
    with open(src, "wb") as f:
        for _ in range(100 * 2 ** 20 // len(chunk) + 1):
            f.write(chunk)
    (tmp_path / "h.txt").write_text("held out\n", encoding="utf-8")
    longest = []
    real = sources_mod.file_lines

    def watched(path, keep, invalid=None):
        for line in real(path, keep, invalid):
            longest.append(len(line))
            yield line

    monkeypatch.setattr(sources_mod, "file_lines", watched)
    meta = prepare([str(src)], tmp_path / "c", heldout_file=str(tmp_path / "h.txt")).meta
    assert meta["counts"]["train"] == 1 and meta["counts"]["truncated"] == 1
    c = Corpus(tmp_path / "c")
    assert c.decode(c.train) == [("lorem ipsum dolor " * 2)[:32]]
    assert max(longest) <= 4 * 32 + 256  # the line was never held whole


def test_line_ends_split_across_read_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(sources_mod, "READ_BLOCK", 3)  # every \r\n may straddle two blocks
    src = tmp_path / "t.txt"
    src.write_bytes("\ufeffab\r\ncd\ref\n\r\ngh\rü€x\r".encode())
    assert list(sources_mod.file_lines(src, 100)) == ["ab", "cd", "ef", "", "gh", "ü€x"]


@pytest.mark.parametrize("settings,match", [
    ({"seq_len": 10 ** 9}, "seq_len must be an integer from 4 to 4,096"),
    ({"seq_len": -3}, "seq_len"),
    ({"heldout_fraction": -0.1}, "heldout_fraction"),
    ({"max_chars": 0}, "max_chars"),
])
def test_absurd_prepare_options(tmp_path, settings, match):
    src = tmp_path / "t.txt"
    src.write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(InputError, match=match):
        prepare([str(src)], tmp_path / "c", **settings)


# --- fuzzing --------------------------------------------------------------------------------

line_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
                    max_size=40)


@given(st.lists(line_text, max_size=20), st.integers(1, 40))
@settings(max_examples=150, deadline=None)
def test_encode_decode_round_trip_for_any_unicode(lines, seq_len):
    cs = Charset.from_counts(Counter("".join(lines)))
    enc = cs.encode_many(lines, seq_len)
    assert enc.shape == (len(lines), seq_len)
    for row, line in zip(enc, lines, strict=True):
        # Pad only after the text; a decoded row is the line cut to seq_len.
        n = len(line[:seq_len])
        assert (row[n:] == PAD).all() and (row[:n] != PAD).all()
        assert cs.decode(row) == line[:seq_len]


@given(st.dictionaries(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"),
                       st.integers(1, 1000), max_size=60), st.integers(3, 70))
@settings(max_examples=150, deadline=None)
def test_charset_keeps_the_most_frequent_within_the_cap(counts, cap):
    cs = Charset.from_counts(Counter(counts), cap)
    assert len(cs) == min(cap, len(counts) + 2)
    kept = set(cs.chars)
    dropped = set(counts) - kept
    if kept and dropped:
        assert min(counts[c] for c in kept) >= max(counts[c] for c in dropped)
    assert Charset.from_json(cs.to_json()) == cs


line_ends = st.sampled_from(["\n", "\r\n", "\r"])


@given(st.lists(st.tuples(st.text(alphabet=string.printable.replace("\n", "").replace("\r", "")
                                  + "éß中😀\u00a0\u3000ﬁ", max_size=50), line_ends),
                min_size=1, max_size=30),
       st.booleans(), st.integers(4, 12))
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_prepare_any_text_keeps_every_nonblank_line(tmp_path, pairs, lowercase, seq_len):
    raw = "".join(t + e for t, e in pairs)
    src = tmp_path / "fuzz.txt"
    src.write_bytes(raw.encode("utf-8"))
    norm = make_normalizer(lowercase)
    expected = [norm.normalize_str(t).strip() for t, _ in pairs]
    expected = [x[:seq_len] for x in expected if x]
    (tmp_path / "h.txt").write_text("held\n", encoding="utf-8")
    opts = dict(seq_len=seq_len, lowercase=lowercase, heldout_file=str(tmp_path / "h.txt"))
    if not expected:
        with pytest.raises(InputError):
            prepare([str(src)], tmp_path / "c", **opts)
        return
    prepare([str(src)], tmp_path / "c", **opts)
    c = Corpus(tmp_path / "c")
    assert c.decode(c.train) == expected  # every line, in order, normalized and cut


# --------------------------------------------------------------------------------------------
# One reader for every command's text input: eval and bench read samples as prepare reads
# sources (a FIFO's writer awaited, devices refused, standard input read once).


def _cli(*args, input=None):
    from typer.testing import CliRunner

    from textwgan.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def _one_error_line(r, *fragments):
    assert r.exit_code == 2, r.output
    errors = [x for x in r.output.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in r.output, r.output
    for fragment in fragments:
        assert fragment in errors[0], (fragment, r.output)


@pytest.mark.parametrize("command", ["eval", "bench"])
def test_a_fifo_without_a_writer_is_refused_in_time(tmp_path, monkeypatch, command):
    import os
    import time

    from conftest import BUNDLED

    monkeypatch.setattr(sources_mod, "FIFO_WAIT_S", 0.5)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    _one_error_line(_cli(command, fifo, "--corpus", BUNDLED), "no program writes to this pipe")
    assert time.monotonic() - t0 < 30


@pytest.mark.parametrize("command", ["eval", "bench"])
def test_a_device_is_refused_before_it_is_read(command):
    from conftest import BUNDLED

    _one_error_line(_cli(command, "/dev/zero", "--corpus", BUNDLED), "is a device")


def test_bench_reads_standard_input_once(tmp_path):
    from conftest import BUNDLED, COCO_TEST

    lines = COCO_TEST.read_text(encoding="utf-8").splitlines()[:50]
    r = _cli("bench", "-", "--corpus", BUNDLED, "--json", input="\n".join(lines) + "\n")
    assert r.exit_code == 0, r.output
    import json

    rows = json.loads(r.stdout[r.stdout.index("{"):])["rows"]
    assert rows[0]["n"] == 50


def test_utf16_text_is_named_with_the_way_to_convert_it(tmp_path):
    from conftest import BUNDLED

    path = tmp_path / "ps.txt"
    path.write_bytes("a man riding a horse\r\n".encode("utf-16"))
    _one_error_line(_cli("eval", path, "--corpus", BUNDLED), "UTF-16", "iconv")
    _one_error_line(_cli("prepare", path, "--out", tmp_path / "c"), "UTF-16", "iconv")
    path.write_bytes("no mark at all\n".encode("utf-16-le"))
    _one_error_line(_cli("prepare", path, "--out", tmp_path / "c"), "UTF-16")

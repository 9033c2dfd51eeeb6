"""Charset: round trips, pad and unk, frequency order, JSON."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from textwgan.charset import PAD, UNK, UNK_CHAR, Charset
from textwgan.errors import InputError

TEXT = ["Ça va? Grüße aus Köln 😀", "中文字符 and ascii", "e\u0301 combining", "ß∑∂ƒ©˙∆˚¬"]


def charset_of(lines):
    return Charset.from_counts(Counter("".join(lines)))


def test_round_trip_non_ascii():
    cs = charset_of(TEXT)
    for line in TEXT:
        ids = cs.encode(line, 40)
        assert ids.shape == (40,)
        assert cs.decode(ids) == line


def test_pad_fills_the_tail_and_long_lines_are_cut():
    cs = charset_of(["abc"])
    ids = cs.encode("ab", 5)
    assert list(ids[2:]) == [PAD] * 3 and PAD not in ids[:2]
    assert cs.decode(cs.encode("abcabcabc", 4)) == "abca"
    assert list(cs.encode("", 3)) == [PAD] * 3


def test_unknown_characters_become_unk_and_decode_visibly():
    cs = charset_of(["abc"])
    ids = cs.encode("aZb", 4)
    assert list(ids[:3]) == [cs.index["a"], UNK, cs.index["b"]]
    assert cs.decode(ids) == f"a{UNK_CHAR}b"


def test_decode_stops_at_the_first_pad():
    cs = charset_of(["abc"])
    ids = np.array([cs.index["a"], PAD, cs.index["b"]])
    assert cs.decode(ids) == "a"


def test_most_frequent_characters_kept_with_cap_and_deterministic_ties():
    counts = Counter({"a": 5, "b": 9, "c": 5, "d": 1, "e": 5})
    cs = Charset.from_counts(counts, max_size=5)  # pad, unk + 3 characters
    assert cs.chars == ["b", "a", "c"]  # a, c, e tie at 5: code-point order
    assert len(cs) == 5
    with pytest.raises(InputError):
        Charset.from_counts(counts, max_size=2)


def test_json_round_trip_and_bad_json():
    cs = charset_of(TEXT)
    again = Charset.from_json(cs.to_json())
    assert again == cs and again.index == cs.index
    with pytest.raises(InputError):
        Charset.from_json('{"format": "other"}')


def test_encode_many_matches_encode():
    cs = charset_of(TEXT)
    many = cs.encode_many(TEXT, 12)
    for row, line in zip(many, TEXT, strict=True):
        assert np.array_equal(row, cs.encode(line, 12))

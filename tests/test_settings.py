"""Each training setting is declared once (config.py) and shown the same everywhere: the
`train` options, their help's defaults, and the table in docs/api.md, checked against the
presets themselves."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
from typer.testing import CliRunner

from textwgan.cli import app, flag_names, setting_fields, train
from textwgan.config import PRESETS, SCHEDULE_FIELDS, ModelConfig, TrainConfig

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"
OFFERED = [f.name for f in setting_fields()]


def _value(preset: str, name: str):
    config = PRESETS[preset]
    return getattr(config.model if name in {f.name for f in fields(ModelConfig)}
                   else config.train, name)


def _cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _option_help(flag: str) -> str:
    """The help of one `train` option, its wrapped lines joined."""
    r = CliRunner().invoke(app, ["train", "--help"])
    assert r.exit_code == 0, r.output
    entries = re.split(r"\n  (?=-)", r.output)
    entry = next(e for e in entries if e.startswith(flag + " "))
    return " ".join(entry.split())


def test_every_user_setting_is_a_train_option():
    # Everything a user may set is offered; what is not (noise width, logging cadence,
    # evaluation size, the corpus's own seq_len) is a deliberate, short list.
    hidden = {f.name for cls in (ModelConfig, TrainConfig) for f in fields(cls)} - set(OFFERED)
    assert hidden == {"seq_len", "noise_dim", "log_every", "eval_samples"}
    flags = flag_names(train)
    assert flags["n_blocks"] == "--blocks" and flags["critic_lr"] == "--critic-lr"


@pytest.mark.parametrize("name", OFFERED)
def test_train_help_shows_each_presets_default(name):
    flag = flag_names(train)[name]
    line = _option_help(flag)
    default = line.split("Default:", 1)[1]
    for preset in PRESETS:
        value = _value(preset, name)
        if value is not None:
            assert _cell(value) in default, (preset, line)


def test_resume_help_lists_exactly_the_schedule_settings():
    line = _option_help("--resume").replace("- ", "-")  # a flag wrapped at its hyphen
    named = set(re.findall(r"--[a-z-]+", line.split("change:", 1)[1]))
    flags = flag_names(train)
    assert named == {flags[n] for n in SCHEDULE_FIELDS if n in OFFERED}


def test_the_api_docs_table_matches_the_presets():
    rows = [r.split("|")[1:-1] for r in DOCS.read_text().splitlines()
            if re.match(r"\| `[a-z_]+` \| `--", r)]
    table = {cells[0].strip(" `"): [c.strip() for c in cells] for cells in rows}
    assert list(table) == OFFERED
    presets = ["paper", "default", "small", "tiny"]
    assert presets == list(PRESETS)
    for name, cells in table.items():
        assert cells[1] == f"`{flag_names(train)[name]}`"
        assert cells[2:6] == [_cell(_value(p, name)) for p in presets], name


def test_a_setting_option_reaches_the_config(tmp_path):
    import json

    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["train", "--preset", "tiny", "--iters", "2", "--blocks", "2",
                                 "--betas", "0.4,0.8", "--time-limit", "1m", "--out", str(out)])
    assert r.exit_code == 0, r.output
    saved = json.loads((out / "config.json").read_text())["config"]
    assert saved["model"]["n_blocks"] == 2
    assert saved["train"]["betas"] == [0.4, 0.8] and saved["train"]["time_limit"] == 60.0

"""The documentation runs as written: docs/api.md's walk-through is executed block by block,
and the README's commands are run from a fresh copy of the repository."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import COCO_TRAIN, ROOT


def code_blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def test_api_walkthrough_runs(tmp_path, monkeypatch, capsys):
    lines = COCO_TRAIN.read_text(encoding="utf-8").splitlines()[:2000]
    (tmp_path / "corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    blocks = code_blocks(ROOT / "docs" / "api.md", "python")
    assert len(blocks) >= 8
    namespace: dict = {}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"docs/api.md block {i + 1}", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"docs/api.md block {i + 1} fails:\n{block}") from e
    printed = capsys.readouterr().out
    assert "JS-4" in printed and "textwgan-eval|" in printed
    assert "lr must be a positive finite number" in printed  # the error names the setting

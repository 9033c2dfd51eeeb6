"""The documentation runs as written: docs/api.md's walk-through is executed block by block,
and the README's commands are run from a fresh copy of the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import COCO_TRAIN, ROOT


def code_blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


@pytest.mark.slow
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


def shortened(script: str) -> str:
    """Training commands as written, with a few steps instead of minutes: options given again
    at the end of a line override earlier ones. Everything else runs unchanged."""
    out = []
    for line in script.replace("\\\n", " ").splitlines():
        stripped = line.split("#")[0].rstrip()
        if re.match(r"\s*textwgan train\b", stripped):
            extra = " --iters 3" if "--resume" in stripped else (
                " --preset tiny --iters 3 --eval-every 3")
            line = stripped + extra
        out.append(line)
    return "\n".join(out)


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    shared = ROOT.parent / "shared"
    if not (shared / "corpora").exists():
        import pytest

        pytest.skip("../shared/corpora is beside the repository in CI")
    clone = tmp_path / "clone"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        src, dst = ROOT / name, clone / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst, follow_symlinks=False)
    (tmp_path / "shared").symlink_to(shared)  # ../shared beside the clone, as in CI
    lines = COCO_TRAIN.read_text(encoding="utf-8").splitlines()[:1000]
    (clone / "corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")  # "your text"
    env = {**os.environ, "TEXTWGAN_CACHE": str(tmp_path / "cache"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    blocks = code_blocks(ROOT / "README.md", "bash")
    assert len(blocks) >= 4
    for i, block in enumerate(blocks):
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", shortened(block)], cwd=clone,
                           env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, (f"README bash block {i + 1} fails:\n{block}\n"
                                   f"{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
        assert "Traceback" not in r.stderr


def test_no_page_says_a_section_twice():
    """A section pasted twice drifts: one copy gets the new figures, the other keeps the old."""
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        headings = [h for h in re.findall(r"^#+ .+$", page.read_text(encoding="utf-8"), re.M)
                    if not h.startswith("# ")]  # shell comments in code blocks start "# "
        twice = sorted({h for h in headings if headings.count(h) > 1})
        assert not twice, f"{page.name}: {twice}"

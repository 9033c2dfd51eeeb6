"""A built wheel works on its own: it carries the bundled corpus and the shipped generator, and
installed into a fresh virtual environment (its dependencies taken from this interpreter's
packages) it samples and trains from an empty folder."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def run(cmd, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    assert r.returncode == 0, f"{cmd}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    # No build isolation: the build uses this environment's setuptools, so no network is needed.
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", dist, ROOT])
    (found,) = dist.glob("textwgan-*.whl")
    return found


def test_wheel_carries_the_corpus_and_the_generators(wheel):
    from textwgan.assets import shipped_models

    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("meta.json", "charset.json", "train.npy", "heldout.npy"):
        assert f"textwgan/assets/corpora/coco/{name}" in names
    assert "coco" in shipped_models()
    for model in shipped_models():
        for name in ("model.safetensors", "config.json", "README.md"):
            assert f"textwgan/assets/generators/{model}/{name}" in names
    assert wheel.stat().st_size < 30 * 2**20  # the ceiling for a wheel with its models
    assert "textwgan/assets/README.md" in names  # the captions' licence and attribution
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)


def test_installed_wheel_samples_and_trains_from_an_empty_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv])
    py = venv / "bin" / "python"
    run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel])
    # The dependencies (torch, numpy, typer, ...) come from this interpreter's packages.
    purelib = Path(run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
                       ).stdout.strip())
    (purelib / "_host_packages.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["TEXTWGAN_CACHE"] = str(tmp_path / "cache")
    where = run([py, "-c", "import textwgan.assets as c; print(c.__file__); "
                           "print(c.bundled_corpus_path())"], cwd=empty, env=env).stdout
    assert str(venv) in where and str(ROOT) not in where  # the wheel's copy, not the source
    textwgan = venv / "bin" / "textwgan"
    r = run([textwgan, "sample", "-n", "3"], cwd=empty, env=env)
    assert len(r.stdout.splitlines()) == 3 and "shipped with textwgan" in r.stderr
    r = run([textwgan, "train", "--iters", "2", "--preset", "tiny", "--device", "cpu"],
            cwd=empty, env=env)
    runs = list((empty / "checkpoints").glob("coco-tiny-*/checkpoint.pt"))
    assert len(runs) == 1, r.stderr
    # Evaluating needs no path copied by hand: the bundled corpus by name, a run's own corpus,
    # and the user's text file (prepared through the cache with a held-out split).
    run_dir = runs[0].parent
    (empty / "samples.txt").write_text("a man riding a horse\na cat on a mat\n" * 4)
    (empty / "mine.txt").write_text("".join(f"line number {i} of my own text\n"
                                            for i in range(400)))
    for args in (["eval", "samples.txt", "--corpus", "coco", "--n", "8"],
                 ["eval", "samples.txt", "--corpus", "corpora/coco", "--n", "8"],
                 ["eval", run_dir, "--n", "8"],
                 ["bench", run_dir, "samples.txt", "--n", "8"],
                 ["baseline", "coco", "-n", "2", "--order", "2"],
                 ["eval", "samples.txt", "--corpus", "mine.txt", "--n", "8"]):
        r = run([textwgan, *args], cwd=empty, env=env)
        assert "error" not in r.stderr, (args, r.stderr)
